//! The few Workspace API calls the scenarios make, timed, and bounded waiting for jobs.

use crate::client::{Client, Response};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Product of the desktops the bench creates (a built-in catalog default).
const PRODUCT_ID: &str = "workspace.x86.general.xlarge2";
/// Image they are created from (built-in gold Windows image).
const CREATE_IMAGE: &str = "63aa8670-27ad-4747-8c44-6d8919e785a7";
/// Image they are rebuilt to (built-in gold Linux image).
pub const REBUILD_IMAGE: &str = "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11";
/// Longest pause between two polls of a running job.
const MAX_POLL: Duration = Duration::from_millis(100);
/// Sub-jobs per page when reading a job's desktops (the default `max_page`).
const PAGE: usize = 1000;

/// A request the server accepted.
pub struct Accepted {
    /// Its job.
    pub job_id: String,
    /// Time from sending the request to reading the whole answer.
    pub latency: Duration,
    /// Desktops the server refused to queue.
    pub refused: usize,
}

/// What a batch request asks of its desktops.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// `os-stop` SOFT.
    Stop,
    /// `os-start`.
    Start,
    /// `reboot` SOFT.
    Reboot,
    /// `rebuild` to [`REBUILD_IMAGE`].
    Rebuild,
}

impl Op {
    /// As the table shows it.
    pub fn label(self) -> &'static str {
        match self {
            Op::Stop => "os-stop",
            Op::Start => "os-start",
            Op::Reboot => "reboot",
            Op::Rebuild => "rebuild",
        }
    }
}

/// How a job ended.
pub struct Finished {
    /// SUCCESS or FAIL.
    pub status: String,
    /// The server's reason when it failed.
    pub fail_reason: Option<String>,
}

fn path(client: &Client, rest: &str) -> String {
    format!("/v2/{}/{rest}", client.project_id())
}

/// `POST /desktops` with `size` desktops named after `prefix`.
pub async fn create(client: &Client, prefix: &str, size: usize) -> anyhow::Result<Accepted> {
    let body = json!({
        "product_id": PRODUCT_ID,
        "image_id": CREATE_IMAGE,
        "image_type": "gold",
        "size": size,
        "desktop_name": prefix,
    });
    let started = Instant::now();
    let r = client.post(&path(client, "desktops"), &body).await?;
    let latency = started.elapsed();
    let v = expect_ok(&r, "create desktops")?;
    Ok(Accepted {
        job_id: job_id(&v)?,
        latency,
        refused: 0,
    })
}

/// `POST /desktops/action` or `/desktops/rebuild` for `ids`.
pub async fn batch(client: &Client, op: Op, ids: &[String]) -> anyhow::Result<Accepted> {
    let (rest, body) = match op {
        Op::Stop | Op::Start | Op::Reboot => {
            let op_type = op.label();
            (
                "desktops/action",
                json!({"desktop_ids": ids, "op_type": op_type, "type": "SOFT"}),
            )
        }
        Op::Rebuild => (
            "desktops/rebuild",
            json!({"desktop_ids": ids, "image_id": REBUILD_IMAGE, "image_type": "gold"}),
        ),
    };
    let started = Instant::now();
    let r = client.post(&path(client, rest), &body).await?;
    let latency = started.elapsed();
    let v = expect_ok(&r, op.label())?;
    let refused = match op {
        Op::Rebuild => usize::from(v.get("error_code").is_some_and(|c| !c.is_null())),
        _ => v
            .get("failed_operation_list")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
    };
    Ok(Accepted {
        job_id: job_id(&v)?,
        latency,
        refused,
    })
}

/// Poll until every sub-job of job `id` is SUCCESS or FAILED, or `deadline` passes.
///
/// `GET /workspace-jobs/{id}` answers with up to 1,000 sub-jobs, which would make the bench's
/// own polling a large part of what it measures; counting the job's sub-jobs by status with
/// `GET /workspace-sub-jobs?job_id=&status=&limit=0` costs the server a fraction of that.
/// Sub-jobs never leave SUCCESS or FAILED unless someone retries the job, so once those two
/// counts add up to the job's total the job is over.
pub async fn wait_job(client: &Client, id: &str, deadline: Instant) -> anyhow::Result<Finished> {
    let total = sub_jobs(client, id, None, 0).await?.0;
    // Start fast (a small job is done in milliseconds), back off to MAX_POLL so a long
    // phase costs the server a few requests per second rather than a stream of them.
    let mut pause = Duration::from_millis(2);
    loop {
        let (failed, first) = sub_jobs(client, id, Some("FAILED"), 1).await?;
        let (succeeded, _) = sub_jobs(client, id, Some("SUCCESS"), 0).await?;
        if succeeded + failed >= total {
            let status = if failed == 0 { "SUCCESS" } else { "FAIL" };
            return Ok(Finished {
                status: status.to_owned(),
                fail_reason: first
                    .map(|reason| format!("{failed} of {total} failed; first: {reason}")),
            });
        }
        if Instant::now() >= deadline {
            bail!("job {id}: {succeeded} succeeded and {failed} failed of {total} at the deadline");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// How many sub-jobs of `job_id` have `status` (any status when `None`), and the first one's
/// `fail_reason` when `limit` lets one through.
async fn sub_jobs(
    client: &Client,
    job_id: &str,
    status: Option<&str>,
    limit: usize,
) -> anyhow::Result<(u64, Option<String>)> {
    let mut query = vec![("job_id", job_id.to_owned()), ("limit", limit.to_string())];
    if let Some(s) = status {
        query.push(("status", s.to_owned()));
    }
    let r = client
        .get(&path(client, "workspace-sub-jobs"), &query)
        .await?;
    let v = expect_ok(&r, "list sub-jobs")?;
    let count = v
        .get("total_count")
        .and_then(Value::as_u64)
        .context("sub-job list without total_count")?;
    let first = v
        .pointer("/jobs/0/fail_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((count, first))
}

/// Wait for every job in submission order (the engine runs them roughly in that order, so
/// most are already done when their turn comes); returns the failed ones' reasons.
pub async fn wait_all(
    client: &Client,
    ids: &[String],
    deadline: Instant,
) -> anyhow::Result<Vec<String>> {
    let mut failed = Vec::new();
    for id in ids {
        let end = wait_job(client, id, deadline).await?;
        if end.status != "SUCCESS" {
            failed.push(end.fail_reason.unwrap_or(end.status));
        }
    }
    Ok(failed)
}

/// The desktops of a job, from its sub-jobs (`GET /workspace-sub-jobs?job_id=`).
pub async fn job_desktops(client: &Client, job_id: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    loop {
        let query = [
            ("job_id", job_id.to_owned()),
            ("offset", ids.len().to_string()),
            ("limit", PAGE.to_string()),
        ];
        let r = client
            .get(&path(client, "workspace-sub-jobs"), &query)
            .await?;
        let v = expect_ok(&r, "list sub-jobs")?;
        let page = v
            .get("jobs")
            .and_then(Value::as_array)
            .context("sub-job list without jobs")?;
        for s in page {
            let id = s
                .pointer("/entities/desktop_id")
                .and_then(Value::as_str)
                .context("sub-job without entities.desktop_id")?;
            ids.push(id.to_owned());
        }
        let total = v.get("total_count").and_then(Value::as_u64).unwrap_or(0);
        if page.is_empty() || ids.len() as u64 >= total {
            return Ok(ids);
        }
    }
}

/// Desktops the `get` scenario can read when no other scenario made any.
pub async fn some_desktops(client: &Client, deadline: Instant) -> anyhow::Result<Vec<String>> {
    let a = create(client, "getx", 100).await?;
    let failed = wait_all(client, std::slice::from_ref(&a.job_id), deadline).await?;
    if let Some(reason) = failed.first() {
        bail!("creating desktops to read failed: {reason}");
    }
    job_desktops(client, &a.job_id).await
}

fn expect_ok(r: &Response, what: &str) -> anyhow::Result<Value> {
    if !(200..300).contains(&r.status) {
        bail!(
            "{what}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(r.json()?)
}

fn job_id(v: &Value) -> anyhow::Result<String> {
    v.get("job_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("response without job_id")
}
