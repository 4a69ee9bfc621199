//! `deskplane campaign`: the fault campaign of issue 12 (docs/reliability.md).
//!
//! Each trial starts `deskplane serve` processes (this executable) on a
//! throw-away database, creates desktops, runs mixed bursts against them,
//! injects one fault at a random moment (SIGKILL of a node, PostgreSQL
//! restarted, the database's filesystem full or read-only, its directory
//! denied), ends it, lets everything settle within a bound and checks the
//! invariants on the database itself. Every trial has its own seed, printed
//! with the command that replays it; all of its randomness comes from it.

mod checks;
mod faults;
mod kinds;
mod kinds_storage;
mod load;
mod node;
mod report;
mod trial;

use anyhow::bail;
use report::{Outcome, Verdict};
use std::path::PathBuf;
use std::time::Instant;

/// Project of the spawned servers' bootstrap credential.
pub const PROJECT_ID: &str = "ca3a1c9e0000000000000000000fa017";
/// Its access key.
pub const ACCESS_KEY: &str = "CAMPAIGNAKDESKPLANE1";
/// Its secret key (only ever on a throw-away database).
pub const SECRET_KEY: &str = "CampaignSecretKeyForAThrowAwayDatabase01";
/// Shared by the PostgreSQL nodes of a trial (base64 of 32 bytes).
pub const SERVER_KEY: &str = "Q2FtcGFpZ25TZXJ2ZXJLZXlGb3JUaHJvd0F3YXlEQjE=";
/// Catalog entries the load uses.
pub const PRODUCT: &str = "workspace.x86.general.xlarge2";
pub const WINDOWS_IMAGE: &str = "63aa8670-27ad-4747-8c44-6d8919e785a7";
pub const LINUX_IMAGE: &str = "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11";

/// The faults.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every kind below, in this order.
    All,
    /// One SQLite node (default node id) SIGKILLed mid-burst, restarted on the same data.
    SqliteKill,
    /// The same with a fixed DESKPLANE_NODE_ID.
    SqliteKillFixedId,
    /// Two PostgreSQL nodes, one SIGKILLed: the survivor takes over within the lease.
    PgKillOne,
    /// Two PostgreSQL nodes, both SIGKILLed and restarted with their ids.
    PgKillBoth,
    /// A private PostgreSQL cluster stopped (fast or immediate) for 2-10 s under a batch.
    PgRestart,
    /// The SQLite database's tmpfs filled to the last byte for 1-4 s.
    DiskFull,
    /// The SQLite database's tmpfs remounted read-only.
    ReadOnly,
    /// The unprivileged server's directory and files denied write; a restart must refuse clearly.
    DirDenied,
}

impl Kind {
    const EVERY: [Kind; 8] = [
        Kind::SqliteKill,
        Kind::SqliteKillFixedId,
        Kind::PgKillOne,
        Kind::PgKillBoth,
        Kind::PgRestart,
        Kind::DiskFull,
        Kind::ReadOnly,
        Kind::DirDenied,
    ];

    /// Its command-line spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::All => "all",
            Kind::SqliteKill => "sqlite-kill",
            Kind::SqliteKillFixedId => "sqlite-kill-fixed-id",
            Kind::PgKillOne => "pg-kill-one",
            Kind::PgKillBoth => "pg-kill-both",
            Kind::PgRestart => "pg-restart",
            Kind::DiskFull => "disk-full",
            Kind::ReadOnly => "read-only",
            Kind::DirDenied => "dir-denied",
        }
    }
}

/// Campaign options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kinds of fault, comma-separated, or `all`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub kinds: Vec<Kind>,
    /// Trials per kind.
    #[arg(long, default_value_t = 1)]
    pub trials: u32,
    /// Seed of the first trial of each kind (random when absent; always printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Desktops created before the load starts.
    #[arg(long, default_value_t = 1000)]
    pub desktops: usize,
    /// Concurrent load tasks.
    #[arg(long, default_value_t = 3)]
    pub tasks: usize,
    /// PostgreSQL server for the pg-kill kinds (a fresh database per trial, dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
    /// Longest wait for every sub-job to end after the load (seconds).
    #[arg(long, default_value_t = 60)]
    pub settle_secs: u64,
    /// Where trial directories go (default: a fresh one under the temp dir, removed
    /// when no trial is kept); nobody must be able to reach it for dir-denied.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Keep every trial's directory (a failed trial's is always kept).
    #[arg(long)]
    pub keep: bool,
    /// Also print the results as JSON lines after the table.
    #[arg(long)]
    pub json: bool,
}

/// Whole milliseconds of `d` (a figure of the report).
#[must_use]
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The seed after `seed` (SplitMix64): trial n + 1's seed is derived from trial n's,
/// so `--seed <trial n's> --trials 1` replays trial n alone.
#[must_use]
pub fn next_seed(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seeds of `trials` trials from `first` on.
#[must_use]
pub fn trial_seeds(first: u64, trials: u32) -> Vec<u64> {
    std::iter::successors(Some(first), |s| Some(next_seed(*s)))
        .take(trials as usize)
        .collect()
}

/// Run the campaign and print the report; an error when any trial failed.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let kinds = selected(&args.kinds);
    let first = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    });
    let work = trial::work_dir(args.work_dir.as_deref())?;
    eprintln!(
        "campaign: kinds {}, {} trials each, seed {first}, work dir {}",
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
        args.trials,
        work.display()
    );
    let env = trial::Environment::probe(&args, &work).await;
    let mut outcomes = Vec::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    'kinds: for kind in kinds {
        for (n, seed) in (0..).zip(trial_seeds(first, args.trials)) {
            let outcome = if let Some(why) = env.missing(kind) {
                skipped(kind, n, seed, why)
            } else {
                // Interrupted: dropping the trial kills its servers, stops its
                // PostgreSQL cluster and unmounts its filesystem.
                tokio::select! {
                    o = run_one(&args, &env, &work, kind, n, seed) => o,
                    _ = tokio::signal::ctrl_c() => break 'kinds,
                    _ = term.recv() => break 'kinds,
                }
            };
            print_outcome(&outcome);
            outcomes.push(outcome);
        }
    }
    let planned = selected(&args.kinds).len() * args.trials as usize;
    if outcomes.len() < planned {
        eprintln!(
            "campaign: interrupted after {} of {planned} trials",
            outcomes.len()
        );
    }
    // The executable copied for nobody is ours; a directory given with
    // --work-dir is not (only the trials' directories in it are).
    let _ = std::fs::remove_dir_all(work.join("bin"));
    if args.work_dir.is_none() && outcomes.iter().all(|o| o.kept.is_none()) {
        let _ = std::fs::remove_dir_all(&work);
    }
    let summaries = report::summarize(&outcomes);
    report::print_table(&summaries);
    if args.json {
        report::print_json(&outcomes, &summaries);
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Failed)
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Skipped)
        .count();
    if skipped > 0 {
        eprintln!("campaign: SKIPPED {skipped} trials (see the SKIP lines above)");
    }
    if failed > 0 {
        bail!("{failed} of {} trials failed", outcomes.len());
    }
    if outcomes.len() < planned {
        bail!("interrupted");
    }
    Ok(())
}

fn selected(asked: &[Kind]) -> Vec<Kind> {
    if asked.is_empty() || asked.contains(&Kind::All) {
        return Kind::EVERY.to_vec();
    }
    Kind::EVERY
        .into_iter()
        .filter(|k| asked.contains(k))
        .collect()
}

async fn run_one(
    args: &Args,
    env: &trial::Environment,
    work: &std::path::Path,
    kind: Kind,
    n: u32,
    seed: u64,
) -> Outcome {
    eprintln!(
        "campaign: {} trial {} seed {seed} (replay: deskplane campaign --kinds {} --trials 1 --seed {seed})",
        kind.name(),
        n + 1,
        kind.name()
    );
    let began = Instant::now();
    let mut t = match trial::Trial::new(args, env, work, kind, n, seed) {
        Ok(t) => t,
        Err(e) => return failed(kind, n, seed, format!("setting up: {e:#}")),
    };
    let script = match kind {
        Kind::SqliteKill => kinds::sqlite_kill(&mut t, false).await,
        Kind::SqliteKillFixedId => kinds::sqlite_kill(&mut t, true).await,
        Kind::PgKillOne => kinds::pg_kill_one(&mut t).await,
        Kind::PgKillBoth => kinds::pg_kill_both(&mut t).await,
        Kind::PgRestart => kinds_storage::pg_restart(&mut t).await,
        Kind::DiskFull => kinds_storage::disk_full(&mut t).await,
        Kind::ReadOnly => kinds_storage::read_only(&mut t).await,
        Kind::DirDenied => kinds_storage::dir_denied(&mut t).await,
        Kind::All => Ok(()),
    };
    if let Err(e) = script {
        t.fail(format!("{e:#}"));
    }
    t.finish(began.elapsed())
}

fn skipped(kind: Kind, n: u32, seed: u64, why: &str) -> Outcome {
    if n == 0 {
        eprintln!("campaign: *** SKIP {}: {why} ***", kind.name());
    }
    Outcome {
        kind: kind.name(),
        trial: n + 1,
        seed,
        verdict: Verdict::Skipped,
        failures: vec![why.to_owned()],
        notes: Vec::new(),
        figures: report::Figures::default(),
        kept: None,
        secs: 0.0,
    }
}

fn failed(kind: Kind, n: u32, seed: u64, why: String) -> Outcome {
    Outcome {
        kind: kind.name(),
        trial: n + 1,
        seed,
        verdict: Verdict::Failed,
        failures: vec![why],
        notes: Vec::new(),
        figures: report::Figures::default(),
        kept: None,
        secs: 0.0,
    }
}

fn print_outcome(o: &Outcome) {
    if o.verdict == Verdict::Skipped {
        return;
    }
    let f = &o.figures;
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
    eprintln!(
        "campaign: {} trial {}: {} in {:.1} s (ready again {}, settled {}, {} acked, {} storage 503s, {} requests)",
        o.kind,
        o.trial,
        if o.verdict == Verdict::Clean {
            "clean"
        } else {
            "FAILED"
        },
        o.secs,
        ms(f.ready_ms),
        ms(f.settle_ms),
        f.acked,
        f.storage_503,
        f.requests
    );
    for n in &o.notes {
        eprintln!("    note: {n}");
    }
    for why in &o.failures {
        eprintln!("    FAILURE: {why}");
    }
    if o.verdict == Verdict::Failed {
        eprintln!(
            "    replay: deskplane campaign --kinds {} --trials 1 --seed {}",
            o.kind, o.seed
        );
    }
    if let Some(dir) = &o.kept {
        eprintln!("    kept: {dir}");
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, next_seed, selected, trial_seeds};

    #[test]
    fn trial_seeds_chain_so_one_trial_replays_alone() {
        let mut seen = std::collections::HashSet::new();
        let mut s = 42;
        for _ in 0..10_000 {
            assert!(seen.insert(s), "seed {s} repeats");
            s = next_seed(s);
        }
        // `--seed <trial 2's> --trials 2` runs trials 2 and 3 of `--seed 42 --trials 3`.
        let three = trial_seeds(42, 3);
        assert_eq!(three[0], 42);
        assert_eq!(trial_seeds(three[1], 2), three[1..]);
    }

    #[test]
    fn all_means_every_kind_in_order() {
        assert_eq!(selected(&[Kind::All]), Kind::EVERY);
        assert_eq!(
            selected(&[Kind::DiskFull, Kind::SqliteKill]),
            [Kind::SqliteKill, Kind::DiskFull]
        );
    }
}
