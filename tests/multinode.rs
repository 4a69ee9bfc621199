//! Several deskplane nodes sharing one PostgreSQL (issue 6): an interleaved
//! workload through different nodes never runs two operations on one desktop at
//! once, and when one node is SIGKILLed in the middle of a 2,000-desktop batch
//! the others finish every sub-job within the lease timeout.
//!
//! Needs a PostgreSQL server (`DESKPLANE_TEST_PG_URL`, default the local one);
//! skips loudly without one. Each run uses a fresh database, dropped at the end.

mod common;

use common::desktops::{create_with, wait_job_within};
use common::{Api, Options, Server, poll};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeMap;
use std::time::Duration;

const SERVER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const LEASE_SECS: u64 = 3;

/// A fresh database on the test server, dropped on drop.
struct Database {
    admin: String,
    name: String,
}

impl Database {
    async fn create() -> Option<Database> {
        let admin = std::env::var("DESKPLANE_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let Ok(mut c) = PgConnection::connect(&admin).await else {
            eprintln!("*** SKIP multinode: PostgreSQL unreachable at {admin} ***");
            return None;
        };
        let name = format!("deskplane_nodes_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut c)
            .await
            .expect("a test database can be created");
        Some(Database { admin, name })
    }

    fn url(&self) -> String {
        let base = self
            .admin
            .rsplit_once('/')
            .map_or(self.admin.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop is synchronous: a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

fn node(db: &Database, id: &str) -> Options {
    Options::default()
        .set("DESKPLANE_DATABASE_URL", &db.url())
        .set("DESKPLANE_SERVER_KEY", SERVER_KEY)
        .set("DESKPLANE_NODE_ID", id)
        .set("DESKPLANE_LIMITS__MAX_BATCH_IDS", "2000")
        .set("DESKPLANE_LIMITS__MAX_CREATE", "2000")
        .set("DESKPLANE_LIMITS__MAX_BODY_BYTES", "4000000")
        .set("DESKPLANE_JOBS__LEASE_SECS", &LEASE_SECS.to_string())
        .set("DESKPLANE_JOBS__MAX_IN_FLIGHT", "60")
        .set("DESKPLANE_JOBS__CLAIM_BATCH", "30")
        .set("DESKPLANE_JOBS__POLL_MS", "50")
        .sim_ms("STOP", 20)
        .sim_ms("START", 20)
        .sim_ms("REBOOT", 100)
}

/// Per sub-job of `job_id` (or of all jobs): (desktop, status, host, attempt, begin, end).
async fn sub_jobs(
    db: &Database,
    job_id: Option<&str>,
) -> Vec<(
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
)> {
    let mut c = PgConnection::connect(&db.url()).await.expect("connect");
    let rows = sqlx::query(
        "SELECT desktop_id, status, host, attempt, begin_ms, end_ms FROM sub_jobs \
         WHERE ($1::text IS NULL OR job_id = $1) ORDER BY desktop_id, begin_ms",
    )
    .bind(job_id)
    .fetch_all(&mut c)
    .await
    .expect("read sub-jobs");
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_the_work_and_survive_a_sigkill() {
    let Some(db) = Database::create().await else {
        return;
    };
    let mut a = Server::start(node(&db, "node-a")).await;
    let b = Server::start(node(&db, "node-b")).await;
    let c = Server::start(node(&db, "node-c")).await;
    let (api_a, api_b, api_c) = (a.api(), b.api(), c.api());
    let ids = create_on_every_node(&db, &api_a).await;
    interleave_batches(&db, &api_b, &api_c, &ids).await;

    // The 2,000-desktop batch (a HARD reboot applies to ACTIVE and SHUTOFF alike);
    // node A dies while it holds some of it.
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = api_b
        .post(
            "desktops/action",
            &json!({"desktop_ids": all, "op_type": "reboot", "type": "HARD"}),
        )
        .await;
    let job_id = r.expect(200)["job_id"].as_str().expect("job_id").to_owned();
    let held = wait_until_node_a_holds(&db, &a, &job_id).await;
    a.kill();
    let started = std::time::Instant::now();
    let job = wait_job_within(&api_c, &job_id, Duration::from_secs(LEASE_SECS * 10 + 60)).await;
    assert_eq!(job["status"], "SUCCESS", "{job}");
    assert!(
        started.elapsed() < Duration::from_secs(LEASE_SECS * 10 + 30),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        r.body["failed_operation_list"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{}",
        r.body
    );
    check_taken_over(&db, &job_id, held.len()).await;
    check_all_rebooted(&api_c).await;
    drop((b, c));
}

/// 2,000 desktops, created through node A, run by more than one node.
async fn create_on_every_node(db: &Database, api_a: &Api) -> Vec<String> {
    let desktops: Vec<Value> = (0..2000)
        .map(|i| json!({"computer_name": format!("mn{i:05}")}))
        .collect();
    let body = json!({"product_id": "workspace.x86.general.xlarge2", "image_id": "63aa8670-27ad-4747-8c44-6d8919e785a7",
                      "image_type": "gold", "desktops": desktops});
    let ids = create_with(api_a, &body).await;
    assert_eq!(ids.len(), 2000);
    let hosts: BTreeMap<Option<String>, usize> =
        sub_jobs(db, None)
            .await
            .into_iter()
            .fold(BTreeMap::new(), |mut m, s| {
                *m.entry(s.2).or_default() += 1;
                m
            });
    assert!(
        hosts.len() >= 2,
        "the create job ran on one node only: {hosts:?}"
    );
    ids
}

/// Interleaved: overlapping batches on the same 200 desktops through B and C; no
/// desktop ever had two operations running at once, across nodes.
async fn interleave_batches(db: &Database, api_b: &Api, api_c: &Api, ids: &[String]) {
    let shared: Vec<&str> = ids[..200].iter().map(String::as_str).collect();
    let mut jobs = Vec::new();
    for round in 0..6 {
        for (api, op) in [
            (api_b, ["os-stop", "os-start", "reboot"][round % 3]),
            (api_c, ["reboot", "os-stop", "os-start"][round % 3]),
        ] {
            let r = api
                .post(
                    "desktops/action",
                    &json!({"desktop_ids": shared, "op_type": op, "type": "HARD"}),
                )
                .await;
            if r.status == 200 {
                jobs.push(r.body["job_id"].as_str().expect("job_id").to_owned());
            } else {
                // Nothing applied: every desktop busy or already in that state.
                let code = r.body["error_code"].as_str().unwrap_or_default();
                assert!(
                    r.status == 409 && ["WKS.00010032", "WKS.00010033"].contains(&code),
                    "{} {code}",
                    r.status
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    for j in &jobs {
        wait_job_within(api_b, j, Duration::from_mins(1)).await;
    }
    let mut by_desktop: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (d, status, _, _, begin, end) in sub_jobs(db, None).await {
        if (status == "SUCCESS" || status == "FAILED")
            && let (Some(b), Some(e)) = (begin, end)
        {
            by_desktop.entry(d).or_default().push((b, e));
        }
    }
    for (d, mut spans) in by_desktop {
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "desktop {d}: operations overlap: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
    }
}

/// Waits until node A has finished some of the job and runs more of it; returns the
/// sub-jobs it runs then.
async fn wait_until_node_a_holds(db: &Database, a: &Server, job_id: &str) -> Vec<String> {
    const COUNTS: &str = "SELECT COUNT(*) FILTER (WHERE status = 'SUCCESS'), \
        COUNT(*) FILTER (WHERE status = 'RUNNING' AND lease_owner = 'node-a') \
        FROM sub_jobs WHERE job_id = $1";
    const HELD: &str = "SELECT id FROM sub_jobs \
        WHERE job_id = $1 AND status = 'RUNNING' AND lease_owner = 'node-a'";
    let logs = a.dir().to_str().unwrap_or("").to_owned();
    poll(
        "node A to hold running sub-jobs",
        Duration::from_secs(30),
        &logs,
        async || {
            let mut cx = PgConnection::connect(&db.url())
                .await
                .map_err(|e| e.to_string())?;
            let row = sqlx::query(COUNTS)
                .bind(job_id)
                .fetch_one(&mut cx)
                .await
                .map_err(|e| e.to_string())?;
            let (done, a_running): (i64, i64) = (row.get(0), row.get(1));
            if done > 100 && a_running > 0 {
                Ok(())
            } else {
                Err(format!("{done} done, {a_running} running"))
            }
        },
    )
    .await;
    let mut cx = PgConnection::connect(&db.url()).await.expect("connect");
    sqlx::query_scalar(HELD)
        .bind(job_id)
        .fetch_all(&mut cx)
        .await
        .expect("read node A's sub-jobs")
}

/// Every sub-job succeeded; what node A held was re-run elsewhere.
async fn check_taken_over(db: &Database, job_id: &str, held: usize) {
    let subs = sub_jobs(db, Some(job_id)).await;
    assert_eq!(subs.len(), 2000);
    assert!(
        subs.iter().all(|s| s.1 == "SUCCESS"),
        "every sub-job succeeded"
    );
    if held > 0 {
        let redone = subs.iter().filter(|s| s.3 >= 2).count();
        assert!(
            redone >= 1,
            "node A held {held} sub-jobs; none was re-run elsewhere"
        );
        assert!(
            subs.iter()
                .all(|s| s.2.as_deref() != Some("node-a") || s.3 == 1),
            "a re-run finished on node A"
        );
    }
}

/// Final states match the successful sub-jobs: every desktop rebooted, ACTIVE and idle.
async fn check_all_rebooted(api_c: &Api) {
    let listed = api_c
        .get("desktops/detail", &[("limit", "1000".into())])
        .await;
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for offset in [0, 1000] {
        let page = api_c
            .get(
                "desktops/detail",
                &[("limit", "1000".into()), ("offset", offset.to_string())],
            )
            .await;
        for d in page.expect(200)["desktops"].as_array().expect("desktops") {
            *states
                .entry(format!("{}/{}", d["status"], d["task_status"]))
                .or_default() += 1;
        }
    }
    assert_eq!(listed.expect(200)["total_count"], 2000);
    assert_eq!(
        states,
        BTreeMap::from([("\"ACTIVE\"/\"\"".to_owned(), 2000)]),
        "final states"
    );
}
