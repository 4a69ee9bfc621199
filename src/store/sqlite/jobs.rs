//! Jobs: submission (one transaction per request), claiming with leases,
//! completion fenced by owner, recovery of orphans, reading.

use super::decode::{DESKTOP_COLS, JOB_COLS, SUB_JOB_COLS, desktop, job, parse, sub_job};
use super::{CHUNK, SqliteStore, reserve_seq};
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::job::JobStatus;
use crate::domain::machine::{Operation, Settled, Snapshot};
use crate::store::{
    BatchOutcome, BatchRefusal, Claimed, Completion, DesktopRow, Holder, JobRow, NewDesktop,
    NewJob, OrphanScope, Refused, RetryOutcome, StoreResult, SubJobFilter, SubJobRow, UserRow,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;

/// A sub-job about to be inserted.
pub(super) struct NewSub<'a> {
    pub(super) id: String,
    pub(super) desktop: &'a DesktopRow,
    pub(super) operation: Operation,
}

impl SqliteStore {
    pub(super) async fn submit_create_(
        &self,
        job: &NewJob,
        desktops: &[NewDesktop],
        users: &[UserRow],
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        Self::write_create(&mut tx, job, desktops, users).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The writes of `submit_create` inside the caller's transaction (a pool
    /// is created with its desktops, all or nothing).
    pub(super) async fn write_create(
        tx: &mut SqliteConnection,
        job: &NewJob,
        desktops: &[NewDesktop],
        users: &[UserRow],
    ) -> StoreResult<()> {
        for chunk in users.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, created_ms) ",
            );
            qb.push_values(chunk, |mut b, u| {
                b.push_bind(&u.id)
                    .push_bind(&u.project_id)
                    .push_bind(&u.user_name)
                    .push_bind(&u.user_email)
                    .push_bind(&u.user_phone)
                    .push_bind(&u.description)
                    .push_bind(u.created_ms);
            });
            qb.push(" ON CONFLICT (project_id, user_name) DO NOTHING");
            qb.build().execute(&mut *tx).await?;
        }
        let first = reserve_seq(tx, desktops.len()).await?;
        insert_job(tx, job, desktops.len()).await?;
        let subs: Vec<NewSub<'_>> = desktops
            .iter()
            .map(|d| NewSub {
                id: crate::domain::ids::SubJobId::new().to_string(),
                desktop: &d.row,
                operation: Operation::Create,
            })
            .collect();
        for (n, chunk) in subs.chunks(CHUNK).enumerate() {
            let base = first + i64::try_from(n * CHUNK).unwrap_or(0);
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO desktops (id, project_id, seq, computer_name, status, task_status, login_status, \
                 busy_sub_job, user_name, user_email, desktop_type, pool_id, product_id, image_id, image_type, \
                 availability_zone, ip_address, host, root_volume, data_volumes, tags, created_ms) ",
            );
            let mut i = 0i64;
            qb.push_values(chunk, |mut b, s| {
                let d = s.desktop;
                b.push_bind(&d.id)
                    .push_bind(&d.project_id)
                    .push_bind(base + i)
                    .push_bind(&d.computer_name)
                    .push_bind(DesktopStatus::Build.as_str())
                    .push_bind(Operation::Create.task_status().as_str())
                    .push_bind(LoginStatus::Unregister.as_str())
                    .push_bind(&s.id)
                    .push_bind(&d.user_name)
                    .push_bind(&d.user_email)
                    .push_bind(d.desktop_type.as_str())
                    .push_bind(&d.pool_id)
                    .push_bind(&d.product_id)
                    .push_bind(&d.image_id)
                    .push_bind(&d.image_type)
                    .push_bind(&d.availability_zone)
                    .push_bind(&d.ip_address)
                    .push_bind(&d.host)
                    .push_bind(&d.root_volume)
                    .push_bind(&d.data_volumes)
                    .push_bind(&d.tags)
                    .push_bind(d.created_ms);
                i += 1;
            });
            qb.build().execute(&mut *tx).await?;
            insert_subs(tx, job, chunk, base).await?;
        }
        Ok(())
    }

    pub(super) async fn submit_batch_(
        &self,
        job: &NewJob,
        op: Operation,
        force: bool,
        atomic: bool,
        desktop_ids: &[String],
    ) -> StoreResult<BatchOutcome> {
        let mut tx = self.write.begin().await?;
        let rows = load_desktops(&mut tx, desktop_ids).await?;
        let by_id: HashMap<&str, &DesktopRow> = rows.iter().map(|d| (d.id.as_str(), d)).collect();
        let mut out = BatchOutcome::default();
        let mut accepted: Vec<&DesktopRow> = Vec::new();
        let mut to_cancel: Vec<String> = Vec::new();
        for id in desktop_ids {
            let Some(d) = by_id.get(id.as_str()) else {
                out.refused.push(Refused {
                    desktop_id: id.clone(),
                    desktop_name: None,
                    status: None,
                    reason: BatchRefusal::NotFound,
                });
                continue;
            };
            if d.project_id != job.project_id {
                out.refused.push(Refused {
                    desktop_id: id.clone(),
                    desktop_name: None,
                    status: None,
                    reason: BatchRefusal::OtherProject,
                });
                continue;
            }
            let snap = Snapshot {
                status: d.status,
                task: d.task_status,
                login: d.login_status,
            };
            match op.check(snap, force) {
                Ok(_) => {
                    if let Some(holder) = &d.busy_sub_job {
                        to_cancel.push(holder.clone());
                    }
                    accepted.push(d);
                }
                Err(r) => out.refused.push(Refused {
                    desktop_id: id.clone(),
                    desktop_name: Some(d.computer_name.clone()),
                    status: Some(d.status),
                    reason: BatchRefusal::State(r),
                }),
            }
        }
        if accepted.is_empty() || (atomic && !out.refused.is_empty()) {
            return Ok(out);
        }
        if !to_cancel.is_empty() {
            cancel_sub_jobs(&mut tx, &to_cancel, job.now_ms).await?;
            out.cancelled_sub_jobs = to_cancel;
        }
        let first = reserve_seq(&mut tx, accepted.len()).await?;
        insert_job(&mut tx, job, accepted.len()).await?;
        let subs: Vec<NewSub<'_>> = accepted
            .iter()
            .map(|d| NewSub {
                id: crate::domain::ids::SubJobId::new().to_string(),
                desktop: d,
                operation: op,
            })
            .collect();
        for (n, chunk) in subs.chunks(CHUNK).enumerate() {
            let base = first + i64::try_from(n * CHUNK).unwrap_or(0);
            insert_subs(&mut tx, job, chunk, base).await?;
            lock_desktops(
                &mut tx,
                &job.id,
                op,
                chunk.iter().map(|s| s.desktop.id.as_str()),
            )
            .await?;
        }
        tx.commit().await?;
        out.accepted = accepted.into_iter().cloned().collect();
        Ok(out)
    }

    pub(super) async fn retry_job_(
        &self,
        project_id: &str,
        job_id: &str,
        now_ms: i64,
    ) -> StoreResult<RetryOutcome> {
        let mut tx = self.write.begin().await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE id = ? AND project_id = ?"
        ))
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
        let failed = sqlx::query(&format!(
            "SELECT s.id, s.desktop_id, s.operation, {DESKTOP_COLS} FROM sub_jobs s \
             LEFT JOIN desktops d ON d.id = s.desktop_id WHERE s.job_id = ? AND s.status = 'FAILED' ORDER BY s.seq"
        ))
        .bind(job_id)
        .fetch_all(&mut *tx)
        .await?;
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
            let present: Option<String> = r.try_get(3)?;
            if present.is_none() {
                refused.push(Refused {
                    desktop_id,
                    desktop_name: None,
                    status: None,
                    reason: BatchRefusal::NotFound,
                });
                continue;
            }
            let d = desktop(r, 3)?;
            let snap = Snapshot {
                status: d.status,
                task: d.task_status,
                login: d.login_status,
            };
            match op.check(snap, force && op == Operation::Delete) {
                Ok(_) if d.busy_sub_job.is_none() => requeue.push((sub_id, d, op)),
                Ok(_) => refused.push(Refused {
                    desktop_id,
                    desktop_name: Some(d.computer_name.clone()),
                    status: Some(d.status),
                    reason: BatchRefusal::State(crate::domain::machine::Refusal::Busy(
                        d.task_status
                            .unwrap_or(crate::domain::desktop::TaskStatus::Deleting),
                    )),
                }),
                Err(e) => refused.push(Refused {
                    desktop_id,
                    desktop_name: Some(d.computer_name.clone()),
                    status: Some(d.status),
                    reason: BatchRefusal::State(e),
                }),
            }
        }
        if requeue.is_empty() {
            return Ok(RetryOutcome::Retried {
                requeued: 0,
                refused,
            });
        }
        for chunk in requeue.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "UPDATE sub_jobs SET status = 'WAITING', attempt = attempt + 1, progress = 0, error_code = NULL, \
                 fail_reason = NULL, begin_ms = NULL, end_ms = NULL, host = NULL, lease_owner = NULL, \
                 lease_incarnation = NULL, lease_until = NULL, claim_token = NULL, prev_status = v.column2, \
                 prev_login = v.column3 \
                 FROM (VALUES ",
            );
            let mut sep = qb.separated(", ");
            for (sub_id, d, _) in chunk {
                sep.push("(")
                    .push_bind_unseparated(sub_id)
                    .push_unseparated(", ")
                    .push_bind_unseparated(d.status.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(d.login_status.as_str())
                    .push_unseparated(")");
            }
            qb.push(") AS v WHERE sub_jobs.id = v.column1");
            qb.build().execute(&mut *tx).await?;
            for (_, d, op) in chunk {
                sqlx::query(
                    "UPDATE desktops SET task_status = ?, busy_sub_job = \
                     (SELECT id FROM sub_jobs WHERE job_id = ? AND desktop_id = desktops.id) WHERE id = ?",
                )
                .bind(op.task_status().as_str())
                .bind(job_id)
                .bind(&d.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        let n = i64::try_from(requeue.len()).unwrap_or(0);
        let failed_left = j.failed - n;
        let status = JobStatus::from_counts(j.total, 0, j.succeeded, failed_left);
        sqlx::query(
            "UPDATE jobs SET failed = ?, status = ?, end_ms = NULL, error_code = NULL, fail_reason = NULL WHERE id = ?",
        )
        .bind(failed_left)
        .bind(status.as_str())
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        let _ = now_ms;
        tx.commit().await?;
        Ok(RetryOutcome::Retried {
            requeued: requeue.len(),
            refused,
        })
    }

    pub(super) async fn claim_(
        &self,
        holder: &Holder,
        limit: i64,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<Vec<Claimed>> {
        let token = uuid::Uuid::new_v4().to_string();
        let mut tx = self.write.begin().await?;
        let n = sqlx::query(
            "UPDATE sub_jobs SET status = 'RUNNING', lease_owner = ?1, lease_incarnation = ?6, lease_until = ?2, \
             claim_token = ?3, progress = 10, begin_ms = COALESCE(begin_ms, ?4) WHERE id IN \
             (SELECT id FROM sub_jobs WHERE status = 'WAITING' AND run_after_ms <= ?4 ORDER BY seq LIMIT ?5)",
        )
        .bind(&holder.node)
        .bind(lease_until_ms)
        .bind(&token)
        .bind(now_ms)
        .bind(limit)
        .bind(&holder.incarnation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(Vec::new());
        }
        sqlx::query(
            "UPDATE jobs SET status = 'RUNNING', begin_ms = COALESCE(begin_ms, ?1) WHERE status = 'WAITING' \
             AND id IN (SELECT DISTINCT job_id FROM sub_jobs WHERE claim_token = ?2)",
        )
        .bind(now_ms)
        .bind(&token)
        .execute(&mut *tx)
        .await?;
        let claimed = load_claimed(&mut tx, &token).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    pub(super) async fn complete_(
        &self,
        holder: &Holder,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write.begin().await?;
        let mut applied = 0usize;
        for chunk in done.chunks(CHUNK) {
            applied += complete_chunk(&mut tx, &holder.incarnation, chunk, now_ms).await?;
        }
        tx.commit().await?;
        Ok(applied)
    }

    pub(super) async fn renew_leases_(
        &self,
        holder: &Holder,
        ids: &[String],
        lease_until_ms: i64,
    ) -> StoreResult<u64> {
        let mut renewed = 0;
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("UPDATE sub_jobs SET lease_until = ");
            qb.push_bind(lease_until_ms)
                .push(" WHERE status = 'RUNNING' AND lease_incarnation = ")
                .push_bind(&holder.incarnation)
                .push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            renewed += qb.build().execute(&self.write).await?.rows_affected();
        }
        Ok(renewed)
    }

    pub(super) async fn requeue_orphans_(
        &self,
        holder: &Holder,
        now_ms: i64,
        scope: OrphanScope,
        max_attempts: i64,
        lease_until_ms: i64,
    ) -> StoreResult<(u64, Vec<Claimed>)> {
        // Expired before ?1, or (?2) held by an earlier incarnation of node ?3
        // (ours is ?4), or (?5) by any incarnation but ours.
        const ORPHAN: &str = "status = 'RUNNING' AND (lease_until < ?1 \
             OR (?2 AND lease_owner = ?3 AND lease_incarnation IS NOT ?4) \
             OR (?5 AND lease_incarnation IS NOT ?4))";
        let mine = scope != OrphanScope::Expired;
        let all = scope == OrphanScope::AllOthers;
        let mut tx = self.write.begin().await?;
        let requeued = sqlx::query(&format!(
            "UPDATE sub_jobs SET status = 'WAITING', attempt = attempt + 1, progress = 0, lease_owner = NULL, \
             lease_incarnation = NULL, lease_until = NULL, claim_token = NULL WHERE {ORPHAN} AND attempt < ?6"
        ))
        .bind(now_ms)
        .bind(mine)
        .bind(&holder.node)
        .bind(&holder.incarnation)
        .bind(all)
        .bind(max_attempts)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let token = uuid::Uuid::new_v4().to_string();
        sqlx::query(&format!(
            "UPDATE sub_jobs SET lease_owner = ?3, lease_incarnation = ?4, lease_until = ?7, claim_token = ?8 \
             WHERE {ORPHAN} AND attempt >= ?6"
        ))
        .bind(now_ms)
        .bind(mine)
        .bind(&holder.node)
        .bind(&holder.incarnation)
        .bind(all)
        .bind(max_attempts)
        .bind(lease_until_ms)
        .bind(&token)
        .execute(&mut *tx)
        .await?;
        let exhausted = load_claimed(&mut tx, &token).await?;
        tx.commit().await?;
        Ok((requeued, exhausted))
    }

    pub(super) async fn next_lease_end_(&self, holder: &Holder) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(lease_until) FROM sub_jobs WHERE status = 'RUNNING' AND lease_incarnation IS NOT ?",
        )
        .bind(&holder.incarnation)
        .fetch_one(&self.read)
        .await?)
    }

    pub(super) async fn next_due_ms_(&self) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(run_after_ms) FROM sub_jobs WHERE status = 'WAITING'")
                .fetch_one(&self.read)
                .await?,
        )
    }

    pub(super) async fn get_job_(
        &self,
        project_id: &str,
        job_id: &str,
    ) -> StoreResult<Option<JobRow>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE id = ? AND project_id = ?"
        ))
        .bind(job_id)
        .bind(project_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| job(&r)).transpose()
    }

    pub(super) async fn list_sub_jobs_(
        &self,
        f: &SubJobFilter,
    ) -> StoreResult<(Vec<SubJobRow>, i64)> {
        let mut count = QueryBuilder::<Sqlite>::new(
            "SELECT COUNT(*) FROM sub_jobs s JOIN jobs j ON j.id = s.job_id WHERE ",
        );
        push_sub_filter(&mut count, f);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {SUB_JOB_COLS} FROM sub_jobs s JOIN jobs j ON j.id = s.job_id WHERE "
        ));
        push_sub_filter(&mut qb, f);
        qb.push(if f.newest_first {
            " ORDER BY s.seq DESC"
        } else {
            " ORDER BY s.seq"
        });
        qb.push(" LIMIT ")
            .push_bind(f.limit)
            .push(" OFFSET ")
            .push_bind(f.offset);
        let rows = qb.build().fetch_all(&self.read).await?;
        Ok((rows.iter().map(sub_job).collect::<StoreResult<_>>()?, total))
    }
}

fn push_sub_filter<'a>(qb: &mut QueryBuilder<'a, Sqlite>, f: &'a SubJobFilter) {
    // With a job or desktop to look in, `+` keeps SQLite (no statistics) from
    // walking the project's whole sub-job index instead of that job's or desktop's.
    let narrow = f.job_id.is_some() || f.desktop_id.is_some();
    qb.push(if narrow {
        "+s.project_id = "
    } else {
        "s.project_id = "
    })
    .push_bind(&f.project_id);
    if let Some(v) = &f.job_id {
        qb.push(" AND s.job_id = ").push_bind(v);
    }
    if let Some(v) = &f.job_type {
        qb.push(" AND s.job_type = ").push_bind(v);
    }
    if let Some(v) = &f.status {
        qb.push(" AND s.status = ").push_bind(v);
    }
    if let Some(v) = &f.desktop_id {
        qb.push(" AND s.desktop_id = ").push_bind(v);
    }
    if let Some(v) = &f.pool_id {
        qb.push(" AND j.pool_id = ").push_bind(v);
    }
}

pub(super) async fn insert_job(
    tx: &mut SqliteConnection,
    job: &NewJob,
    total: usize,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO jobs (id, project_id, job_type, status, params, requested_by, total, created_ms, pool_id) \
         VALUES (?, ?, ?, 'WAITING', ?, ?, ?, ?, ?)",
    )
    .bind(&job.id)
    .bind(&job.project_id)
    .bind(job.job_type.as_str())
    .bind(&job.params)
    .bind(&job.requested_by)
    .bind(i64::try_from(total).unwrap_or(i64::MAX))
    .bind(job.now_ms)
    .bind(&job.pool_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_subs(
    tx: &mut SqliteConnection,
    job: &NewJob,
    subs: &[NewSub<'_>],
    base: i64,
) -> StoreResult<()> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO sub_jobs (id, seq, job_id, project_id, job_type, desktop_id, desktop_name, user_name, \
         product_id, ip_address, operation, prev_status, prev_login, status, run_after_ms, created_ms) ",
    );
    let mut i = 0i64;
    qb.push_values(subs, |mut b, s| {
        let d = s.desktop;
        let (prev_status, prev_login) =
            if s.operation == Operation::Create && d.status == DesktopStatus::Build {
                (DesktopStatus::Build, LoginStatus::Unregister)
            } else {
                (d.status, d.login_status)
            };
        b.push_bind(&s.id)
            .push_bind(base + i)
            .push_bind(&job.id)
            .push_bind(&job.project_id)
            .push_bind(job.job_type.as_str())
            .push_bind(&d.id)
            .push_bind(&d.computer_name)
            .push_bind(&d.user_name)
            .push_bind(&d.product_id)
            .push_bind(&d.ip_address)
            .push_bind(s.operation.to_string())
            .push_bind(prev_status.as_str())
            .push_bind(prev_login.as_str())
            .push_bind("WAITING")
            .push_bind(job.run_after_ms)
            .push_bind(job.now_ms);
        i += 1;
    });
    qb.build().execute(&mut *tx).await?;
    Ok(())
}

/// Mark desktops busy with this job's sub-job: one statement per chunk.
pub(super) async fn lock_desktops<'a>(
    tx: &mut SqliteConnection,
    job_id: &str,
    op: Operation,
    ids: impl Iterator<Item = &'a str>,
) -> StoreResult<()> {
    let mut qb = QueryBuilder::<Sqlite>::new("UPDATE desktops SET task_status = ");
    qb.push_bind(op.task_status().as_str())
        .push(", busy_sub_job = (SELECT s.id FROM sub_jobs s WHERE s.job_id = ")
        .push_bind(job_id)
        .push(" AND s.desktop_id = desktops.id) WHERE id IN (");
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    qb.push(")");
    qb.build().execute(&mut *tx).await?;
    Ok(())
}

pub(super) async fn load_desktops(
    tx: &mut SqliteConnection,
    ids: &[String],
) -> StoreResult<Vec<DesktopRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id IN ("
        ));
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(id);
        }
        qb.push(")");
        for r in qb.build().fetch_all(&mut *tx).await? {
            out.push(desktop(&r, 0)?);
        }
    }
    Ok(out)
}

/// Fail sub-jobs taken over by a forced delete; their jobs count them as failed.
async fn cancel_sub_jobs(
    tx: &mut SqliteConnection,
    ids: &[String],
    now_ms: i64,
) -> StoreResult<()> {
    let code = crate::domain::error_code::Code::Cancelled;
    let mut qb =
        QueryBuilder::<Sqlite>::new("UPDATE sub_jobs SET status = 'FAILED', error_code = ");
    qb.push_bind(code.wire())
        .push(", fail_reason = ")
        .push_bind(code.default_message())
        .push(", end_ms = ")
        .push_bind(now_ms)
        .push(
            ", progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, \
               claim_token = NULL WHERE status IN ('WAITING', 'RUNNING') AND id IN (",
        );
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    qb.push(") RETURNING job_id");
    let jobs: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
    let mut per_job: HashMap<String, (i64, i64)> = HashMap::new();
    for j in jobs {
        per_job.entry(j).or_default().1 += 1;
    }
    settle_jobs(tx, &per_job, now_ms).await
}

async fn load_claimed(tx: &mut SqliteConnection, token: &str) -> StoreResult<Vec<Claimed>> {
    let rows = sqlx::query(&format!(
        "SELECT s.id, s.job_id, s.project_id, s.operation, s.prev_status, s.prev_login, j.params, s.attempt, \
         {DESKTOP_COLS} FROM sub_jobs s JOIN jobs j ON j.id = s.job_id \
         LEFT JOIN desktops d ON d.id = s.desktop_id AND d.busy_sub_job = s.id \
         WHERE s.claim_token = ? ORDER BY s.seq"
    ))
    .bind(token)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| {
            let present: Option<String> = r.try_get(8)?;
            Ok(Claimed {
                sub_job_id: r.try_get(0)?,
                job_id: r.try_get(1)?,
                project_id: r.try_get(2)?,
                operation: parse("operation", &r.try_get::<String, _>(3)?)?,
                prev_status: parse("prev_status", &r.try_get::<String, _>(4)?)?,
                prev_login: parse("prev_login", &r.try_get::<String, _>(5)?)?,
                params: r.try_get(6)?,
                attempt: r.try_get(7)?,
                desktop: if present.is_some() {
                    Some(desktop(r, 8)?)
                } else {
                    None
                },
            })
        })
        .collect()
}

async fn complete_chunk(
    tx: &mut SqliteConnection,
    incarnation: &str,
    done: &[Completion],
    now_ms: i64,
) -> StoreResult<usize> {
    // 1. Sub-jobs, fenced: only those still RUNNING under our lease are ours to finish.
    let mut qb = QueryBuilder::<Sqlite>::new(
        "UPDATE sub_jobs SET status = v.column2, error_code = v.column3, fail_reason = v.column4, \
         host = v.column5, progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, \
         claim_token = NULL, end_ms = ",
    );
    qb.push_bind(now_ms).push(" FROM (VALUES ");
    let mut sep = qb.separated(", ");
    for c in done {
        let (status, code, reason) = match &c.error {
            None => ("SUCCESS", None, None),
            Some((code, reason)) => ("FAILED", Some(code.as_str()), Some(reason.as_str())),
        };
        sep.push("(")
            .push_bind_unseparated(&c.sub_job_id)
            .push_unseparated(", ")
            .push_bind_unseparated(status)
            .push_unseparated(", ")
            .push_bind_unseparated(code)
            .push_unseparated(", ")
            .push_bind_unseparated(reason)
            .push_unseparated(", ")
            .push_bind_unseparated(&c.host)
            .push_unseparated(")");
    }
    qb.push(") AS v WHERE sub_jobs.id = v.column1 AND sub_jobs.status = 'RUNNING' AND sub_jobs.lease_incarnation = ")
        .push_bind(incarnation)
        .push(" RETURNING sub_jobs.id");
    let owned: std::collections::HashSet<String> = qb
        .build_query_scalar::<String>()
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
        let mut qb = QueryBuilder::<Sqlite>::new(
            "UPDATE desktops SET status = v.column3, login_status = v.column4, task_status = NULL, busy_sub_job = NULL, \
             image_id = COALESCE(v.column5, image_id), image_type = COALESCE(v.column6, image_type), \
             host = COALESCE(v.column7, host), ip_address = COALESCE(v.column8, ip_address) FROM (VALUES ",
        );
        let mut sep = qb.separated(", ");
        for (c, s, l) in &stays {
            let (image, image_type) = c
                .new_image
                .as_ref()
                .map_or((None, None), |(i, t)| (Some(i.as_str()), Some(t.as_str())));
            let (host, ip) = c
                .placement
                .as_ref()
                .map_or((None, None), |(h, ip)| (h.as_deref(), ip.as_deref()));
            sep.push("(")
                .push_bind_unseparated(&c.desktop_id)
                .push_unseparated(", ")
                .push_bind_unseparated(&c.sub_job_id)
                .push_unseparated(", ")
                .push_bind_unseparated(s.as_str())
                .push_unseparated(", ")
                .push_bind_unseparated(l.as_str())
                .push_unseparated(", ")
                .push_bind_unseparated(image)
                .push_unseparated(", ")
                .push_bind_unseparated(image_type)
                .push_unseparated(", ")
                .push_bind_unseparated(host)
                .push_unseparated(", ")
                .push_bind_unseparated(ip)
                .push_unseparated(")");
        }
        qb.push(") AS v WHERE desktops.id = v.column1 AND desktops.busy_sub_job = v.column2");
        qb.build().execute(&mut *tx).await?;
    }

    // 3. Desktops that are gone.
    let gone: Vec<&&Completion> = mine.iter().filter(|c| c.settled == Settled::Gone).collect();
    if !gone.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "DELETE FROM desktops WHERE (id, busy_sub_job) IN (VALUES ",
        );
        let mut sep = qb.separated(", ");
        for c in &gone {
            sep.push("(")
                .push_bind_unseparated(&c.desktop_id)
                .push_unseparated(", ")
                .push_bind_unseparated(&c.sub_job_id)
                .push_unseparated(")");
        }
        qb.push(")");
        qb.build().execute(&mut *tx).await?;
        let orphans: Vec<&(String, String)> = gone
            .iter()
            .filter_map(|c| c.delete_orphan_user.as_ref())
            .collect();
        if !orphans.is_empty() {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "DELETE FROM users WHERE (project_id, user_name) IN (VALUES ",
            );
            let mut sep = qb.separated(", ");
            for (p, u) in &orphans {
                sep.push("(")
                    .push_bind_unseparated(p)
                    .push_unseparated(", ")
                    .push_bind_unseparated(u)
                    .push_unseparated(")");
            }
            qb.push(") AND NOT EXISTS (SELECT 1 FROM desktops d WHERE d.project_id = users.project_id AND d.user_name = users.user_name)");
            qb.build().execute(&mut *tx).await?;
        }
    }

    // 4. Jobs: counters and status.
    let mut per_job: HashMap<String, (i64, i64)> = HashMap::new();
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

/// Add (succeeded, failed) to each job's counters and derive its status with
/// `JobStatus::from_counts`, the one rule for it.
pub(super) async fn settle_jobs(
    tx: &mut SqliteConnection,
    per_job: &HashMap<String, (i64, i64)>,
    now_ms: i64,
) -> StoreResult<()> {
    for (job_id, (ok, failed)) in per_job {
        let row = sqlx::query(
            "UPDATE jobs SET succeeded = succeeded + ?, failed = failed + ? WHERE id = ? RETURNING total, succeeded, failed",
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
                "UPDATE jobs SET status = ?1, end_ms = ?2, \
                 error_code = (SELECT error_code FROM sub_jobs WHERE job_id = ?3 AND status = 'FAILED' ORDER BY seq LIMIT 1), \
                 fail_reason = ?4 || (SELECT fail_reason FROM sub_jobs WHERE job_id = ?3 AND status = 'FAILED' ORDER BY seq LIMIT 1) \
                 WHERE id = ?3",
            )
            .bind(status.as_str())
            .bind(now_ms)
            .bind(job_id)
            .bind(format!("{failed} of {total} sub-jobs failed; first: "))
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE jobs SET status = ?1, end_ms = CASE WHEN ?2 THEN ?3 ELSE NULL END, \
                 begin_ms = COALESCE(begin_ms, ?3), error_code = NULL, fail_reason = NULL WHERE id = ?4",
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
