//! Results: one outcome per trial (with its seed and figures), a table per
//! kind on stdout, and the same as JSON lines with `--json`.

use serde::Serialize;

/// What a trial measured. Times in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Figures {
    /// From the end of the fault (restart, space freed, permissions back,
    /// PostgreSQL started) until every node's `/ready` answered 200.
    pub ready_ms: Option<u64>,
    /// From the end of the load until no sub-job was WAITING or RUNNING.
    pub settle_ms: Option<u64>,
    /// pg-kill-one: from the SIGKILL until every sub-job had ended.
    pub takeover_ms: Option<u64>,
    /// pg-kill-one: from the SIGKILL until no sub-job was RUNNING under the dead node's lease.
    pub release_ms: Option<u64>,
    /// How long the fault was held.
    pub fault_ms: Option<u64>,
    /// dir-denied (and read-only when it refuses to start): how long the start
    /// on the denied storage took to exit.
    pub refused_start_ms: Option<u64>,
    /// `/ready` answers 503 during the fault.
    pub ready_503: u64,
    /// Requests answered 503 naming a storage fault.
    pub storage_503: u64,
    /// Jobs acknowledged with 200/202 and a job id.
    pub acked: u64,
    /// Stored jobs (besides logoffs) whose request got no 200/202.
    pub unacked: u64,
    /// Requests answered.
    pub requests: u64,
    /// Of them, 400/404/409 refusals.
    pub refused: u64,
    /// Requests not answered because their node was down.
    pub down: u64,
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Failed,
    Skipped,
}

/// One trial.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: &'static str,
    pub trial: u32,
    pub seed: u64,
    pub verdict: Verdict,
    /// Why it failed (or was skipped).
    pub failures: Vec<String>,
    /// What happened that is worth knowing but not a failure.
    pub notes: Vec<String>,
    pub figures: Figures,
    /// Where its logs (and data) were kept, if they were.
    pub kept: Option<String>,
    pub secs: f64,
}

/// Min / median / max of the values a figure took over the trials that have it.
fn spread(values: &mut [u64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values.sort_unstable();
    let (lo, mid, hi) = (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    );
    format!("{lo}/{mid}/{hi}")
}

/// Per-kind totals.
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    pub kind: &'static str,
    pub trials: usize,
    pub clean: usize,
    pub failed: usize,
    pub skipped: usize,
    /// min/median/max over the trials, ms.
    pub ready_ms: String,
    pub settle_ms: String,
    pub takeover_ms: String,
    pub release_ms: String,
    pub refused_start_ms: String,
    pub ready_503: u64,
    pub storage_503: u64,
    pub acked: u64,
    pub unacked: u64,
    pub requests: u64,
    /// Why its trials were skipped, if they were.
    pub skip_reason: Option<String>,
}

/// Sums up the outcomes of each kind, in the order the kinds first appear.
pub fn summarize(outcomes: &[Outcome]) -> Vec<KindSummary> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for o in outcomes {
        if !kinds.contains(&o.kind) {
            kinds.push(o.kind);
        }
    }
    kinds
        .into_iter()
        .map(|kind| {
            let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
            let count = |v: Verdict| of.iter().filter(|o| o.verdict == v).count();
            let pick = |f: fn(&Figures) -> Option<u64>| {
                let mut v: Vec<u64> = of.iter().filter_map(|o| f(&o.figures)).collect();
                spread(&mut v)
            };
            let sum = |f: fn(&Figures) -> u64| of.iter().map(|o| f(&o.figures)).sum();
            KindSummary {
                kind,
                trials: of.len(),
                clean: count(Verdict::Clean),
                failed: count(Verdict::Failed),
                skipped: count(Verdict::Skipped),
                ready_ms: pick(|f| f.ready_ms),
                settle_ms: pick(|f| f.settle_ms),
                takeover_ms: pick(|f| f.takeover_ms),
                release_ms: pick(|f| f.release_ms),
                refused_start_ms: pick(|f| f.refused_start_ms),
                ready_503: sum(|f| f.ready_503),
                storage_503: sum(|f| f.storage_503),
                acked: sum(|f| f.acked),
                unacked: sum(|f| f.unacked),
                requests: sum(|f| f.requests),
                skip_reason: of
                    .iter()
                    .find(|o| o.verdict == Verdict::Skipped)
                    .and_then(|o| o.failures.first().cloned()),
            }
        })
        .collect()
}

/// The table, in Markdown so it can be pasted into docs/reliability.md as is.
pub fn print_table(summaries: &[KindSummary]) {
    println!(
        "| kind | trials | clean | failed | skipped | ready again ms | settle ms | takeover ms | lease released ms | refused start ms | /ready 503s | storage 503s | acked jobs | unacked jobs | requests |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for s in summaries {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.kind,
            s.trials,
            s.clean,
            s.failed,
            s.skipped,
            s.ready_ms,
            s.settle_ms,
            s.takeover_ms,
            s.release_ms,
            s.refused_start_ms,
            s.ready_503,
            s.storage_503,
            s.acked,
            s.unacked,
            s.requests
        );
    }
    println!();
    println!("Times are min/median/max (ms) over the trials that have them.");
    for s in summaries {
        if let Some(why) = &s.skip_reason {
            println!("SKIPPED {}: {} trials, {why}", s.kind, s.skipped);
        }
    }
}

/// One JSON line per trial, then one per kind.
pub fn print_json(outcomes: &[Outcome], summaries: &[KindSummary]) {
    for o in outcomes {
        let mut v = serde_json::to_value(o).unwrap_or_default();
        v["type"] = "trial".into();
        println!("{v}");
    }
    for s in summaries {
        let mut v = serde_json::to_value(s).unwrap_or_default();
        v["type"] = "kind".into();
        println!("{v}");
    }
}
