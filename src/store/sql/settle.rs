//! Finishing sub-jobs, written once: recording completions (fenced by the
//! lease holder's incarnation) and what `domain::completion::plan` says follows,
//! cancelling sub-jobs a forced delete took over, and the job counters both feed.

use super::bulk::Bulk;
use super::{Exec, q};
use crate::domain::completion::{self, Completion};
use crate::domain::ids::{DesktopId, JobId, SubJobId};
use crate::domain::job::JobStatus;
use crate::store::StoreResult;
use std::collections::BTreeMap;

/// (succeeded, failed) to add, per job; ordered, so jobs are updated by id (the
/// last step of the lock order every transaction follows).
pub type JobCounts = BTreeMap<JobId, (i64, i64)>;

/// Records `done` for the holder `incarnation` inside `tx`: only sub-jobs still
/// RUNNING under its lease are finished; then their desktops settle (or go,
/// with users left without desktops when asked) and their jobs count them.
/// Returns how many were recorded.
pub async fn complete<T: Bulk>(
    tx: &mut T,
    incarnation: &str,
    done: &[Completion],
    now_ms: i64,
) -> StoreResult<usize> {
    if done.is_empty() {
        return Ok(0);
    }
    // The desktops first: the lock order every transaction follows.
    let desktops: Vec<DesktopId> = done.iter().map(|c| c.desktop_id).collect();
    tx.lock_desktops(&desktops).await?;
    let mut recorded = tx.finish_sub_jobs(incarnation, done, now_ms).await?;
    // Each recorded (sub-job, claim) once, however often it was reported.
    let plan = completion::plan(
        done.iter()
            .filter(|c| recorded.remove(&(c.sub_job_id, c.claim))),
    );
    if plan.counts.is_empty() {
        return Ok(0);
    }
    tx.settle_desktops(&plan.stays).await?;
    tx.remove_desktops(&plan.gone).await?;
    tx.delete_orphan_users(&plan.orphan_users).await?;
    settle_jobs(tx, &plan.counts, now_ms).await?;
    Ok(plan.stays.len() + plan.gone.len())
}

/// Fails sub-jobs a forced delete took over; their jobs count them as failed.
pub async fn cancel<T: Bulk>(tx: &mut T, ids: &[SubJobId], now_ms: i64) -> StoreResult<()> {
    let mut counts = JobCounts::new();
    for job in tx.cancel_sub_jobs(ids, now_ms).await? {
        counts.entry(job).or_default().1 += 1;
    }
    settle_jobs(tx, &counts, now_ms).await
}

/// Adds (succeeded, failed) to each job's counters and derives its status with
/// `JobStatus::from_counts`, the one rule for it; a finished job with failures
/// names its first failed sub-job.
pub async fn settle_jobs<T: Exec>(tx: &mut T, counts: &JobCounts, now_ms: i64) -> StoreResult<()> {
    for (job_id, (ok, failed)) in counts {
        let add = "UPDATE jobs SET succeeded = succeeded + $1, failed = failed + $2 WHERE id = $3 \
                   RETURNING total, succeeded, failed";
        let now = tx
            .fetch_optional(q!(add; *ok, *failed, job_id), |r| {
                Ok((r.int(0)?, r.int(1)?, r.int(2)?))
            })
            .await?;
        let Some((total, succeeded, failed)) = now else {
            continue;
        };
        let status = JobStatus::from_counts(total, 1, succeeded, failed);
        if status.is_terminal() && failed > 0 {
            let sql = "UPDATE jobs SET status = $1, end_ms = $2, \
                       error_code = (SELECT error_code FROM sub_jobs WHERE job_id = $3 \
                       AND status = 'FAILED' ORDER BY seq LIMIT 1), \
                       fail_reason = $4 || (SELECT fail_reason FROM sub_jobs WHERE job_id = $3 \
                       AND status = 'FAILED' ORDER BY seq LIMIT 1) WHERE id = $3";
            let prefix = format!("{failed} of {total} sub-jobs failed; first: ");
            tx.execute(q!(sql; status.as_str(), now_ms, job_id, prefix))
                .await?;
        } else {
            let end = status.is_terminal().then_some(now_ms);
            let sql = "UPDATE jobs SET status = $1, end_ms = $2, begin_ms = COALESCE(begin_ms, $3), \
                       error_code = NULL, fail_reason = NULL WHERE id = $4";
            tx.execute(q!(sql; status.as_str(), end, now_ms, job_id))
                .await?;
        }
    }
    Ok(())
}
