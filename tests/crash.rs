//! Crash and restart: five create jobs of 100 desktops each (Huawei's per-request limit)
//! with 200 ms simulated creates, at most 50 at once. The server is killed (SIGKILL) once
//! some but not all sub-jobs finished, then restarted on the same database; every sub-job
//! must end SUCCESS or FAILED, every job terminal, every desktop stable with an empty
//! `task_status`. The graceful variant: SIGTERM mid-way exits 0 after letting running
//! sub-jobs finish, and a restart completes the rest.

mod common;

use common::desktops::{
    JOB_BOUND, create_body, desktop_sub_jobs, sub_jobs, submit_create, wait_job,
};
use common::{Api, Options, Server, db, poll, q};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const JOBS: usize = 5;
const PER_JOB: usize = 100;
const TOTAL: u64 = (JOBS * PER_JOB) as u64;

fn options() -> Options {
    Options::default()
        .sim_ms("CREATE", 200)
        .set("DESKPLANE_JOBS__MAX_IN_FLIGHT", "50")
}

/// Submits the five create jobs; returns their ids.
async fn submit_all(api: &Api, tag: &str) -> Vec<String> {
    let mut jobs = Vec::with_capacity(JOBS);
    for j in 0..JOBS {
        let names: Vec<String> = (0..PER_JOB).map(|i| format!("{tag}{j}-{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        jobs.push(submit_create(api, &create_body(&refs, &[], &json!({}))).await);
    }
    jobs
}

/// Sub-jobs with this status, as counted by the API.
async fn count(api: &Api, status: &str) -> u64 {
    let r = api
        .get(
            "workspace-sub-jobs",
            &q(&[("status", status), ("limit", "0")]),
        )
        .await;
    r.expect(200)["total_count"].as_u64().unwrap_or_default()
}

/// Waits until some, but not all, sub-jobs have succeeded and the next ones run. The
/// creates run in waves of 50 that end together; right after a wave is recorded nothing
/// may be RUNNING for a moment, so this also waits for the next wave to be claimed: it
/// then runs for 200 ms, ample time for the caller to interrupt it.
async fn wait_midway(api: &Api) -> u64 {
    let done = poll(
        "some sub-jobs to finish and more to run",
        JOB_BOUND,
        api.logs(),
        async || {
            let done = count(api, "SUCCESS").await;
            let running = count(api, "RUNNING").await;
            if done > 0 && running > 0 {
                Ok(done)
            } else {
                Err(format!("{done} done, {running} running"))
            }
        },
    )
    .await;
    assert!(
        done < TOTAL,
        "all {TOTAL} sub-jobs finished before the interruption"
    );
    done
}

/// After the restart: everything finishes and settles.
async fn check_everything_settles(api: &Api, jobs: &[String]) {
    for id in jobs {
        let j = wait_job(api, id).await;
        assert_eq!(
            j["status"], "SUCCESS",
            "every interrupted create is resumed: {j}"
        );
        assert_eq!(j["sub_jobs_total"], PER_JOB);
    }
    let subs = sub_jobs(api, &[("job_type", "createDesktops".into())]).await;
    assert_eq!(subs.len() as u64, TOTAL);
    for s in &subs {
        assert!(
            ["SUCCESS", "FAILED"].contains(&s["status"].as_str().unwrap_or_default()),
            "{s}"
        );
    }
    let r = api.get("desktops/detail", &q(&[("limit", "1000")])).await;
    let body = r.expect(200);
    assert_eq!(body["total_count"], TOTAL);
    let desktops = body["desktops"].as_array().cloned().unwrap_or_default();
    let mut names = HashSet::new();
    for d in &desktops {
        assert_eq!(d["status"], "ACTIVE", "{d}");
        assert_eq!(d["task_status"], "", "{d}");
        assert_eq!(d["login_status"], "REGISTERED", "{d}");
        assert!(
            names.insert(d["computer_name"].as_str().unwrap_or_default().to_owned()),
            "{d}"
        );
    }
}

#[tokio::test]
async fn sigkill_mid_create_then_restart_finishes_every_job() {
    let mut server = Server::start(options()).await;
    let api = server.api();
    let jobs = submit_all(&api, "k").await;
    wait_midway(&api).await;
    let status = server.kill();
    assert!(!status.success(), "SIGKILL ends the process: {status}");

    // What the dead process left: work under way, desktops still spawning.
    let pool = db::open(&server.db_path()).await;
    let subs = db::sub_job_counts(&pool).await;
    let tasks = db::desktop_task_counts(&pool).await;
    pool.close().await;
    let get = |m: &std::collections::BTreeMap<String, i64>, k: &str| m.get(k).copied().unwrap_or(0);
    assert!(
        get(&subs, "SUCCESS") > 0 && get(&subs, "SUCCESS") < i64::try_from(TOTAL).expect("small"),
        "{subs:?}"
    );
    assert!(
        get(&subs, "RUNNING") > 0,
        "the kill interrupted running sub-jobs: {subs:?}"
    );
    assert!(get(&tasks, "spawning") > 0, "{tasks:?}");

    server.restart().await;
    let api = server.api();
    check_everything_settles(&api, &jobs).await;
    // A desktop whose create was interrupted was created again, as attempt 2.
    let pool = db::open(&server.db_path()).await;
    let retried = db::sub_jobs(&pool)
        .await
        .into_iter()
        .find(|s| s.attempt > 1);
    pool.close().await;
    let retried = retried.expect("some sub-job was interrupted and resumed");
    let history = desktop_sub_jobs(&api, &retried.desktop_id).await;
    assert_eq!(
        history.len(),
        1,
        "resumed in place, not duplicated: {history:?}"
    );
    assert_eq!(history[0]["status"], "SUCCESS");
}

#[tokio::test]
async fn sigterm_mid_create_exits_zero_and_restart_finishes_the_rest() {
    let mut server = Server::start(options()).await;
    let api = server.api();
    let jobs = submit_all(&api, "t").await;
    wait_midway(&api).await;
    let status = server.terminate(Duration::from_secs(30)).await;
    assert_eq!(
        status.code(),
        Some(0),
        "graceful shutdown exits 0: {status}"
    );

    // A graceful stop lets running sub-jobs finish: nothing is left RUNNING, the rest waits.
    let pool = db::open(&server.db_path()).await;
    let subs = db::sub_job_counts(&pool).await;
    pool.close().await;
    assert_eq!(subs.get("RUNNING"), None, "{subs:?}");
    assert!(
        subs.get("WAITING").copied().unwrap_or(0) > 0,
        "work was left for the restart: {subs:?}"
    );

    server.restart().await;
    let api = server.api();
    check_everything_settles(&api, &jobs).await;
    let pool = db::open(&server.db_path()).await;
    let interrupted: Vec<db::SubJob> = db::sub_jobs(&pool)
        .await
        .into_iter()
        .filter(|s| s.attempt > 1)
        .collect();
    pool.close().await;
    assert!(
        interrupted.is_empty(),
        "a graceful stop interrupts nothing: {interrupted:?}"
    );
}
