//! Desktop and job helpers over the API: create and wait, read jobs and sub-jobs to
//! the end, and a snapshot of everything a refused request must leave alone.

use super::{Api, LINUX_IMAGE, PRODUCT, Reply, WINDOWS_IMAGE, poll, q};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// How long a job may take in these tests (generous: the machine has two cores and
/// several test binaries run at once).
pub const JOB_BOUND: Duration = Duration::from_mins(1);

/// A create request for `names` (computer names), each with the user in `users` at the
/// same index when given; `extra` fields are merged in (image, zone, tags ...).
#[must_use]
pub fn create_body(names: &[&str], users: &[Option<&str>], extra: &Value) -> Value {
    let desktops: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| match users.get(i).copied().flatten() {
            Some(u) => json!({"computer_name": n, "user_name": u, "user_email": format!("{u}@example.com")}),
            None => json!({"computer_name": n}),
        })
        .collect();
    let mut body = json!({
        "product_id": PRODUCT,
        "image_id": WINDOWS_IMAGE,
        "image_type": "gold",
        "desktops": desktops,
    });
    merge(&mut body, extra);
    body
}

/// Overlays the fields of `extra` (an object) on `body`.
pub fn merge(body: &mut Value, extra: &Value) {
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
}

/// Submits a create request; returns its job id.
pub async fn submit_create(api: &Api, body: &Value) -> String {
    let r = api.post("desktops", body).await;
    job_id(&r, 200)
}

/// The `job_id` of an accepted request.
#[track_caller]
pub fn job_id(r: &Reply, status: u16) -> String {
    let id = r.expect(status)["job_id"].as_str().unwrap_or_default();
    assert!(!id.is_empty(), "{}: no job_id in {}", r.asked, r.text);
    id.to_owned()
}

/// Creates desktops named `names` (no users), waits for the job to succeed and returns
/// their ids in the order of `names`.
pub async fn create(api: &Api, names: &[&str]) -> Vec<String> {
    create_with(api, &create_body(names, &[], &json!({}))).await
}

/// Submits `body` (a `desktops[]` create request), waits for SUCCESS and returns the
/// desktop ids in the order of `body.desktops`.
pub async fn create_with(api: &Api, body: &Value) -> Vec<String> {
    let job = submit_create(api, body).await;
    wait_job_status(api, &job, "SUCCESS").await;
    let by_name: HashMap<String, String> = sub_jobs(api, &[("job_id", job.clone())])
        .await
        .iter()
        .map(|s| {
            (
                s["entities"]["desktop_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                s["entities"]["desktop_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    body["desktops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let name = d["computer_name"].as_str().unwrap_or_default();
            by_name
                .get(name)
                .unwrap_or_else(|| panic!("job {job} has no sub-job for {name}"))
                .clone()
        })
        .collect()
}

/// `GET /workspace-jobs/{id}`.
pub async fn job(api: &Api, id: &str) -> Value {
    api.get(&format!("workspace-jobs/{id}"), &[])
        .await
        .expect(200)
        .clone()
}

/// Waits until the job is SUCCESS or FAIL and returns it.
pub async fn wait_job(api: &Api, id: &str) -> Value {
    wait_job_within(api, id, JOB_BOUND).await
}

/// [`wait_job`] with an explicit bound.
pub async fn wait_job_within(api: &Api, id: &str, bound: Duration) -> Value {
    poll(
        &format!("job {id} to finish"),
        bound,
        api.logs(),
        async || {
            let j = job(api, id).await;
            match j["status"].as_str() {
                Some("SUCCESS" | "FAIL") => Ok(j),
                _ => Err(j.to_string()),
            }
        },
    )
    .await
}

/// Waits for the job to finish with `status` (SUCCESS or FAIL) and returns it.
pub async fn wait_job_status(api: &Api, id: &str, status: &str) -> Value {
    let j = wait_job(api, id).await;
    assert_eq!(j["status"], status, "job {id} ended otherwise: {j}");
    j
}

/// Every sub-job matching `query`, paging through `/workspace-sub-jobs`.
pub async fn sub_jobs(api: &Api, query: &[(&'static str, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let mut qs = query.to_vec();
        qs.push(("offset", out.len().to_string()));
        qs.push(("limit", "1000".to_owned()));
        let r = api.get("workspace-sub-jobs", &qs).await;
        let body = r.expect(200);
        let page = body["jobs"].as_array().cloned().unwrap_or_default();
        let total = body["total_count"].as_u64().unwrap_or(0);
        let n = page.len();
        out.extend(page);
        if n == 0 || out.len() as u64 >= total {
            return out;
        }
    }
}

/// The desktop's sub-jobs, oldest first.
pub async fn desktop_sub_jobs(api: &Api, desktop_id: &str) -> Vec<Value> {
    sub_jobs(api, &[("desktop_id", desktop_id.to_owned())]).await
}

/// `GET /desktops/{id}`'s `desktop`, or `None` on 404.
pub async fn desktop(api: &Api, id: &str) -> Option<Value> {
    let r = api.get(&format!("desktops/{id}"), &[]).await;
    match r.status {
        404 => {
            r.expect_error(404, "WKS.00010404");
            None
        }
        _ => Some(r.expect(200)["desktop"].clone()),
    }
}

/// The desktop, which must exist.
pub async fn must_desktop(api: &Api, id: &str) -> Value {
    desktop(api, id)
        .await
        .unwrap_or_else(|| panic!("desktop {id} does not exist; logs in {}", api.logs()))
}

/// Waits until the desktop has no operation running (`task_status` ""); `None` when it
/// is gone.
pub async fn wait_idle(api: &Api, id: &str) -> Option<Value> {
    poll(
        &format!("desktop {id} to be idle"),
        JOB_BOUND,
        api.logs(),
        async || match desktop(api, id).await {
            None => Ok(None),
            Some(d) if d["task_status"] == "" => Ok(Some(d)),
            Some(d) => Err(state(&d)),
        },
    )
    .await
}

/// Waits until the desktop is gone (404).
pub async fn wait_gone(api: &Api, id: &str) {
    poll(
        &format!("desktop {id} to be deleted"),
        JOB_BOUND,
        api.logs(),
        async || match desktop(api, id).await {
            None => Ok(()),
            Some(d) => Err(state(&d)),
        },
    )
    .await;
}

/// `status/task_status/login_status` of a desktop, for messages.
#[must_use]
pub fn state(d: &Value) -> String {
    format!(
        "{} status={} task_status={:?} login_status={}",
        d["desktop_id"].as_str().unwrap_or("?"),
        d["status"],
        d["task_status"].as_str().unwrap_or("?"),
        d["login_status"]
    )
}

/// `POST /desktops/action` for `ids`.
pub async fn action(api: &Api, ids: &[&str], op_type: &str, mode: Option<&str>) -> Reply {
    let mut body = json!({"desktop_ids": ids, "op_type": op_type});
    if let Some(m) = mode {
        body["type"] = json!(m);
    }
    api.post("desktops/action", &body).await
}

/// Runs an action on `ids`, which must all be accepted, and waits for its job to succeed.
pub async fn act_ok(api: &Api, ids: &[&str], op_type: &str, mode: Option<&str>) -> Value {
    let r = action(api, ids, op_type, mode).await;
    let body = r.expect(200);
    assert_eq!(
        body["failed_operation_list"],
        json!([]),
        "{op_type} refused some desktops: {}",
        r.text
    );
    let id = job_id(&r, 200);
    wait_job_status(api, &id, "SUCCESS").await
}

/// Sets a simulated fault on a desktop (`PUT /sim/v1/desktops/{id}/fault`).
pub async fn put_fault(api: &Api, id: &str, fault: &Value) {
    api.sim(
        http::Method::PUT,
        &format!("desktops/{id}/fault"),
        Some(fault),
    )
    .await
    .expect(200);
}

/// Removes a desktop's simulated fault.
pub async fn clear_fault(api: &Api, id: &str) {
    api.sim(http::Method::DELETE, &format!("desktops/{id}/fault"), None)
        .await
        .expect(204);
}

/// Simulates a user session change (`CONNECTED`, `DISCONNECTED`, `REGISTERED`).
pub async fn session(api: &Api, id: &str, login_status: &str) {
    api.sim(
        http::Method::POST,
        &format!("desktops/{id}/session"),
        Some(&json!({"login_status": login_status})),
    )
    .await
    .expect(204);
}

/// The simulator clock's elapsed simulated milliseconds.
pub async fn sim_clock_ms(api: &Api) -> u64 {
    let r = api.sim(http::Method::GET, "clock", None).await;
    r.expect(200)["elapsed_ms"].as_u64().unwrap_or_default()
}

/// Advances the simulator clock.
pub async fn advance(api: &Api, seconds: f64) {
    api.sim(
        http::Method::POST,
        "clock/advance",
        Some(&json!({ "seconds": seconds })),
    )
    .await
    .expect(200);
}

/// Everything of a project that a refused request must not change.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `(id, status, task_status, login_status, image_id)` of every desktop, in list order.
    pub desktops: Vec<(String, String, String, String, String)>,
    /// Sub-jobs in all.
    pub sub_jobs: u64,
    /// Users in all.
    pub users: u64,
    /// Notification records in all.
    pub notifications: u64,
}

/// Reads a [`Snapshot`].
pub async fn snapshot(api: &Api) -> Snapshot {
    let list = api.get("desktops/detail", &q(&[("limit", "1000")])).await;
    let desktops = list.expect(200)["desktops"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (
                s("desktop_id"),
                s("status"),
                s("task_status"),
                s("login_status"),
                s("image_id"),
            )
        })
        .collect();
    let count = async |rest: &str| {
        let r = api.get(rest, &q(&[("limit", "0")])).await;
        r.expect(200)["total_count"].as_u64().unwrap_or(u64::MAX)
    };
    Snapshot {
        desktops,
        sub_jobs: count("workspace-sub-jobs").await,
        users: count("users").await,
        notifications: count("users/notification-records").await,
    }
}

/// Notification records of the project, newest first.
pub async fn notifications(api: &Api) -> Vec<Value> {
    let r = api
        .get("users/notification-records", &q(&[("limit", "1000")]))
        .await;
    r.expect(200)["notification_records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Puts desktops in ERROR: a rebuild that fails through an injected fault.
pub async fn break_desktops(api: &Api, ids: &[&str]) {
    for id in ids {
        let fault = json!({"fail_next": 1, "ops": ["rebuild"], "error_code": "SIM.BROKEN"});
        put_fault(api, id, &fault).await;
    }
    let body = json!({"desktop_ids": ids, "image_type": "gold", "image_id": LINUX_IMAGE});
    let job = job_id(&api.post("desktops/rebuild", &body).await, 200);
    wait_job_status(api, &job, "FAIL").await;
    for id in ids {
        clear_fault(api, id).await;
        assert_eq!(must_desktop(api, id).await["status"], "ERROR");
    }
}

/// Makes desktops busy: a rebuild waiting its `delay_time`, 600 minutes of simulated time
/// (until a test advances the clock). Returns the rebuild's job id.
pub async fn hold_desktops(api: &Api, ids: &[&str]) -> String {
    let body = json!({"desktop_ids": ids, "image_type": "gold", "image_id": LINUX_IMAGE,
        "delay_time": 600});
    let job = job_id(&api.post("desktops/rebuild", &body).await, 200);
    for id in ids {
        assert_eq!(must_desktop(api, id).await["task_status"], "rebuilding");
    }
    job
}

/// The per-desktop reasons of a whole refusal (`error_detail`, JSON text).
pub fn error_detail(r: &Reply) -> Vec<Value> {
    serde_json::from_str(r.body["error_detail"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("error_detail is not a JSON list ({e}): {}", r.text))
}
