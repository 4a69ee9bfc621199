//! Results: one row per measurement, its target, and the table they print as.

use serde::Serialize;
use std::time::Duration;

/// What a row is held to (the figures of issues 2 and 3).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Median latency under this many milliseconds.
    MedianBelowMs(f64),
    /// At least this many operations or requests per second.
    RateAtLeast(f64),
    /// Server peak resident memory under this many MiB.
    RssBelowMib(f64),
    /// One rate at least this many times another.
    RatioAtLeast(f64),
}

impl Goal {
    fn describe(self) -> String {
        match self {
            Goal::MedianBelowMs(ms) => format!("median < {ms} ms"),
            Goal::RateAtLeast(r) => format!(">= {r} /s"),
            Goal::RssBelowMib(m) => format!("RSS < {m} MiB"),
            Goal::RatioAtLeast(x) => format!(">= {x}x"),
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// What was measured, with its size.
    pub parameter: String,
    /// Median latency (ms).
    pub median_ms: Option<f64>,
    /// 95th percentile latency (ms).
    pub p95_ms: Option<f64>,
    /// Operations or requests per second.
    pub rate: Option<f64>,
    /// Server peak RSS (KiB) when the row was taken, if the bench spawned the server.
    pub peak_rss_kib: Option<u64>,
    /// Server CPU time per operation or request (µs), if the bench spawned the server: a
    /// figure that, unlike the rate, does not depend on what else the machine is running.
    pub cpu_us_per_op: Option<f64>,
    /// The target, if the issues set one.
    pub target: Option<Goal>,
    /// Whether it was met.
    pub met: Option<bool>,
    /// Anything that qualifies the figure (refusals, failures).
    pub note: String,
}

impl Row {
    /// Latency figures of `samples`.
    pub fn latency(
        scenario: &'static str,
        parameter: String,
        samples: &[Duration],
        target_ms: f64,
        rss: Option<u64>,
    ) -> Self {
        let median = percentile_ms(samples, 50.0);
        Self {
            scenario,
            parameter,
            median_ms: median,
            p95_ms: percentile_ms(samples, 95.0),
            rate: None,
            peak_rss_kib: rss,
            cpu_us_per_op: None,
            target: Some(Goal::MedianBelowMs(target_ms)),
            met: median.map(|m| m < target_ms),
            note: format!("{} requests", samples.len()),
        }
    }

    /// `ops` done in `elapsed`, held to at least `target` per second.
    pub fn rate(
        scenario: &'static str,
        parameter: String,
        ops: usize,
        elapsed: Duration,
        target: Option<f64>,
        rss: Option<u64>,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        let rate = (secs > 0.0).then(|| ops as f64 / secs);
        Self {
            scenario,
            parameter,
            median_ms: None,
            p95_ms: None,
            rate,
            peak_rss_kib: rss,
            cpu_us_per_op: None,
            target: target.map(Goal::RateAtLeast),
            met: target.and_then(|t| rate.map(|r| r >= t)),
            note: format!("{ops} in {secs:.2} s"),
        }
    }

    /// The server's peak memory over the whole run, held to issue 13's 100 MiB (with
    /// 100,000 desktops: `--scenario cycle`).
    pub fn memory(peak_kib: Option<u64>) -> Self {
        let limit = 100.0;
        Self {
            scenario: "memory",
            parameter: "server peak RSS (VmHWM), whole run".into(),
            median_ms: None,
            p95_ms: None,
            rate: None,
            peak_rss_kib: peak_kib,
            cpu_us_per_op: None,
            target: Some(Goal::RssBelowMib(limit)),
            met: peak_kib.map(|k| kib_to_mib(k) < limit),
            note: String::new(),
        }
    }

    /// `rate` over `base` (both per second), held to at least `target` times.
    pub fn ratio(
        scenario: &'static str,
        parameter: String,
        rate: f64,
        base: f64,
        target: f64,
    ) -> Self {
        let ratio = (base > 0.0).then(|| rate / base);
        Self {
            scenario,
            parameter,
            median_ms: None,
            p95_ms: None,
            rate: None,
            peak_rss_kib: None,
            cpu_us_per_op: None,
            target: Some(Goal::RatioAtLeast(target)),
            met: ratio.map(|r| r >= target),
            note: ratio.map_or_else(String::new, |r| {
                format!("{r:.2}x ({rate:.0} vs {base:.0} ops/s)")
            }),
        }
    }

    /// Records the server CPU seconds `cpu` spent on `ops` operations.
    #[must_use]
    pub fn with_cpu(mut self, cpu: Option<f64>, ops: usize) -> Self {
        self.cpu_us_per_op = cpu.filter(|_| ops > 0).map(|c| c * 1e6 / ops as f64);
        self
    }

    /// Appends to the note.
    #[must_use]
    pub fn noting(mut self, extra: &str) -> Self {
        if !extra.is_empty() {
            if !self.note.is_empty() {
                self.note.push_str("; ");
            }
            self.note.push_str(extra);
        }
        self
    }
}
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Nearest-rank percentile of `samples`, in milliseconds.
pub fn percentile_ms(samples: &[Duration], pct: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    // The nearest-rank percentile: a rank in 1..=len (the cast cannot wrap).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    let at = sorted[rank.min(sorted.len()) - 1];
    Some(at.as_secs_f64() * 1000.0)
}

/// Print the rows as an aligned text table.
pub fn print_table(rows: &[Row]) {
    let header = [
        "scenario",
        "parameter",
        "median",
        "p95",
        "rate /s",
        "server RSS",
        "CPU/op",
        "target",
        "met",
        "note",
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.scenario.to_owned(),
                r.parameter.clone(),
                r.median_ms.map_or_else(dash, |m| format!("{m:.2} ms")),
                r.p95_ms.map_or_else(dash, |m| format!("{m:.2} ms")),
                r.rate.map_or_else(dash, |v| format!("{v:.0}")),
                r.peak_rss_kib
                    .map_or_else(dash, |k| format!("{:.0} MiB", kib_to_mib(k))),
                r.cpu_us_per_op.map_or_else(dash, |c| format!("{c:.0} µs")),
                r.target.map_or_else(dash, Goal::describe),
                r.met
                    .map_or_else(dash, |m| if m { "yes" } else { "NO" }.to_owned()),
                r.note.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let text: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(&header.map(str::to_owned));
    line(&widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(row);
    }
}

/// Print the rows as JSON lines.
pub fn print_json(rows: &[Row]) {
    for r in rows {
        match serde_json::to_string(r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("bench: cannot encode a row: {e}"),
        }
    }
}

fn dash() -> String {
    "-".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = ms(&[5, 1, 4, 2, 3]);
        assert_eq!(percentile_ms(&s, 50.0), Some(3.0));
        assert_eq!(percentile_ms(&s, 95.0), Some(5.0));
        assert_eq!(percentile_ms(&ms(&[7]), 50.0), Some(7.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_ms(&ms(&hundred), 95.0), Some(95.0));
    }

    #[test]
    fn targets_are_judged() {
        let fast = Row::latency("accept", "x".into(), &ms(&[1, 2, 30]), 10.0, None);
        assert_eq!(fast.met, Some(true));
        let slow = Row::latency("accept", "x".into(), &ms(&[11, 12, 1]), 10.0, None);
        assert_eq!(slow.met, Some(false));
        let rate = Row::rate(
            "e",
            "x".into(),
            10_000,
            Duration::from_secs(2),
            Some(5000.0),
            None,
        );
        assert_eq!(rate.rate, Some(5000.0));
        assert_eq!(rate.met, Some(true));
        assert_eq!(Row::memory(Some(400 * 1024)).met, Some(false));
        assert_eq!(Row::memory(Some(90 * 1024)).met, Some(true));
        assert_eq!(Row::memory(None).met, None);
    }
}
