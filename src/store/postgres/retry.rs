//! Re-running the FAILED sub-jobs of a finished job, in place.

use super::PostgresStore;
use super::decode::{DESKTOP_COLS, JOB_COLS, desktop, job, parse};
use super::submit::lock_desktops;
use crate::domain::desktop::TaskStatus;
use crate::domain::job::JobStatus;
use crate::domain::machine::{Operation, Refusal, Snapshot};
use crate::store::{BatchRefusal, DesktopRow, Refused, RetryOutcome, StoreResult};
use sqlx::Row;

impl PostgresStore {
    pub(super) async fn retry_job_(
        &self,
        project_id: &str,
        job_id: &str,
        now_ms: i64,
    ) -> StoreResult<RetryOutcome> {
        let _ = now_ms;
        let mut tx = self.pool.begin().await?;
        let find_job = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1 AND project_id = $2");
        let Some(row) = sqlx::query(&find_job)
            .bind(job_id)
            .bind(project_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(RetryOutcome::NotFound);
        };
        if !job(&row)?.status.is_terminal() {
            return Ok(RetryOutcome::NotFinished);
        }
        // Lock in the global order — desktops, sub-jobs, job — then read again:
        // a concurrent retry of the same job holds the same desktops, so once we
        // have them its sub-jobs are no longer FAILED and its job no longer terminal.
        let desktop_ids: Vec<String> = sqlx::query_scalar(
            "SELECT desktop_id FROM sub_jobs WHERE job_id = $1 AND status = 'FAILED'",
        )
        .bind(job_id)
        .fetch_all(&mut *tx)
        .await?;
        lock_desktops(&mut tx, &desktop_ids).await?;
        let mut failed = sqlx::query(&format!(
            "SELECT s.id, s.desktop_id, s.operation, s.seq, {DESKTOP_COLS} FROM sub_jobs s \
             LEFT JOIN desktops d ON d.id = s.desktop_id \
             WHERE s.job_id = $1 AND s.status = 'FAILED' ORDER BY s.id FOR UPDATE OF s"
        ))
        .bind(job_id)
        .fetch_all(&mut *tx)
        .await?;
        failed.sort_by_key(|r| r.try_get::<i64, _>(3).unwrap_or(i64::MAX));
        let Some(row) = sqlx::query(&format!("{find_job} FOR UPDATE"))
            .bind(job_id)
            .bind(project_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(RetryOutcome::NotFound);
        };
        let j = job(&row)?;
        if !j.status.is_terminal() {
            return Ok(RetryOutcome::NotFinished);
        }
        let force = serde_json::from_str::<serde_json::Value>(&j.params)
            .ok()
            .and_then(|p| {
                p.get("is_force_delete")
                    .and_then(serde_json::Value::as_bool)
            })
            .unwrap_or(false);
        let mut requeue: Vec<(String, DesktopRow, Operation)> = Vec::new();
        let mut refused = Vec::new();
        for r in &failed {
            let sub_id: String = r.try_get(0)?;
            let desktop_id: String = r.try_get(1)?;
            let op: Operation = parse("operation", &r.try_get::<String, _>(2)?)?;
            let present: Option<String> = r.try_get(4)?;
            if present.is_none() {
                refused.push(Refused {
                    desktop_id,
                    desktop_name: None,
                    status: None,
                    reason: BatchRefusal::NotFound,
                });
                continue;
            }
            let d = desktop(r, 4)?;
            let snap = Snapshot {
                status: d.status,
                task: d.task_status,
                login: d.login_status,
            };
            let refusal = match op.check(snap, force && op == Operation::Delete) {
                Ok(_) if d.busy_sub_job.is_none() => {
                    requeue.push((sub_id, d, op));
                    continue;
                }
                Ok(_) => Refusal::Busy(d.task_status.unwrap_or(TaskStatus::Deleting)),
                Err(e) => e,
            };
            refused.push(Refused {
                desktop_id,
                desktop_name: Some(d.computer_name.clone()),
                status: Some(d.status),
                reason: BatchRefusal::State(refusal),
            });
        }
        if requeue.is_empty() {
            return Ok(RetryOutcome::Retried {
                requeued: 0,
                refused,
            });
        }
        let subs: Vec<&str> = requeue.iter().map(|(s, _, _)| s.as_str()).collect();
        let desks: Vec<&str> = requeue.iter().map(|(_, d, _)| d.id.as_str()).collect();
        sqlx::query(
            "UPDATE sub_jobs s SET status = 'WAITING', attempt = attempt + 1, progress = 0, \
             error_code = NULL, fail_reason = NULL, begin_ms = NULL, end_ms = NULL, host = NULL, \
             lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, claim_token = NULL, \
             prev_status = v.status, \
             prev_login = v.login FROM UNNEST($1::text[], $2::text[], $3::text[]) AS v(id, status, login) \
             WHERE s.id = v.id",
        )
        .bind(&subs)
        .bind(
            requeue
                .iter()
                .map(|(_, d, _)| d.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            requeue
                .iter()
                .map(|(_, d, _)| d.login_status.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE desktops d SET task_status = v.task, busy_sub_job = v.sub \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS v(id, sub, task) WHERE d.id = v.id",
        )
        .bind(&desks)
        .bind(&subs)
        .bind(
            requeue
                .iter()
                .map(|(_, _, op)| op.task_status().as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        let n = i64::try_from(requeue.len()).unwrap_or(0);
        let failed_left = j.failed - n;
        let status = JobStatus::from_counts(j.total, 0, j.succeeded, failed_left);
        sqlx::query(
            "UPDATE jobs SET failed = $1, status = $2, end_ms = NULL, error_code = NULL, \
             fail_reason = NULL WHERE id = $3",
        )
        .bind(failed_left)
        .bind(status.as_str())
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RetryOutcome::Retried {
            requeued: requeue.len(),
            refused,
        })
    }
}
