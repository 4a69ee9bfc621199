//! Two clients (two access keys) fire overlapping batches with random operations at the
//! same 200 desktops. No desktop ever has two operations at once: at every sample there is
//! at most one unfinished sub-job per desktop, and the run intervals of one desktop's
//! sub-jobs never overlap (checked to the second over the API and to the millisecond in
//! the database). At the end every job is terminal, the accepted operations replay
//! legally through the state table, and every desktop shows the state its last
//! successful operation left.

mod common;

use common::desktops::{action, create_body, create_with, sub_jobs, wait_job};
use common::{Api, Options, Server, db, q};
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

const DESKTOPS: usize = 200;
const ROUNDS: usize = 30;
const OPS: &[(&str, Option<&str>)] = &[
    ("os-start", None),
    ("os-stop", Some("SOFT")),
    ("os-stop", Some("HARD")),
    ("reboot", Some("SOFT")),
    ("reboot", Some("HARD")),
    ("os-hibernate", None),
];

/// What one client submitted and had accepted.
#[derive(Debug, Default)]
struct Fired {
    /// Job id → op_type.
    jobs: HashMap<String, String>,
    accepted: usize,
    refused: usize,
    samples: usize,
}

/// Fails if one desktop appears twice among the sub-jobs of one status at one instant
/// (one list answer is one SQL statement: a consistent snapshot).
async fn sample(api: &Api, status: &str) {
    let r = api
        .get(
            "workspace-sub-jobs",
            &q(&[("status", status), ("limit", "1000")]),
        )
        .await;
    let body = r.expect(200);
    let mut seen = HashSet::new();
    for s in body["jobs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let d = s["entities"]["desktop_id"].as_str().unwrap_or_default();
        assert!(
            seen.insert(d.to_owned()),
            "desktop {d} has two {status} sub-jobs at once: {body}"
        );
    }
}

async fn fire(api: Api, ids: Vec<String>, seed: u64, db_path: std::path::PathBuf) -> Fired {
    let pool = db::open(&db_path).await;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut fired = Fired::default();
    for _ in 0..ROUNDS {
        let (op, mode) = OPS[rng.gen_range(0..OPS.len())];
        let n = rng.gen_range(20..=100);
        let pick: Vec<&str> = ids
            .choose_multiple(&mut rng, n)
            .map(String::as_str)
            .collect();
        let r = action(&api, &pick, op, mode).await;
        match r.status {
            200 => {
                let refused = r.body["failed_operation_list"]
                    .as_array()
                    .map_or(0, Vec::len);
                for f in r.body["failed_operation_list"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let code = f["error_code"].as_str().unwrap_or_default();
                    assert!(
                        ["WKS.00010032", "WKS.00010033"].contains(&code),
                        "only state and busy refusals are expected: {f}"
                    );
                }
                fired.refused += refused;
                fired.accepted += n - refused;
                let job = r.body["job_id"].as_str().unwrap_or_default().to_owned();
                fired.jobs.insert(job, op.to_owned());
            }
            409 => fired.refused += n,
            _ => panic!("{}: unexpected answer {}", r.asked, r.text),
        }
        sample(&api, "RUNNING").await;
        sample(&api, "WAITING").await;
        let doubled = db::desktops_with_two_unfinished(&pool).await;
        assert!(
            doubled.is_empty(),
            "desktops with two unfinished sub-jobs: {doubled:?}"
        );
        fired.samples += 3;
    }
    pool.close().await;
    fired
}

/// Where a successful operation leaves a desktop: (status, login_status).
fn result_of(op: &str) -> (&'static str, &'static str) {
    match op {
        "os-start" | "reboot" => ("ACTIVE", "REGISTERED"),
        "os-stop" => ("SHUTOFF", "UNREGISTER"),
        "os-hibernate" => ("HIBERNATED", "UNREGISTER"),
        other => panic!("unexpected operation {other}"),
    }
}

/// Whether `op` (as `os-stop:HARD` etc.) may begin from `status` (docs/state-table.md).
fn allowed(op: &str, status: &str) -> bool {
    matches!(
        (status, op),
        (
            "ACTIVE",
            "os-stop:SOFT" | "os-stop:HARD" | "reboot:SOFT" | "reboot:HARD" | "os-hibernate"
        ) | ("SHUTOFF", "os-start" | "reboot:HARD")
            | ("HIBERNATED", "os-start" | "os-stop:SOFT" | "os-stop:HARD")
    )
}

#[tokio::test]
async fn overlapping_batches_never_run_two_operations_on_one_desktop() {
    // Short but non-zero operations, so batches overlap running work.
    let opts = Options::default().all_sim_ms(15).sim_ms("CREATE", 0);
    let server = Server::start(opts).await;
    let api = server.api();
    let (ak2, sk2) = server.create_credential(common::PROJECT);
    let api2 = server.api_as(&ak2, &sk2, common::PROJECT);

    let mut ids = Vec::with_capacity(DESKTOPS);
    for half in 0..2 {
        let names: Vec<String> = (0..DESKTOPS / 2)
            .map(|i| format!("cc-{half}-{i:03}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        ids.extend(create_with(&api, &create_body(&refs, &[], &serde_json::json!({}))).await);
    }

    let (a, b) = tokio::join!(
        fire(api.clone(), ids.clone(), 1, server.db_path()),
        fire(api2.clone(), ids.clone(), 2, server.db_path())
    );
    eprintln!(
        "concurrency: client A {} jobs, {} sub-jobs, {} refusals; client B {} jobs, {} sub-jobs, {} refusals; {} snapshots",
        a.jobs.len(),
        a.accepted,
        a.refused,
        b.jobs.len(),
        b.accepted,
        b.refused,
        a.samples + b.samples
    );
    assert!(
        a.accepted > 0 && b.accepted > 0,
        "both clients got work queued: {a:?} {b:?}"
    );
    assert!(
        a.refused + b.refused > 0,
        "the batches overlapped: {a:?} {b:?}"
    );
    let mut op_of: HashMap<String, String> = a.jobs;
    op_of.extend(b.jobs);

    for job in op_of.keys() {
        let j = wait_job(&api, job).await;
        assert_eq!(j["status"], "SUCCESS", "no faults are injected: {j}");
    }

    check_order_over_the_api(&api, a.accepted + b.accepted).await;
    let last_op = replay_stored(&server.db_path(), &op_of).await;
    check_final_states(&api, &last_op).await;
}

/// Per desktop, in submission order, over the API (whole seconds).
async fn check_order_over_the_api(api: &Api, accepted: usize) {
    let subs = sub_jobs(api, &[("job_type", "operateDesktops".into())]).await;
    assert_eq!(subs.len(), accepted, "one sub-job per accepted desktop");
    let mut per_desktop: HashMap<&str, Vec<&Value>> = HashMap::new();
    for s in &subs {
        per_desktop
            .entry(s["entities"]["desktop_id"].as_str().unwrap_or_default())
            .or_default()
            .push(s);
    }
    for (desktop, list) in &per_desktop {
        for w in list.windows(2) {
            let end = w[0]["end_time"].as_str().unwrap_or_default();
            let begin = w[1]["begin_time"].as_str().unwrap_or_default();
            assert!(
                begin >= end,
                "desktop {desktop}: {} began before {} ended",
                w[1],
                w[0]
            );
        }
    }
}

/// To the millisecond, from the database: intervals never overlap, and the accepted
/// operations replay legally through the state table. Returns each desktop's last
/// operation.
async fn replay_stored(
    db_path: &std::path::Path,
    op_of: &HashMap<String, String>,
) -> HashMap<String, String> {
    let pool = db::open(db_path).await;
    let stored = db::sub_jobs(&pool).await;
    let mut by_desktop: HashMap<&str, Vec<&db::SubJob>> = HashMap::new();
    for s in stored.iter().filter(|s| s.operation != "create") {
        assert_eq!(s.status, "SUCCESS", "{s:?}");
        by_desktop.entry(s.desktop_id.as_str()).or_default().push(s);
    }
    let mut last_op = HashMap::new();
    for (desktop, list) in &by_desktop {
        let mut status = "ACTIVE";
        for w in list.windows(2) {
            let (end, begin) = (w[0].end_ms.unwrap_or(i64::MAX), w[1].begin_ms.unwrap_or(0));
            assert!(
                begin >= end,
                "desktop {desktop}: {:?} overlaps {:?}",
                w[1],
                w[0]
            );
        }
        for s in list {
            assert!(
                allowed(&s.operation, status),
                "desktop {desktop}: {} accepted from {status}",
                s.operation
            );
            status = result_of(s.operation.split(':').next().unwrap_or_default()).0;
        }
        let job_op = &op_of[&list.last().map(|s| s.job_id.clone()).unwrap_or_default()];
        last_op.insert((*desktop).to_owned(), job_op.clone());
    }
    pool.close().await;
    last_op
}

/// Every desktop shows what its last successful operation left, and is idle.
async fn check_final_states(api: &Api, last_op: &HashMap<String, String>) {
    let r = api.get("desktops/detail", &q(&[("limit", "1000")])).await;
    let desktops = r.expect(200)["desktops"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(desktops.len(), DESKTOPS);
    for d in &desktops {
        let id = d["desktop_id"].as_str().unwrap_or_default();
        let (status, login) = last_op
            .get(id)
            .map_or(("ACTIVE", "REGISTERED"), |op| result_of(op));
        assert_eq!(d["status"], status, "{id} after {:?}", last_op.get(id));
        assert_eq!(d["login_status"], login, "{id}");
        assert_eq!(d["task_status"], "", "{id}");
    }
}
