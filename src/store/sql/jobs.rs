//! Submitting jobs and reading them back, written once. Each submission is one
//! transaction: the store loads and locks the desktops a request names, asks
//! `domain::admission` about each, and writes the job, its sub-jobs and the
//! desktops' locks — or nothing.

use super::bulk::{Bulk, NewSub, Requeue};
use super::decode::{self, JOB_COLS, SUB_JOB_COLS};
use super::{Db, Dialect, Exec, Sql, q, settle};
use crate::domain::admission::{self, Candidate, Verdict};
use crate::domain::ids::{DesktopId, JobId, ProjectId, SubJobId};
use crate::domain::job::JobStatus;
use crate::domain::machine::{Operation, Snapshot};
use crate::store::{
    BatchOutcome, DesktopRow, JobRow, Jobs, NewDesktop, NewJob, Refused, RetryOutcome, StoreResult,
    SubJobFilter, SubJobRow, UserRow,
};
use std::collections::HashMap;

/// What admission sees of a loaded desktop.
pub(crate) fn candidate(d: &DesktopRow) -> Candidate<'_> {
    Candidate {
        project_id: &d.project_id,
        state: Snapshot {
            status: d.status,
            task: d.task_status,
            login: d.login_status,
        },
        held_by: d.busy_sub_job,
    }
}

/// A refused desktop as the API reports it: a desktop that is absent or not the
/// caller's reveals nothing.
pub(crate) fn refused(
    id: &DesktopId,
    d: Option<&DesktopRow>,
    reason: admission::Rejection,
) -> Refused {
    let visible = d.filter(|_| matches!(reason, admission::Rejection::State(_)));
    Refused {
        desktop_id: id.to_string(),
        desktop_name: visible.map(|d| d.computer_name.clone()),
        status: visible.map(|d| d.status),
        reason,
    }
}

/// Inserts a job row in WAITING with `total` sub-jobs.
pub(crate) async fn insert_job<T: Exec>(tx: &mut T, job: &NewJob, total: usize) -> StoreResult<()> {
    let sql = "INSERT INTO jobs (id, project_id, job_type, status, params, requested_by, total, \
               created_ms, pool_id) VALUES ($1, $2, $3, 'WAITING', $4, $5, $6, $7, $8)";
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    let stmt = q!(sql; &job.id, &job.project_id, job.job_type.as_str(), &job.params, &job.requested_by, total, job.now_ms, &job.pool_id);
    tx.execute(stmt).await.map(drop)
}

/// The filter of a sub-job listing, after `head`.
fn sub_filter<'a>(dialect: Dialect, head: &str, f: &'a SubJobFilter) -> Sql<'a> {
    let mut sql = Sql::new(dialect, head);
    // With a job or desktop to look in, `+` keeps SQLite (no statistics) from
    // walking the project's whole sub-job index instead of that job's or desktop's.
    let narrow = f.job_id.is_some() || f.desktop_id.is_some();
    sql.push(if narrow && dialect == Dialect::Sqlite {
        " WHERE +s.project_id = "
    } else {
        " WHERE s.project_id = "
    })
    .bind(&f.project_id);
    for (column, value) in [
        ("s.job_id", &f.job_id),
        ("s.job_type", &f.job_type),
        ("s.status", &f.status),
        ("s.desktop_id", &f.desktop_id),
        ("j.pool_id", &f.pool_id),
    ] {
        if let Some(v) = value {
            sql.push(" AND ").push(column).push(" = ").bind(v);
        }
    }
    sql
}

#[async_trait::async_trait]
impl<D: Db> Jobs for D {
    async fn submit_create(
        &self,
        job: &NewJob,
        desktops: &[NewDesktop],
        users: &[UserRow],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        super::desktops::reserve_names(&mut tx, D::DIALECT, &job.project_id, desktops).await?;
        tx.insert_users(users).await?;
        insert_job(&mut tx, job, desktops.len()).await?;
        let subs: Vec<NewSub<'_>> = desktops
            .iter()
            .map(|d| NewSub::new(&d.row, Operation::Create))
            .collect();
        tx.insert_desktops(&subs).await?;
        tx.insert_sub_jobs(job, &subs).await?;
        D::commit(tx).await
    }

    async fn submit_batch(
        &self,
        job: &NewJob,
        op: Operation,
        force: bool,
        scope: admission::Scope,
        desktop_ids: &[DesktopId],
    ) -> StoreResult<BatchOutcome> {
        let mut tx = self.begin().await?;
        let rows = tx.lock_desktops(desktop_ids).await?;
        let by_id: HashMap<DesktopId, &DesktopRow> = rows.iter().map(|d| (d.id, d)).collect();
        let found = |id: &DesktopId| by_id.get(id).copied();
        let verdicts: Vec<Verdict> = desktop_ids
            .iter()
            .map(|id| admission::batch(op, force, &job.project_id, found(id).map(candidate)))
            .collect();
        let mut out = BatchOutcome::default();
        let mut accepted = Vec::new();
        let mut to_cancel = Vec::new();
        for (id, v) in desktop_ids.iter().zip(&verdicts) {
            match v {
                Verdict::Accept { takes_over } => {
                    to_cancel.extend(*takes_over);
                    accepted.extend(found(id));
                }
                Verdict::Reject(r) => out.refused.push(refused(id, found(id), r.clone())),
            }
        }
        // Dropping the transaction rolls back: the locks go, nothing was written.
        if !admission::batch_writes(&verdicts, scope) {
            return Ok(out);
        }
        if !to_cancel.is_empty() {
            settle::cancel(&mut tx, &to_cancel, job.now_ms).await?;
            out.cancelled_sub_jobs = to_cancel;
        }
        insert_job(&mut tx, job, accepted.len()).await?;
        let subs: Vec<NewSub<'_>> = accepted.iter().map(|d| NewSub::new(d, op)).collect();
        tx.insert_sub_jobs(job, &subs).await?;
        tx.mark_busy(&subs).await?;
        D::commit(tx).await?;
        out.accepted = accepted.into_iter().cloned().collect();
        Ok(out)
    }

    async fn retry_job(
        &self,
        project_id: &ProjectId,
        job_id: &JobId,
        now_ms: i64,
    ) -> StoreResult<RetryOutcome> {
        let _ = now_ms;
        let mut tx = self.begin().await?;
        // The lock order: desktops, then sub-jobs, then the job. A concurrent
        // retry of the same job holds the same desktops, so once we have them its
        // sub-jobs are no longer FAILED and its job no longer terminal: both are
        // read after the lock.
        let failed_desktops = "SELECT s.desktop_id FROM sub_jobs s JOIN jobs j ON j.id = s.job_id \
                               WHERE s.job_id = $1 AND j.project_id = $2 AND s.status = 'FAILED'";
        let ids = tx
            .fetch(q!(failed_desktops; job_id, project_id), |r| {
                decode::typed(r, 0, "desktop id")
            })
            .await?;
        let rows = tx.lock_desktops(&ids).await?;
        let by_id: HashMap<DesktopId, &DesktopRow> = rows.iter().map(|d| (d.id, d)).collect();
        let find_job = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE id = $1 AND project_id = $2{}",
            D::DIALECT.for_update()
        );
        let Some(j) = tx
            .fetch_optional(q!(&find_job; job_id, project_id), decode::job)
            .await?
        else {
            return Ok(RetryOutcome::NotFound);
        };
        if !j.status.is_terminal() {
            return Ok(RetryOutcome::NotFinished);
        }
        let failed_subs = "SELECT id, desktop_id, operation FROM sub_jobs \
                           WHERE job_id = $1 AND status = 'FAILED' ORDER BY seq";
        let failed = tx
            .fetch(q!(failed_subs; job_id), |r| {
                Ok((
                    decode::typed::<SubJobId>(r, 0, "sub-job id")?,
                    decode::typed::<DesktopId>(r, 1, "desktop id")?,
                    decode::typed::<Operation>(r, 2, "operation")?,
                ))
            })
            .await?;
        let mut requeue = Vec::new();
        let mut refusals = Vec::new();
        for (sub_id, desktop_id, op) in &failed {
            let d = by_id.get(desktop_id).copied();
            match admission::retry(*op, j.params.is_force_delete, d.map(candidate)) {
                Verdict::Accept { .. } => requeue.extend(d.map(|desktop| Requeue {
                    sub_job_id: *sub_id,
                    desktop,
                    operation: *op,
                })),
                Verdict::Reject(r) => refusals.push(refused(desktop_id, d, r)),
            }
        }
        if requeue.is_empty() {
            return Ok(RetryOutcome::Retried {
                requeued: 0,
                refused: refusals,
            });
        }
        tx.requeue_failed(job_id, &requeue).await?;
        let failed_left = j.failed - i64::try_from(requeue.len()).unwrap_or(0);
        let status = JobStatus::from_counts(j.total, 0, j.succeeded, failed_left);
        let reopen = "UPDATE jobs SET failed = $1, status = $2, end_ms = NULL, error_code = NULL, \
                      fail_reason = NULL WHERE id = $3";
        tx.execute(q!(reopen; failed_left, status.as_str(), job_id))
            .await?;
        D::commit(tx).await?;
        Ok(RetryOutcome::Retried {
            requeued: requeue.len(),
            refused: refusals,
        })
    }

    async fn get_job(&self, project_id: &ProjectId, job_id: &JobId) -> StoreResult<Option<JobRow>> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1 AND project_id = $2");
        self.reader()
            .fetch_optional(q!(&sql; job_id, project_id), decode::job)
            .await
    }

    async fn list_sub_jobs(&self, f: &SubJobFilter) -> StoreResult<(Vec<SubJobRow>, i64)> {
        let from = "FROM sub_jobs s JOIN jobs j ON j.id = s.job_id";
        let count = sub_filter(D::DIALECT, &format!("SELECT COUNT(*) {from}"), f);
        let total = self.reader().scalar(count.query()).await?;
        let mut page = sub_filter(D::DIALECT, &format!("SELECT {SUB_JOB_COLS} {from}"), f);
        page.push(if f.newest_first {
            " ORDER BY s.seq DESC"
        } else {
            " ORDER BY s.seq"
        })
        .page(f.limit, f.offset);
        let rows = self.reader().fetch(page.query(), decode::sub_job).await?;
        Ok((rows, total))
    }
}
