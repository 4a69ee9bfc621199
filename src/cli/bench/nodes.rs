//! The `nodes` scenario (issue 6): the `engine` workload, simulator durations 0, on one
//! SQLite node, one PostgreSQL node and two PostgreSQL nodes sharing one fresh database,
//! in one run; then how many times one PostgreSQL node's rate two nodes reach.
//!
//! With two nodes, requests alternate between them and both engines claim sub-jobs from
//! the shared tables; the figure is desktop operations (creates, stops, starts) per second,
//! first request to last job done.

use super::report::Row;
use super::server::Database;
use super::{Args, Target, scenarios};
use anyhow::Context as _;
use sqlx::Connection as _;

/// What two nodes must reach, in multiples of one node's rate.
const SPEED_UP_GOAL: f64 = 1.6;

/// Run the three set-ups one after another and add the speed-up row.
pub async fn run(args: &Args) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (label, nodes, postgres) in [
        ("sqlite 1 node", 1, false),
        ("postgres 1 node", 1, true),
        ("postgres 2 nodes", 2, true),
    ] {
        eprintln!(
            "bench: nodes: {label} ({} desktops) …",
            args.engine_desktops
        );
        let db = if postgres {
            Some(FreshDatabase::create(&args.pg_url).await?)
        } else {
            None
        };
        let database = db
            .as_ref()
            .map_or(Database::Sqlite, |d| Database::Postgres(d.url.clone()));
        let mut busy = None;
        let outcome = match Target::spawn(args, &database, nodes).await {
            Ok(mut target) => {
                let before = machine_ticks();
                let outcome = scenarios::engine(&target, args, label, &mut rows).await;
                busy = before.zip(machine_ticks()).map(|((b0, t0), (b1, t1))| {
                    (b1 - b0) as f64 / (t1 - t0).max(1) as f64 * cores() as f64
                });
                target.stop(args.keep).await;
                outcome
            }
            Err(e) => Err(e),
        };
        if let Some(db) = db {
            db.drop_it().await;
        }
        let (ops, took) = outcome?;
        let row = Row::rate(
            label,
            format!("all {ops} operations"),
            ops,
            took,
            None,
            None,
        );
        let rate = row.rate.unwrap_or(0.0);
        let cpu = busy.map_or_else(String::new, |b| {
            format!(
                "machine CPU busy {b:.2} of {} cores ({:.0} ops per busy core-second)",
                cores(),
                rate / b.max(f64::EPSILON)
            )
        });
        rows.push(row.noting(&cpu));
        rates.push(rate);
    }
    if let [_, one, two] = rates[..] {
        rows.push(Row::ratio(
            "nodes",
            "postgres: 2 nodes / 1 node".into(),
            two,
            one,
            SPEED_UP_GOAL,
        ));
    }
    Ok(rows)
}

/// (busy, total) jiffies of the whole machine, from `/proc/stat`: what the database, the
/// nodes and the bench client used together, which bounds what more nodes can add.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let idle = v.get(3)? + v.get(4)?;
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A database created for one set-up and dropped after it.
struct FreshDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let mut parsed =
            reqwest::Url::parse(admin_url).with_context(|| format!("--pg-url {admin_url}"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("deskplane_bench_{}_{nanos}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = conn.close().await;
        parsed.set_path(&format!("/{name}"));
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url: parsed.to_string(),
        })
    }

    async fn drop_it(self) {
        let dropped = async {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await?;
            conn.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!("bench: cannot drop database {}: {e}", self.name);
        }
    }
}
