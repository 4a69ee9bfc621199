//! `deskplane bench`: the speed targets of issues 2 and 3, measured over HTTP.
//!
//! By default it spawns its own server (this executable, `serve`) on a free loopback port
//! with a throw-away SQLite database, fixed credentials, simulator durations 0 and raised
//! request limits, so the numbers are the control plane's own; `--url` with `--ak/--sk/--project`
//! measures an existing loopback server instead. Every request is signed as the SDK signs
//! (the signature check is part of what is measured). Scenarios:
//!
//! - `accept`: latency of accepting create requests and batch actions of 100 and 1,000 desktops;
//! - `engine`: desktop operations per second of the job engine, submit to last job done;
//! - `cycle`: N desktops (default 100,000) created, then stopped, started, rebooted and rebuilt;
//! - `get`: `GET /desktops/{id}` requests per second from many concurrent tasks.
//!
//! Every wait is bounded (`--timeout-secs`), every scenario bounded in count and time.

mod api;
mod report;
mod scenarios;
mod server;

use crate::client::Client;
use anyhow::{Context, bail};
use report::Row;
use server::Spawned;
use std::time::Duration;

/// Which measurements to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Acceptance latency of create and batch-action requests.
    Accept,
    /// Job engine throughput.
    Engine,
    /// Create, then stop → start → reboot → rebuild every desktop.
    Cycle,
    /// `GET /desktops/{id}` throughput.
    Get,
    /// All of the above, in that order.
    All,
}

/// Benchmark options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: Scenario,
    /// Measure this running server (loopback only) instead of spawning one.
    #[arg(long, requires_all = ["ak", "sk", "project"])]
    pub url: Option<String>,
    /// Access key for `--url`.
    #[arg(long)]
    pub ak: Option<String>,
    /// Secret key for `--url`.
    #[arg(long)]
    pub sk: Option<String>,
    /// Project id for `--url`.
    #[arg(long)]
    pub project: Option<String>,
    /// Desktops of the `cycle` scenario.
    #[arg(long, default_value_t = 100_000)]
    pub desktops: usize,
    /// Desktops of the `engine` scenario.
    #[arg(long, default_value_t = 20_000)]
    pub engine_desktops: usize,
    /// Desktops per request in the `engine` and `cycle` scenarios.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Timed requests per `accept` case.
    #[arg(long, default_value_t = 30)]
    pub reps: usize,
    /// Concurrent requests of the `get` scenario.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds the `get` scenario runs (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    pub get_secs: u64,
    /// Give up on any one wait (a phase, a job) after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
    /// Extra `KEY=VALUE` environment for the spawned server (repeatable), e.g.
    /// `--server-env DESKPLANE_JOBS__CLAIM_BATCH=1024`; it overrides the bench's defaults.
    #[arg(long = "server-env", value_parser = parse_env_pair)]
    pub server_env: Vec<(String, String)>,
    /// Keep the spawned server's data directory (its path is printed).
    #[arg(long)]
    pub keep: bool,
    /// Let the spawned server log at `info` to stderr (default: `warn`).
    #[arg(long)]
    pub verbose: bool,
    /// Also print the results as JSON lines after the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if k.starts_with("DESKPLANE_") => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected DESKPLANE_KEY=VALUE, not {s:?}")),
    }
}

/// What the scenarios need: a signing client, the wait bound, and the spawned server if any.
struct Target {
    client: Client,
    spawned: Option<Spawned>,
    timeout: Duration,
}

impl Target {
    /// The server's peak resident memory so far, when this bench spawned it.
    fn peak_rss(&self) -> Option<u64> {
        self.spawned.as_ref().and_then(Spawned::peak_rss_kib)
    }

    /// The server's CPU seconds so far, when this bench spawned it.
    fn cpu_secs(&self) -> Option<f64> {
        self.spawned.as_ref().and_then(Spawned::cpu_secs)
    }
}

/// Run the benchmarks and print the table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let mut target = match &args.url {
        Some(url) => {
            check_loopback(url)?;
            let (Some(ak), Some(sk), Some(project)) = (&args.ak, &args.sk, &args.project) else {
                bail!("--url needs --ak, --sk and --project");
            };
            Target {
                client: client(url, ak, sk, project, args.concurrency)?,
                spawned: None,
                timeout,
            }
        }
        None => {
            let spawned = Spawned::start(&args).await?;
            eprintln!(
                "bench: spawned server pid {} at {} (data in {})",
                spawned.pid(),
                spawned.url(),
                spawned.data_dir().display()
            );
            Target {
                client: client(
                    spawned.url(),
                    server::ACCESS_KEY,
                    server::SECRET_KEY,
                    server::PROJECT_ID,
                    args.concurrency,
                )?,
                spawned: Some(spawned),
                timeout,
            }
        }
    };
    let outcome = run_scenarios(&args, &mut target).await;
    let mut rows = match outcome {
        Ok(rows) => rows,
        Err(e) => {
            if let Some(s) = target.spawned.take() {
                s.stop(args.keep).await;
            }
            return Err(e);
        }
    };
    if let Some(s) = target.spawned.take() {
        let peak = s.peak_rss_kib();
        rows.push(Row::memory(peak));
        s.stop(args.keep).await;
    }
    report::print_table(&rows);
    if args.json {
        report::print_json(&rows);
    }
    Ok(())
}

async fn run_scenarios(args: &Args, target: &mut Target) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let wants = |s: Scenario| args.scenario == s || args.scenario == Scenario::All;
    let mut ids: Vec<String> = Vec::new();
    if wants(Scenario::Accept) {
        eprintln!("bench: accept …");
        ids = scenarios::accept(target, args, &mut rows).await?;
    }
    if wants(Scenario::Engine) {
        eprintln!("bench: engine ({} desktops) …", args.engine_desktops);
        scenarios::engine(target, args, &mut rows).await?;
    }
    if wants(Scenario::Cycle) {
        eprintln!("bench: cycle ({} desktops) …", args.desktops);
        scenarios::cycle(target, args, &mut rows).await?;
    }
    if wants(Scenario::Get) {
        eprintln!(
            "bench: get ({} tasks, {} s) …",
            args.concurrency, args.get_secs
        );
        scenarios::get(target, args, &ids, &mut rows).await?;
    }
    Ok(rows)
}

fn client(
    url: &str,
    ak: &str,
    sk: &str,
    project: &str,
    concurrency: usize,
) -> anyhow::Result<Client> {
    Ok(Client::new(url, ak, sk, project)?
        .with_pool_size(concurrency.max(8))?
        .with_timeout(Duration::from_secs(120)))
}

/// The bench floods its target: refuse anything but a loopback address.
fn check_loopback(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("--url {url}"))?;
    let host = parsed.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--url must be a loopback address (127.0.0.1, ::1, localhost), not {url}");
    }
    Ok(())
}
