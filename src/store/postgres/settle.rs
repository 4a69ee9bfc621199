//! Finishing sub-jobs: completion fenced by the lease holder's incarnation, forced cancellation,
//! and the job counters both feed.

use super::PostgresStore;
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::job::JobStatus;
use crate::domain::machine::Settled;
use crate::store::{Completion, Holder, StoreResult};
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashSet};

/// (succeeded, failed) to add, per job id. Ordered, so jobs are locked by id.
pub(super) type JobCounts = BTreeMap<String, (i64, i64)>;

impl PostgresStore {
    pub(super) async fn complete_(
        &self,
        holder: &Holder,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let applied = complete_all(&mut tx, &holder.incarnation, done, now_ms).await?;
        tx.commit().await?;
        Ok(applied)
    }
}

async fn complete_all(
    tx: &mut PgConnection,
    incarnation: &str,
    done: &[Completion],
    now_ms: i64,
) -> StoreResult<usize> {
    // 0. The desktops first: the lock order every transaction follows.
    let desktop_ids: Vec<&str> = done.iter().map(|c| c.desktop_id.as_str()).collect();
    sqlx::query("SELECT 1 FROM desktops WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&desktop_ids)
        .execute(&mut *tx)
        .await?;

    // 1. Sub-jobs, fenced: only those still RUNNING under our lease are ours to finish.
    let status: Vec<&str> = done
        .iter()
        .map(|c| {
            if c.error.is_none() {
                "SUCCESS"
            } else {
                "FAILED"
            }
        })
        .collect();
    let code: Vec<Option<&str>> = done
        .iter()
        .map(|c| c.error.as_ref().map(|(code, _)| code.as_str()))
        .collect();
    let reason: Vec<Option<&str>> = done
        .iter()
        .map(|c| c.error.as_ref().map(|(_, reason)| reason.as_str()))
        .collect();
    let owned: HashSet<String> = sqlx::query_scalar(
        "WITH mine AS (SELECT id FROM sub_jobs WHERE id = ANY($1) AND status = 'RUNNING' \
         AND lease_incarnation = $6 ORDER BY id FOR UPDATE), \
         v AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
         AS v(id, status, code, reason, host)) \
         UPDATE sub_jobs s SET status = v.status, error_code = v.code, fail_reason = v.reason, \
         host = v.host, progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, \
         claim_token = NULL, end_ms = $7 FROM mine JOIN v ON v.id = mine.id WHERE s.id = mine.id RETURNING s.id",
    )
    .bind(done.iter().map(|c| c.sub_job_id.as_str()).collect::<Vec<_>>())
    .bind(status)
    .bind(code)
    .bind(reason)
    .bind(done.iter().map(|c| c.host.as_str()).collect::<Vec<_>>())
    .bind(incarnation)
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mine: Vec<&Completion> = done
        .iter()
        .filter(|c| owned.contains(&c.sub_job_id))
        .collect();
    if mine.is_empty() {
        return Ok(0);
    }

    // 2. Desktops that stay: status, login, image/placement, unlocked — one statement.
    let stays: Vec<(&Completion, DesktopStatus, LoginStatus)> = mine
        .iter()
        .filter_map(|c| match c.settled {
            Settled::Stays(s, l) => Some((*c, s, l)),
            Settled::Gone => None,
        })
        .collect();
    if !stays.is_empty() {
        settle_staying(tx, &stays).await?;
    }

    // 3. Desktops that are gone, and users left without a desktop.
    let gone: Vec<&Completion> = mine
        .iter()
        .copied()
        .filter(|c| c.settled == Settled::Gone)
        .collect();
    if !gone.is_empty() {
        sqlx::query(
            "DELETE FROM desktops d USING UNNEST($1::text[], $2::text[]) AS v(id, sub) \
             WHERE d.id = v.id AND d.busy_sub_job = v.sub",
        )
        .bind(
            gone.iter()
                .map(|c| c.desktop_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            gone.iter()
                .map(|c| c.sub_job_id.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        let orphans: Vec<&(String, String)> = gone
            .iter()
            .filter_map(|c| c.delete_orphan_user.as_ref())
            .collect();
        if !orphans.is_empty() {
            delete_orphan_users(tx, &orphans).await?;
        }
    }

    // 4. Jobs: counters and status.
    let mut per_job = JobCounts::new();
    for c in &mine {
        let e = per_job.entry(c.job_id.clone()).or_default();
        if c.error.is_none() {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    settle_jobs(tx, &per_job, now_ms).await?;
    Ok(mine.len())
}

async fn settle_staying(
    tx: &mut PgConnection,
    stays: &[(&Completion, DesktopStatus, LoginStatus)],
) -> StoreResult<()> {
    let image = |c: &Completion| c.new_image.as_ref().map(|(i, _)| i.clone());
    let image_type = |c: &Completion| c.new_image.as_ref().map(|(_, t)| t.clone());
    let host = |c: &Completion| c.placement.as_ref().and_then(|(h, _)| h.clone());
    let ip = |c: &Completion| c.placement.as_ref().and_then(|(_, ip)| ip.clone());
    sqlx::query(
        "UPDATE desktops d SET status = v.status, login_status = v.login, task_status = NULL, \
         busy_sub_job = NULL, image_id = COALESCE(v.image, d.image_id), \
         image_type = COALESCE(v.image_type, d.image_type), host = COALESCE(v.host, d.host), \
         ip_address = COALESCE(v.ip, d.ip_address) \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::text[]) AS v(id, sub, status, login, image, image_type, host, ip) \
         WHERE d.id = v.id AND d.busy_sub_job = v.sub",
    )
    .bind(
        stays
            .iter()
            .map(|(c, _, _)| c.desktop_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        stays
            .iter()
            .map(|(c, _, _)| c.sub_job_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(stays.iter().map(|(_, s, _)| s.as_str()).collect::<Vec<_>>())
    .bind(stays.iter().map(|(_, _, l)| l.as_str()).collect::<Vec<_>>())
    .bind(stays.iter().map(|(c, _, _)| image(c)).collect::<Vec<_>>())
    .bind(
        stays
            .iter()
            .map(|(c, _, _)| image_type(c))
            .collect::<Vec<_>>(),
    )
    .bind(stays.iter().map(|(c, _, _)| host(c)).collect::<Vec<_>>())
    .bind(stays.iter().map(|(c, _, _)| ip(c)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Delete users whose last desktop just went. They are locked first, and only
/// then checked by a new statement, whose snapshot includes desktops that a
/// concurrent create (holding a share lock on the user until it commits)
/// assigned to them.
async fn delete_orphan_users(
    tx: &mut PgConnection,
    orphans: &[&(String, String)],
) -> StoreResult<()> {
    let projects: Vec<&str> = orphans.iter().map(|(p, _)| p.as_str()).collect();
    let names: Vec<&str> = orphans.iter().map(|(_, u)| u.as_str()).collect();
    sqlx::query(
        "SELECT 1 FROM users u JOIN UNNEST($1::text[], $2::text[]) AS v(p, n) \
         ON u.project_id = v.p AND u.user_name = v.n ORDER BY u.id FOR UPDATE OF u",
    )
    .bind(&projects)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM users u USING UNNEST($1::text[], $2::text[]) AS v(p, n) \
         WHERE u.project_id = v.p AND u.user_name = v.n AND NOT EXISTS \
         (SELECT 1 FROM desktops d WHERE d.project_id = u.project_id AND d.user_name = u.user_name)",
    )
    .bind(&projects)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Fail sub-jobs taken over by a forced delete; their jobs count them as failed.
pub(super) async fn cancel_sub_jobs(
    tx: &mut PgConnection,
    ids: &[String],
    now_ms: i64,
) -> StoreResult<()> {
    let code = crate::domain::error_code::Code::Cancelled;
    let jobs: Vec<String> = sqlx::query_scalar(
        "WITH l AS (SELECT id FROM sub_jobs WHERE id = ANY($1) AND status IN ('WAITING', 'RUNNING') \
         ORDER BY id FOR UPDATE) \
         UPDATE sub_jobs s SET status = 'FAILED', error_code = $2, fail_reason = $3, end_ms = $4, \
         progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, claim_token = NULL \
         FROM l WHERE s.id = l.id RETURNING s.job_id",
    )
    .bind(ids)
    .bind(code.wire())
    .bind(code.default_message())
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?;
    let mut per_job = JobCounts::new();
    for j in jobs {
        per_job.entry(j).or_default().1 += 1;
    }
    settle_jobs(tx, &per_job, now_ms).await
}

/// Add (succeeded, failed) to each job's counters and derive its status with
/// `JobStatus::from_counts`, the one rule for it. Jobs are visited in id order.
pub(super) async fn settle_jobs(
    tx: &mut PgConnection,
    per_job: &JobCounts,
    now_ms: i64,
) -> StoreResult<()> {
    for (job_id, (ok, failed)) in per_job {
        let row = sqlx::query(
            "UPDATE jobs SET succeeded = succeeded + $1, failed = failed + $2 WHERE id = $3 \
             RETURNING total, succeeded, failed",
        )
        .bind(ok)
        .bind(failed)
        .bind(job_id)
        .fetch_one(&mut *tx)
        .await?;
        let (total, succeeded, failed): (i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let status = JobStatus::from_counts(total, 1, succeeded, failed);
        if status.is_terminal() && failed > 0 {
            sqlx::query(
                "UPDATE jobs SET status = $1, end_ms = $2, \
                 error_code = (SELECT error_code FROM sub_jobs WHERE job_id = $3 AND status = 'FAILED' \
                 ORDER BY seq LIMIT 1), \
                 fail_reason = $4 || (SELECT fail_reason FROM sub_jobs WHERE job_id = $3 \
                 AND status = 'FAILED' ORDER BY seq LIMIT 1) WHERE id = $3",
            )
            .bind(status.as_str())
            .bind(now_ms)
            .bind(job_id)
            .bind(format!("{failed} of {total} sub-jobs failed; first: "))
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE jobs SET status = $1, end_ms = CASE WHEN $2 THEN $3::bigint ELSE NULL END, \
                 begin_ms = COALESCE(begin_ms, $3), error_code = NULL, fail_reason = NULL WHERE id = $4",
            )
            .bind(status.as_str())
            .bind(status.is_terminal())
            .bind(now_ms)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}
