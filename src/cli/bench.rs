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
//! - `get`: `GET /desktops/{id}` requests per second from many concurrent tasks;
//! - `nodes`: the `engine` workload on SQLite, on one PostgreSQL node and on two PostgreSQL
//!   nodes sharing a fresh database (`--pg-url`), and the two-node speed-up.
//!
//! Every wait is bounded (`--timeout-secs`), every scenario bounded in count and time.

mod api;
pub mod ceiling;
mod nodes;
mod reads;
mod report;
mod scenarios;
mod server;

use crate::client::Client;
use anyhow::{Context, bail};
use report::Row;
use server::{Database, Spawned};
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
    /// Engine throughput on SQLite, one PostgreSQL node and two (not part of `all`).
    Nodes,
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
    /// PostgreSQL server of the `nodes` scenario: it creates (and drops) a fresh database there.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_url: String,
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

/// What the scenarios need: signing clients, the wait bound, and the spawned servers if any.
struct Target {
    /// Reads and polls.
    client: Client,
    /// Submissions go round robin over the nodes (one client per node).
    submitters: Vec<Client>,
    spawned: Vec<Spawned>,
    timeout: Duration,
}

impl Target {
    /// Spawn `nodes` servers on `database` and sign for them.
    async fn spawn(args: &Args, database: &Database, nodes: usize) -> anyhow::Result<Self> {
        let mut spawned: Vec<Spawned> = Vec::new();
        let mut submitters = Vec::new();
        for _ in 0..nodes.max(1) {
            let s = match Spawned::start(args, database).await {
                Ok(s) => s,
                Err(e) => {
                    for s in spawned {
                        s.stop(args.keep).await;
                    }
                    return Err(e);
                }
            };
            eprintln!(
                "bench: spawned server pid {} at {} (data in {})",
                s.pid(),
                s.url(),
                s.data_dir().display()
            );
            submitters.push(client(
                s.url(),
                server::ACCESS_KEY,
                server::SECRET_KEY,
                server::PROJECT_ID,
                args.concurrency,
            )?);
            spawned.push(s);
        }
        Ok(Self {
            client: submitters[0].clone(),
            submitters,
            spawned,
            timeout: Duration::from_secs(args.timeout_secs.max(1)),
        })
    }

    /// The client for the `n`th submission.
    fn submitter(&self, n: usize) -> &Client {
        &self.submitters[n % self.submitters.len()]
    }

    /// The spawned servers' highest peak resident memory so far.
    fn peak_rss(&self) -> Option<u64> {
        self.spawned.iter().filter_map(Spawned::peak_rss_kib).max()
    }

    /// CPU seconds all spawned servers have used so far.
    fn cpu_secs(&self) -> Option<f64> {
        if self.spawned.is_empty() {
            return None;
        }
        self.spawned.iter().map(Spawned::cpu_secs).sum()
    }

    /// Stop the spawned servers.
    async fn stop(&mut self, keep: bool) {
        for s in self.spawned.drain(..) {
            s.stop(keep).await;
        }
    }
}

/// Run the benchmarks and print the table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let rows = if args.scenario == Scenario::Nodes {
        if args.url.is_some() {
            bail!("the nodes scenario spawns its own servers: leave out --url");
        }
        nodes::run(&args).await?
    } else {
        let mut target = match &args.url {
            Some(url) => {
                check_loopback(url)?;
                let (Some(ak), Some(sk), Some(project)) = (&args.ak, &args.sk, &args.project)
                else {
                    bail!("--url needs --ak, --sk and --project");
                };
                let c = client(url, ak, sk, project, args.concurrency)?;
                Target {
                    client: c.clone(),
                    submitters: vec![c],
                    spawned: Vec::new(),
                    timeout: Duration::from_secs(args.timeout_secs.max(1)),
                }
            }
            None => Target::spawn(&args, &Database::Sqlite, 1).await?,
        };
        let outcome = run_scenarios(&args, &mut target).await;
        let peak = target.peak_rss();
        let spawned = !target.spawned.is_empty();
        target.stop(args.keep).await;
        let mut rows = outcome?;
        if spawned {
            rows.push(Row::memory(peak));
        }
        rows
    };
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
        scenarios::engine(target, args, "engine", &mut rows).await?;
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
        reads::get(target, args, &ids, &mut rows).await?;
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
        .with_timeout(Duration::from_mins(2)))
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
