//! Job submission: one transaction per request. The desktops a request checks
//! are locked (`FOR UPDATE`, by id) before they are checked, so another node
//! cannot change them between the check and the write.

use super::PostgresStore;
use super::decode::{DESKTOP_COLS, desktop};
use super::settle::cancel_sub_jobs;
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::machine::{Operation, Snapshot};
use crate::store::{
    BatchOutcome, BatchRefusal, DesktopRow, NewDesktop, NewJob, Refused, StoreResult, UserRow,
};
use sqlx::PgConnection;
use std::collections::HashMap;

/// A sub-job about to be inserted.
pub(super) struct NewSub<'a> {
    /// Its id (also written to the desktop it holds).
    pub id: String,
    /// The desktop, as it was when the sub-job was made.
    pub desktop: &'a DesktopRow,
    /// What it does.
    pub operation: Operation,
}

impl<'a> NewSub<'a> {
    fn new(desktop: &'a DesktopRow, operation: Operation) -> Self {
        Self {
            id: crate::domain::ids::SubJobId::new().to_string(),
            desktop,
            operation,
        }
    }
}

impl PostgresStore {
    pub(super) async fn submit_create_(
        &self,
        job: &NewJob,
        desktops: &[NewDesktop],
        users: &[UserRow],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        write_create(&mut tx, job, desktops, users).await?;
        tx.commit().await?;
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
        let mut tx = self.pool.begin().await?;
        let rows = lock_desktops(&mut tx, desktop_ids).await?;
        let by_id: HashMap<&str, &DesktopRow> = rows.iter().map(|d| (d.id.as_str(), d)).collect();
        let mut out = BatchOutcome::default();
        let mut accepted: Vec<&DesktopRow> = Vec::new();
        let mut to_cancel: Vec<String> = Vec::new();
        for id in desktop_ids {
            let Some(d) = by_id.get(id.as_str()) else {
                out.refused.push(hidden(id, BatchRefusal::NotFound));
                continue;
            };
            if d.project_id != job.project_id {
                out.refused.push(hidden(id, BatchRefusal::OtherProject));
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
        // Dropping the transaction rolls back: the locks go, nothing was written.
        if accepted.is_empty() || (atomic && !out.refused.is_empty()) {
            return Ok(out);
        }
        if !to_cancel.is_empty() {
            cancel_sub_jobs(&mut tx, &to_cancel, job.now_ms).await?;
            out.cancelled_sub_jobs = to_cancel;
        }
        insert_job(&mut tx, job, accepted.len()).await?;
        let subs: Vec<NewSub<'_>> = accepted.iter().map(|d| NewSub::new(d, op)).collect();
        insert_subs(&mut tx, job, &subs).await?;
        mark_busy(&mut tx, &subs).await?;
        tx.commit().await?;
        out.accepted = accepted.into_iter().cloned().collect();
        Ok(out)
    }
}

/// A refusal that reveals nothing about the desktop (absent or not the caller's).
fn hidden(id: &str, reason: BatchRefusal) -> Refused {
    Refused {
        desktop_id: id.to_owned(),
        desktop_name: None,
        status: None,
        reason,
    }
}

/// The writes of `submit_create` inside the caller's transaction (a pool is
/// created with its desktops, all or nothing).
pub(super) async fn write_create(
    tx: &mut PgConnection,
    job: &NewJob,
    desktops: &[NewDesktop],
    users: &[UserRow],
) -> StoreResult<()> {
    if !users.is_empty() {
        insert_missing_users(tx, users).await?;
    }
    insert_job(tx, job, desktops.len()).await?;
    let subs: Vec<NewSub<'_>> = desktops
        .iter()
        .map(|d| NewSub::new(&d.row, Operation::Create))
        .collect();
    insert_desktops(tx, &subs).await?;
    insert_subs(tx, job, &subs).await
}

/// The desktops with these ids, locked until the transaction ends. Locks are
/// taken in id order, the order every transaction uses, so two nodes locking
/// overlapping sets wait for each other instead of deadlocking.
pub(super) async fn lock_desktops(
    tx: &mut PgConnection,
    ids: &[String],
) -> StoreResult<Vec<DesktopRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = ANY($1) ORDER BY d.id FOR UPDATE"
    ))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(|r| desktop(r, 0)).collect()
}

/// Create the users that do not exist yet. Existing ones are share-locked first
/// so that a concurrent completion cannot delete them as orphans under the
/// desktops this transaction assigns to them; one deleted while we waited for
/// the lock is simply inserted again.
async fn insert_missing_users(tx: &mut PgConnection, users: &[UserRow]) -> StoreResult<()> {
    // Inserted in one order by every node: two creates adding the same new
    // users wait for each other on the unique index instead of deadlocking.
    let mut sorted: Vec<&UserRow> = users.iter().collect();
    sorted.sort_by(|a, b| (&a.project_id, &a.user_name).cmp(&(&b.project_id, &b.user_name)));
    let users = sorted;
    let col = |f: fn(&UserRow) -> &String| users.iter().map(|u| f(u)).collect::<Vec<_>>();
    let opt = |f: fn(&UserRow) -> &Option<String>| users.iter().map(|u| f(u)).collect::<Vec<_>>();
    sqlx::query(
        "SELECT 1 FROM users u JOIN UNNEST($1::text[], $2::text[]) AS v(p, n) \
         ON u.project_id = v.p AND u.user_name = v.n ORDER BY u.id FOR SHARE OF u",
    )
    .bind(col(|u| &u.project_id))
    .bind(col(|u| &u.user_name))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, created_ms) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::bigint[]) ON CONFLICT (project_id, user_name) DO NOTHING",
    )
    .bind(col(|u| &u.id))
    .bind(col(|u| &u.project_id))
    .bind(col(|u| &u.user_name))
    .bind(opt(|u| &u.user_email))
    .bind(opt(|u| &u.user_phone))
    .bind(col(|u| &u.description))
    .bind(users.iter().map(|u| u.created_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Insert a job row in WAITING with `total` sub-jobs.
pub(super) async fn insert_job(
    tx: &mut PgConnection,
    job: &NewJob,
    total: usize,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO jobs (id, project_id, job_type, status, params, requested_by, total, created_ms, pool_id) \
         VALUES ($1, $2, $3, 'WAITING', $4, $5, $6, $7, $8)",
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

/// Insert new desktops in BUILD, each held by its create sub-job: one statement.
async fn insert_desktops(tx: &mut PgConnection, subs: &[NewSub<'_>]) -> StoreResult<()> {
    let col = |f: fn(&DesktopRow) -> &String| subs.iter().map(|s| f(s.desktop)).collect::<Vec<_>>();
    let opt = |f: fn(&DesktopRow) -> &Option<String>| {
        subs.iter().map(|s| f(s.desktop)).collect::<Vec<_>>()
    };
    sqlx::query(
        "INSERT INTO desktops (id, project_id, computer_name, status, task_status, login_status, \
         busy_sub_job, user_name, user_email, desktop_type, pool_id, product_id, image_id, image_type, \
         availability_zone, ip_address, host, root_volume, data_volumes, tags, created_ms) \
         SELECT v.id, v.project_id, v.computer_name, $19, $20, $21, v.busy_sub_job, v.user_name, \
         v.user_email, v.desktop_type, v.pool_id, v.product_id, v.image_id, v.image_type, \
         v.availability_zone, v.ip_address, v.host, v.root_volume, v.data_volumes, v.tags, v.created_ms \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
         $15::text[], $16::text[], $17::text[], $18::bigint[]) WITH ORDINALITY AS v(id, project_id, \
         computer_name, busy_sub_job, user_name, user_email, desktop_type, pool_id, product_id, image_id, \
         image_type, availability_zone, ip_address, host, root_volume, data_volumes, tags, created_ms, ord) \
         ORDER BY v.ord",
    )
    .bind(col(|d| &d.id))
    .bind(col(|d| &d.project_id))
    .bind(col(|d| &d.computer_name))
    .bind(subs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>())
    .bind(opt(|d| &d.user_name))
    .bind(opt(|d| &d.user_email))
    .bind(
        subs.iter()
            .map(|s| s.desktop.desktop_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(opt(|d| &d.pool_id))
    .bind(col(|d| &d.product_id))
    .bind(col(|d| &d.image_id))
    .bind(col(|d| &d.image_type))
    .bind(col(|d| &d.availability_zone))
    .bind(col(|d| &d.ip_address))
    .bind(opt(|d| &d.host))
    .bind(col(|d| &d.root_volume))
    .bind(col(|d| &d.data_volumes))
    .bind(col(|d| &d.tags))
    .bind(subs.iter().map(|s| s.desktop.created_ms).collect::<Vec<_>>())
    .bind(DesktopStatus::Build.as_str())
    .bind(Operation::Create.task_status().as_str())
    .bind(LoginStatus::Unregister.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Insert a job's sub-jobs, in input order (their `seq` follows it): one statement.
pub(super) async fn insert_subs(
    tx: &mut PgConnection,
    job: &NewJob,
    subs: &[NewSub<'_>],
) -> StoreResult<()> {
    let col = |f: fn(&DesktopRow) -> &String| subs.iter().map(|s| f(s.desktop)).collect::<Vec<_>>();
    let (prev_status, prev_login): (Vec<&str>, Vec<&str>) = subs
        .iter()
        .map(|s| {
            let d = s.desktop;
            if s.operation == Operation::Create && d.status == DesktopStatus::Build {
                (
                    DesktopStatus::Build.as_str(),
                    LoginStatus::Unregister.as_str(),
                )
            } else {
                (d.status.as_str(), d.login_status.as_str())
            }
        })
        .unzip();
    sqlx::query(
        "INSERT INTO sub_jobs (id, job_id, project_id, job_type, desktop_id, desktop_name, user_name, \
         product_id, ip_address, operation, prev_status, prev_login, status, run_after_ms, created_ms) \
         SELECT v.id, $10, $11, $12, v.desktop_id, v.desktop_name, v.user_name, v.product_id, \
         v.ip_address, v.operation, v.prev_status, v.prev_login, 'WAITING', $13, $14 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[]) WITH ORDINALITY AS v(id, desktop_id, desktop_name, user_name, \
         product_id, ip_address, operation, prev_status, prev_login, ord) ORDER BY v.ord",
    )
    .bind(subs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>())
    .bind(col(|d| &d.id))
    .bind(col(|d| &d.computer_name))
    .bind(
        subs.iter()
            .map(|s| s.desktop.user_name.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(col(|d| &d.product_id))
    .bind(col(|d| &d.ip_address))
    .bind(
        subs.iter()
            .map(|s| s.operation.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(prev_status)
    .bind(prev_login)
    .bind(&job.id)
    .bind(&job.project_id)
    .bind(job.job_type.as_str())
    .bind(job.run_after_ms)
    .bind(job.now_ms)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Mark desktops busy with their new sub-jobs: one statement. The rows are
/// already locked by this transaction.
pub(super) async fn mark_busy(tx: &mut PgConnection, subs: &[NewSub<'_>]) -> StoreResult<()> {
    sqlx::query(
        "UPDATE desktops d SET task_status = v.task, busy_sub_job = v.sub \
         FROM UNNEST($1::text[], $2::text[], $3::text[]) AS v(id, sub, task) WHERE d.id = v.id",
    )
    .bind(
        subs.iter()
            .map(|s| s.desktop.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(subs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>())
    .bind(
        subs.iter()
            .map(|s| s.operation.task_status().as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
