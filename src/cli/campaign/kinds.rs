//! The process-death kinds: a SQLite node SIGKILLed and restarted on its data
//! (default or fixed node id), one of two PostgreSQL nodes SIGKILLed (the
//! survivor must take its work over within the lease), and both of them.

use super::checks::Db;
use super::faults::FreshDatabase;
use super::millis;
use super::node::Node;
use super::trial::{LEASE_SECS, START_BOUND, Trial};
use anyhow::bail;
use rand::Rng as _;
use std::time::{Duration, Instant};

/// How much later than the lease the survivor may release a dead node's sub-jobs
/// (polling, a claim in progress at the kill).
const TAKEOVER_SLACK: Duration = Duration::from_secs(2);

/// sqlite-kill, sqlite-kill-fixed-id.
pub async fn sqlite_kill(t: &mut Trial<'_>, fixed_id: bool) -> anyhow::Result<()> {
    let data = t.dir.join("data");
    std::fs::create_dir_all(&data)?;
    let db_path = data.join("campaign.db");
    let url = format!("sqlite://{}", db_path.display());
    let id = fixed_id.then_some("campaign-sqlite");
    let mut node = t.node("node-a", &url, &data, id, false);
    node.start(START_BOUND).await?;
    let ids = t.populate(&node).await?;
    let load = t.load(&[&node], ids, None);
    t.pause(500, 2500).await;
    t.event("SIGKILL node-a");
    node.kill().await;
    t.pause(0, 500).await;
    let restarted = Instant::now();
    node.start(START_BOUND).await?;
    t.event("node-a restarted");
    t.ready_again(&[&node], restarted).await?;
    t.pause(500, 1500).await;
    let db = Db::sqlite(&db_path).await?;
    let outcome = t.conclude(load, &db, &mut [&mut node]).await;
    db.close().await;
    outcome
}

/// Two nodes on a fresh database of the shared PostgreSQL server.
async fn two_nodes(t: &mut Trial<'_>, db: &FreshDatabase) -> anyhow::Result<(Node, Node)> {
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let data = t.dir.join(name);
        std::fs::create_dir_all(&data)?;
        // One after the other: the first applies the migrations and seeds the project.
        let mut n = t.node(name, &db.url, &data, Some(name), false);
        n.start(START_BOUND).await?;
        nodes.push(n);
    }
    let b = nodes.pop();
    match (nodes.pop(), b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => bail!("two nodes expected"),
    }
}

/// Runs `script` on a fresh database, which is dropped afterwards unless the
/// trial failed (or `--keep`): then its name is kept in the trial's notes.
async fn on_fresh_database(
    t: &mut Trial<'_>,
    script: impl AsyncFnOnce(&mut Trial<'_>, &FreshDatabase) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let db = FreshDatabase::create(&t.env.pg_url).await?;
    t.event(&format!("database {}", db.name));
    let outcome = script(t, &db).await;
    if outcome.is_err() || t.keeps_data() {
        t.note(format!(
            "database {} kept on {} (DROP DATABASE \"{}\" WITH (FORCE) removes it)",
            db.name, t.env.pg_url, db.name
        ));
    } else {
        db.drop_it().await;
    }
    outcome
}

/// pg-kill-one.
pub async fn pg_kill_one(t: &mut Trial<'_>) -> anyhow::Result<()> {
    on_fresh_database(t, async |t, fresh| {
        let (mut a, mut b) = two_nodes(t, fresh).await?;
        let ids = t.populate(&a).await?;
        let load = t.load(&[&a, &b], ids.clone(), None);
        t.pause(500, 2500).await;
        let a_dies = t.rng.gen_bool(0.5);
        let (victim, survivor) = if a_dies {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let victim_name = victim.name().to_owned();
        t.event(&format!("SIGKILL {victim_name}"));
        let killed = Instant::now();
        victim.kill().await;
        // Nothing new after the kill: what remains is the dead node's work.
        let before = load.stop().await;
        let db = Db::postgres(&fresh.url).await?;
        let measured = takeover(t, &db, &victim_name, killed).await;
        let restarted = Instant::now();
        victim.start(START_BOUND).await?;
        t.event(&format!("{victim_name} restarted"));
        t.ready_again(&[victim, survivor], restarted).await?;
        let load = t.load(&[&a, &b], ids, Some(before));
        t.pause(500, 1500).await;
        let concluded = t.conclude(load, &db, &mut [&mut a, &mut b]).await;
        db.close().await;
        measured.and(concluded)
    })
    .await
}

/// Measures the survivor's takeover of `victim`'s sub-jobs after `killed`.
async fn takeover(t: &mut Trial<'_>, db: &Db, victim: &str, killed: Instant) -> anyhow::Result<()> {
    let bound = Duration::from_secs(LEASE_SECS) + Duration::from_secs(t.args.settle_secs);
    let mut released = None;
    loop {
        if released.is_none() && db.running_on(victim).await? == 0 {
            released = Some(killed.elapsed());
        }
        if released.is_some() && db.unfinished().await? == 0 {
            break;
        }
        if killed.elapsed() > bound {
            bail!("the survivor did not finish {victim}'s work within {bound:?} of the kill");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = killed.elapsed();
    let released = released.unwrap_or(all);
    t.figures.release_ms = Some(millis(released));
    t.figures.takeover_ms = Some(millis(all));
    t.event(&format!(
        "{victim}'s leases released after {} ms, every sub-job ended after {} ms",
        released.as_millis(),
        all.as_millis()
    ));
    let limit = Duration::from_secs(LEASE_SECS) + TAKEOVER_SLACK;
    if released > limit {
        t.fail(format!(
            "the survivor took {victim}'s sub-jobs over {} ms after the kill; the lease is {LEASE_SECS} s",
            released.as_millis()
        ));
    }
    Ok(())
}

/// pg-kill-both.
pub async fn pg_kill_both(t: &mut Trial<'_>) -> anyhow::Result<()> {
    on_fresh_database(t, async |t, fresh| {
        let (mut a, mut b) = two_nodes(t, fresh).await?;
        let ids = t.populate(&a).await?;
        let load = t.load(&[&a, &b], ids, None);
        t.pause(500, 2500).await;
        let a_first = t.rng.gen_bool(0.5);
        let gap = t.ms(0, 300);
        let (first, second) = if a_first {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        t.event(&format!(
            "SIGKILL {}, {} {gap} ms later",
            first.name(),
            second.name()
        ));
        first.kill().await;
        tokio::time::sleep(Duration::from_millis(gap)).await;
        second.kill().await;
        t.pause(0, 1000).await;
        let restarted = Instant::now();
        a.start(START_BOUND).await?;
        b.start(START_BOUND).await?;
        t.event("both restarted with their ids");
        t.ready_again(&[&a, &b], restarted).await?;
        t.pause(500, 1500).await;
        let db = Db::postgres(&fresh.url).await?;
        let outcome = t.conclude(load, &db, &mut [&mut a, &mut b]).await;
        db.close().await;
        outcome
    })
    .await
}
