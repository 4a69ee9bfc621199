//! A node restarted under its own id (issue 11): SIGKILL in the middle of an
//! os-stop batch whose operations take 3 s, start again at once with the same
//! node id, and every sub-job must be terminal within the lease time plus a
//! margin, every job ended, no desktop left with a `task_status`. Leases belong
//! to a process incarnation: the new process neither renews its predecessor's
//! leases nor waits for them to expire, and another node takes over a dead
//! incarnation's work.
//!
//! The set-ups of the issue: a fixed id on SQLite; the default id of a server
//! that is PID 1 of its own PID namespace (as in a container), through
//! `unshare --pid --fork`; two PostgreSQL nodes with fixed ids, both killed and
//! restarted; and only one of them killed and restarted while the other lives.

mod common;

use common::desktops::{create_body, create_with};
use common::pg::Database;
use common::{Api, Options, Server, poll, q};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DESKTOPS: usize = 200;
const LEASE_SECS: u64 = 10;
/// Lease time plus a margin for a loaded two-core machine.
const SETTLE_BOUND: Duration = Duration::from_secs(LEASE_SECS + 20);
const SERVER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn options() -> Options {
    Options::default()
        .sim_ms("STOP", 3_000)
        .set("DESKPLANE_JOBS__LEASE_SECS", &LEASE_SECS.to_string())
        .set("DESKPLANE_JOBS__POLL_MS", "50")
        .set("DESKPLANE_LIMITS__MAX_BATCH_IDS", "1000")
        .set("DESKPLANE_LIMITS__MAX_CREATE", "1000")
        .set("DESKPLANE_LIMITS__MAX_BODY_BYTES", "4000000")
}

fn pg_node(db: &Database, id: &str) -> Options {
    options()
        .set("DESKPLANE_DATABASE_URL", &db.url())
        .set("DESKPLANE_SERVER_KEY", SERVER_KEY)
        .set("DESKPLANE_NODE_ID", id)
        // Each node holds at most half the batch, so both hold some of it.
        .set("DESKPLANE_JOBS__MAX_IN_FLIGHT", &(DESKTOPS / 2).to_string())
}

/// Creates the desktops, then submits one os-stop over all of them; returns the job.
async fn stop_all(api: &Api, tag: &str) -> String {
    let names: Vec<String> = (0..DESKTOPS).map(|i| format!("{tag}-{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let ids = create_with(api, &create_body(&refs, &[], &json!({}))).await;
    let r = api
        .post(
            "desktops/action",
            &json!({"desktop_ids": ids, "op_type": "os-stop", "type": "HARD"}),
        )
        .await;
    r.expect(200)["job_id"].as_str().expect("job_id").to_owned()
}

/// Sub-jobs of `job` by status, as the API counts them.
async fn count(api: &Api, job: &str, status: &str) -> u64 {
    let r = api
        .get(
            "workspace-sub-jobs",
            &q(&[("job_id", job), ("status", status), ("limit", "0")]),
        )
        .await;
    r.expect(200)["total_count"].as_u64().unwrap_or_default()
}

/// Waits until at least `n` sub-jobs of `job` run (and none has finished yet).
async fn wait_running(api: &Api, job: &str, n: u64) {
    poll(
        "sub-jobs to run",
        Duration::from_secs(30),
        api.logs(),
        async || {
            let running = count(api, job, "RUNNING").await;
            if running >= n {
                Ok(())
            } else {
                Err(format!("{running} running"))
            }
        },
    )
    .await;
    assert_eq!(
        count(api, job, "SUCCESS").await,
        0,
        "a sub-job ended before the kill: the stops take 3 s"
    );
}

/// After a restart at `restarted`: within the lease plus a margin, the job
/// ended, every sub-job is terminal and no desktop has a `task_status`.
async fn settles(api: &Api, job: &str, restarted: Instant) {
    let j = poll(
        "the interrupted job to end",
        SETTLE_BOUND,
        api.logs(),
        async || {
            let j = api
                .get(&format!("workspace-jobs/{job}"), &[])
                .await
                .expect(200)
                .clone();
            match j["status"].as_str() {
                Some("SUCCESS" | "FAIL") => Ok(j),
                _ => Err(format!(
                    "{} (running {}, waiting {})",
                    j["status"],
                    count(api, job, "RUNNING").await,
                    count(api, job, "WAITING").await
                )),
            }
        },
    )
    .await;
    assert!(
        restarted.elapsed() < SETTLE_BOUND,
        "took {:?}",
        restarted.elapsed()
    );
    assert_eq!(j["status"], "SUCCESS", "{j}");
    for status in ["RUNNING", "WAITING"] {
        assert_eq!(count(api, job, status).await, 0, "{status} sub-jobs left");
    }
    assert_eq!(count(api, job, "SUCCESS").await, DESKTOPS as u64);
    let page = api.get("desktops/detail", &q(&[("limit", "1000")])).await;
    let desktops = page.expect(200)["desktops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(desktops.len(), DESKTOPS);
    let busy: Vec<&Value> = desktops
        .iter()
        .filter(|d| d["task_status"] != "" || d["status"] != "SHUTOFF")
        .collect();
    assert!(busy.is_empty(), "desktops not settled: {busy:?}");
}

#[tokio::test]
async fn sqlite_node_restarted_with_a_fixed_id_resumes_at_once() {
    let mut server = Server::start(
        options()
            .set("DESKPLANE_NODE_ID", "node-1")
            .set("DESKPLANE_SIM__RECORD_APPLIED", "true"),
    )
    .await;
    let job = stop_all(&server.api(), "fixed").await;
    wait_running(&server.api(), &job, DESKTOPS as u64).await;
    server.kill();
    server.restart().await;
    settles(&server.api(), &job, Instant::now()).await;
    // The simulator carried out each stop once, though its first process died mid-way.
    let applied = server
        .api()
        .call(
            http::Method::GET,
            "/sim/v1/applied",
            &q(&[("limit", "1000")]),
            None,
        )
        .await;
    let ops: Vec<&str> = applied.expect(200)["applied"]
        .as_array()
        .expect("applied")
        .iter()
        .filter(|a| a["operation"] == "os-stop")
        .map(|a| a["sub_job_id"].as_str().unwrap_or_default())
        .collect();
    let unique: std::collections::BTreeSet<&str> = ops.iter().copied().collect();
    assert_eq!((ops.len(), unique.len()), (DESKTOPS, DESKTOPS));
}

/// `unshare --pid --fork` makes the server PID 1 of a new PID namespace, so its
/// default node id (`hostname-pid`) is the same on every start, as in a container.
#[tokio::test]
async fn sqlite_server_as_pid_one_resumes_at_once() {
    let unshare = ["unshare", "--pid", "--fork", "--kill-child=SIGKILL"];
    let usable = std::process::Command::new(unshare[0])
        .args(&unshare[1..])
        .args(["sh", "-c", "test $$ = 1"])
        .status()
        .is_ok_and(|s| s.success());
    let opts = if usable {
        options().wrapped_in(&unshare)
    } else {
        // Without the privilege for a PID namespace: the id PID 1 would produce.
        eprintln!("*** unshare --pid is not permitted here: using the id of PID 1 instead ***");
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "node".into());
        options().set("DESKPLANE_NODE_ID", &format!("{}-1", host.trim()))
    };
    let mut server = Server::start(opts).await;
    let job = stop_all(&server.api(), "pid1").await;
    wait_running(&server.api(), &job, DESKTOPS as u64).await;
    server.kill();
    server.restart().await;
    let api = server.api();
    settles(&api, &job, Instant::now()).await;
    // The restarted process ran under the default id of PID 1, the one its
    // predecessor had: the set-up that made them collide.
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let subs = common::desktops::sub_jobs(&api, &[("job_id", job.clone())]).await;
    let pid_one = format!("{}-1", host.trim());
    assert!(
        subs.iter().all(|s| s["host"] == pid_one.as_str()),
        "{:?}",
        subs.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_both_restarted_with_fixed_ids_resume() {
    let Some(db) = Database::create("restart").await else {
        return;
    };
    let mut a = Server::start(pg_node(&db, "node-a")).await;
    let mut b = Server::start(pg_node(&db, "node-b")).await;
    let job = stop_all(&a.api(), "both").await;
    wait_running(&a.api(), &job, DESKTOPS as u64).await;
    a.kill();
    b.kill();
    a.restart().await;
    b.restart().await;
    settles(&b.api(), &job, Instant::now()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_node_restarted_beside_a_live_one_resumes() {
    let Some(db) = Database::create("restart").await else {
        return;
    };
    let mut a = Server::start(pg_node(&db, "node-a")).await;
    let b = Server::start(pg_node(&db, "node-b")).await;
    let job = stop_all(&a.api(), "one").await;
    wait_running(&a.api(), &job, DESKTOPS as u64).await;
    let before = incarnation_of(&a, "node-a");
    a.kill();
    a.restart().await;
    settles(&b.api(), &job, Instant::now()).await;
    // `deskplane nodes` shows the process each node runs now.
    let after = incarnation_of(&a, "node-a");
    assert!(!after.is_empty() && after != before, "{before} -> {after}");
    assert!(!incarnation_of(&a, "node-b").is_empty());
}

/// The incarnation `deskplane nodes` shows for `node`.
fn incarnation_of(server: &Server, node: &str) -> String {
    let listing = server.cli(&["nodes"]);
    listing
        .lines()
        .find(|l| l.split('\t').next() == Some(node))
        .and_then(|l| l.split("incarnation ").nth(1))
        .and_then(|rest| rest.split('\t').next())
        .unwrap_or_else(|| panic!("{node} not in `deskplane nodes`:\n{listing}"))
        .to_owned()
}
