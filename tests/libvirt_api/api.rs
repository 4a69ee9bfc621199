//! The HTTP calls the tests make, with the status checks every caller wants.

use crate::server::{IMAGE_ACPI, PRODUCT, PROJECT, Server};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long any job may take here: the slowest is a rebuild of 5 running
/// guests under TCG on 2 cores, a few seconds.
const JOB_BOUND: Duration = Duration::from_mins(3);

fn path(rest: &str) -> String {
    format!("/v2/{PROJECT}/{rest}")
}

/// POSTs `body` and returns the JSON answer, which must have status `want`.
pub async fn post(s: &Server, rest: &str, body: &Value, want: u16) -> Value {
    let r = s.client.post(&path(rest), body).await.expect("request");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, want, "POST {rest} {body}: {text}");
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json().expect("JSON answer")
    }
}

/// GETs and returns the JSON answer, which must be 200.
pub async fn get(s: &Server, rest: &str) -> Value {
    get_q(s, rest, &[]).await
}

/// GETs with query parameters; the answer must be 200.
pub async fn get_q(s: &Server, rest: &str, query: &[(&str, String)]) -> Value {
    let r = s.client.get(&path(rest), query).await.expect("request");
    assert_eq!(
        r.status,
        200,
        "GET {rest}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json().expect("JSON answer")
}

/// Creates `n` desktops of the test product and image in one request (each
/// with a user and one 10 GiB data volume); returns the createDesktops job id.
pub async fn create(s: &Server, n: usize, prefix: &str) -> String {
    let desktops: Vec<Value> = (1..=n)
        .map(|i| {
            json!({"user_name": format!("{prefix}user{i}"),
                   "user_email": format!("{prefix}user{i}@example.com"),
                   "computer_name": format!("{prefix}-{i}")})
        })
        .collect();
    let body = json!({
        "product_id": PRODUCT,
        "image_id": IMAGE_ACPI,
        "image_type": "gold",
        "root_volume": {"type": "SAS", "size": 80},
        "data_volumes": [{"type": "SAS", "size": 10}],
        "desktops": desktops,
    });
    job_id(&post(s, "desktops", &body, 200).await)
}

/// `POST /desktops/action` on every desktop; none may be refused.
pub async fn action(s: &Server, ids: &[String], op: &str, mode: &str) -> String {
    let body = json!({"desktop_ids": ids, "op_type": op, "type": mode});
    let r = post(s, "desktops/action", &body, 200).await;
    assert_eq!(
        r["failed_operation_list"],
        json!([]),
        "{op} {mode} refused for some desktops: {r}"
    );
    job_id(&r)
}

fn job_id(r: &Value) -> String {
    r["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no job_id in {r}"))
        .to_owned()
}

/// Polls the job (every 50 ms, bounded) until it has finished; it must have
/// succeeded. Returns the job, sub-jobs included.
pub async fn wait_job(s: &Server, job_id: &str) -> Value {
    let job = finished_job(s, job_id).await;
    assert_eq!(
        job["status"],
        "SUCCESS",
        "job {job_id} failed: {}\nserver log:\n{}",
        serde_json::to_string_pretty(&job).unwrap_or_default(),
        s.log_tail()
    );
    job
}

/// Polls the job (every 50 ms, bounded) until it is SUCCESS or FAIL.
pub async fn finished_job(s: &Server, job_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let job = get(s, &format!("workspace-jobs/{job_id}")).await;
        if job["status"] == "SUCCESS" || job["status"] == "FAIL" {
            return job;
        }
        assert!(
            started.elapsed() < JOB_BOUND,
            "job {job_id} still {} after {JOB_BOUND:?}: {job}\nserver log:\n{}",
            job["status"],
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A desktop as `GET /desktops/{id}` shows it.
pub async fn desktop(s: &Server, id: &str) -> Value {
    get(s, &format!("desktops/{id}")).await["desktop"].clone()
}

/// Asserts that every desktop is idle in `status`.
pub async fn expect_status(s: &Server, ids: &[String], status: &str) {
    for id in ids {
        let d = desktop(s, id).await;
        assert_eq!(
            (d["status"].as_str(), d["task_status"].as_str()),
            (Some(status), Some("")),
            "desktop {id}: {d}"
        );
    }
}

/// Polls (every 200 ms, at most `bound`) until the desktop shows `status`.
/// Returns how long it took.
pub async fn await_status(s: &Server, id: &str, status: &str, bound: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let d = desktop(s, id).await;
        if d["status"] == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "desktop {id} is not {status} after {bound:?}: {d}\nserver log:\n{}",
            s.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
