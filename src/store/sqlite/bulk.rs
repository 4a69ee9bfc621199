//! SQLite's multi-row writes: one cached single-row statement run once per row
//! on the writer — SQLite's fastest way, with no statement text that grows with
//! the batch. `seq` numbers (the order of desktops, sub-jobs and notifications)
//! are reserved from one counter, a block per batch.

use super::conn::SqliteTx;
use crate::domain::completion::{Effect, Stay};
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::error_code::Code;
use crate::domain::ids::{ClaimId, DesktopId, JobId, PoolId, ProjectId, SubJobId};
use crate::domain::machine::Operation;
use crate::store::sql::bulk::{Bulk, Correction, NewSub, RefusedSub, Requeue};
use crate::store::sql::decode::{self, DESKTOP_COLS};
use crate::store::sql::{Dialect, Exec as _, Sql};
use crate::store::{
    Completion, DesktopRow, NewJob, NotificationRow, PoolMember, StoreError, StoreResult, UserRow,
};
use rusqlite::params;
use std::collections::HashSet;

/// A JSON column's text.
fn encode<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// Ids per statement when a list is expanded: well under SQLite's 32,766 parameters.
const CHUNK: usize = 500;

impl SqliteTx {
    /// Reserves `n` consecutive sequence numbers; returns the first.
    fn reserve_seq(&self, n: usize) -> StoreResult<i64> {
        let n = i64::try_from(n).map_err(|_| StoreError::Corrupt("sequence overflow".into()))?;
        let end: i64 = self.conn()?.query_row(
            "UPDATE counters SET value = value + ?1 WHERE name = 'seq' RETURNING value",
            [n],
            |r| r.get(0),
        )?;
        Ok(end - n + 1)
    }

    /// Inserts sub-jobs with the given status columns, `seq` from `first` on.
    fn insert_subs(&self, job: &NewJob, first: i64, subs: &[NewSub<'_>]) -> StoreResult<()> {
        let mut stmt = self.conn()?.prepare_cached(
            "INSERT INTO sub_jobs (id, seq, job_id, project_id, job_type, desktop_id, desktop_name, \
             user_name, product_id, ip_address, operation, prev_status, prev_login, status, \
             run_after_ms, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'WAITING', ?14, ?15)",
        )?;
        for (seq, s) in (first..).zip(subs) {
            let d = s.desktop;
            let (status, login) = s.before();
            stmt.execute(params![
                s.id,
                seq,
                job.id,
                job.project_id,
                job.job_type.as_str(),
                d.id,
                d.computer_name,
                d.user_name,
                d.product_id,
                d.ip_address,
                s.operation.to_string(),
                status.as_str(),
                login.as_str(),
                job.run_after_ms,
                job.now_ms,
            ])?;
        }
        Ok(())
    }
}

impl Bulk for SqliteTx {
    async fn lock_names(&mut self, _project: &ProjectId) -> StoreResult<()> {
        Ok(())
    }

    async fn lock_desktops(&mut self, ids: &[DesktopId]) -> StoreResult<Vec<DesktopRow>> {
        // The one writer excludes every other writer: reading is locking.
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut sql = Sql::new(
                Dialect::Sqlite,
                &format!("SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id"),
            );
            sql.in_list(chunk.iter().map(DesktopId::to_string));
            out.extend(self.fetch(sql.query(), decode::desktop).await?);
        }
        Ok(out)
    }

    async fn insert_users(&mut self, users: &[UserRow]) -> StoreResult<()> {
        let mut stmt = self.conn()?.prepare_cached(
            "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (project_id, user_name) DO NOTHING",
        )?;
        for u in users {
            stmt.execute(params![
                u.id,
                u.project_id,
                u.user_name,
                u.user_email,
                u.user_phone,
                u.description,
                u.created_ms
            ])?;
        }
        Ok(())
    }

    async fn insert_desktops(&mut self, subs: &[NewSub<'_>]) -> StoreResult<()> {
        let first = self.reserve_seq(subs.len())?;
        let mut stmt = self.conn()?.prepare_cached(
            "INSERT INTO desktops (id, project_id, seq, computer_name, status, task_status, login_status, \
             busy_sub_job, user_name, user_email, desktop_type, pool_id, product_id, image_id, image_type, \
             availability_zone, ip_address, host, root_volume, data_volumes, tags, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
             ?19, ?20, ?21, ?22)",
        )?;
        for (seq, s) in (first..).zip(subs) {
            let d = s.desktop;
            stmt.execute(params![
                d.id,
                d.project_id,
                seq,
                d.computer_name,
                DesktopStatus::Build.as_str(),
                Operation::Create.task_status().as_str(),
                LoginStatus::Unregister.as_str(),
                s.id,
                d.user_name,
                d.user_email,
                d.desktop_type.as_str(),
                d.pool_id,
                d.product_id,
                d.image_id,
                d.image_type,
                d.availability_zone,
                d.ip_address,
                d.host,
                encode(&d.root_volume),
                encode(&d.data_volumes),
                encode(&d.tags),
                d.created_ms,
            ])?;
        }
        Ok(())
    }

    async fn insert_sub_jobs(&mut self, job: &NewJob, subs: &[NewSub<'_>]) -> StoreResult<()> {
        if subs.is_empty() {
            return Ok(());
        }
        let first = self.reserve_seq(subs.len())?;
        self.insert_subs(job, first, subs)
    }

    async fn insert_refused_sub_jobs(
        &mut self,
        job: &NewJob,
        op: Operation,
        refused: &[RefusedSub<'_>],
    ) -> StoreResult<()> {
        if refused.is_empty() {
            return Ok(());
        }
        let first = self.reserve_seq(refused.len())?;
        let mut stmt = self.conn()?.prepare_cached(
            "INSERT INTO sub_jobs (id, seq, job_id, project_id, job_type, desktop_id, desktop_name, \
             user_name, product_id, ip_address, operation, prev_status, prev_login, status, progress, \
             error_code, fail_reason, created_ms, begin_ms, end_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'FAILED', 100, ?14, ?15, \
             ?16, ?16, ?16)",
        )?;
        for (seq, r) in (first..).zip(refused) {
            let d = r.desktop;
            stmt.execute(params![
                SubJobId::new().to_string(),
                seq,
                job.id,
                job.project_id,
                job.job_type.as_str(),
                d.id,
                d.computer_name,
                d.user_name,
                d.product_id,
                d.ip_address,
                op.to_string(),
                d.status.as_str(),
                d.login_status.as_str(),
                r.code,
                r.reason,
                job.now_ms,
            ])?;
        }
        Ok(())
    }

    async fn mark_busy(&mut self, subs: &[NewSub<'_>]) -> StoreResult<()> {
        let mut stmt = self.conn()?.prepare_cached(
            "UPDATE desktops SET task_status = ?1, busy_sub_job = ?2 WHERE id = ?3",
        )?;
        for s in subs {
            stmt.execute(params![
                s.operation.task_status().as_str(),
                s.id,
                s.desktop.id
            ])?;
        }
        Ok(())
    }

    async fn cancel_sub_jobs(&mut self, ids: &[SubJobId], now_ms: i64) -> StoreResult<Vec<JobId>> {
        let code = Code::Cancelled;
        let mut stmt = self.conn()?.prepare_cached(
            "UPDATE sub_jobs SET status = 'FAILED', error_code = ?2, fail_reason = ?3, end_ms = ?4, \
             progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, \
             claim_token = NULL WHERE id = ?1 AND status IN ('WAITING', 'RUNNING') RETURNING job_id",
        )?;
        let mut jobs = Vec::new();
        for id in ids {
            let mut rows = stmt.query(params![id, code.wire(), code.default_message(), now_ms])?;
            while let Some(r) = rows.next()? {
                let job: String = r.get(0)?;
                jobs.push(decode::parse("job id", &job)?);
            }
        }
        Ok(jobs)
    }

    async fn finish_sub_jobs(
        &mut self,
        incarnation: &str,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<HashSet<(SubJobId, ClaimId)>> {
        let mut stmt = self.conn()?.prepare_cached(
            "UPDATE sub_jobs SET status = ?2, error_code = ?3, fail_reason = ?4, host = ?5, \
             progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, \
             claim_token = NULL, end_ms = ?6 \
             WHERE id = ?1 AND status = 'RUNNING' AND lease_incarnation = ?7 AND claim_token = ?8",
        )?;
        let mut recorded = HashSet::with_capacity(done.len());
        for c in done {
            let failure = c.failure();
            let status = if failure.is_none() {
                "SUCCESS"
            } else {
                "FAILED"
            };
            let (code, reason) = failure.unzip();
            let row = params![
                c.sub_job_id,
                status,
                code,
                reason,
                c.host,
                now_ms,
                incarnation,
                c.claim
            ];
            if stmt.execute(row)? > 0 {
                recorded.insert((c.sub_job_id, c.claim));
            }
        }
        Ok(recorded)
    }

    async fn settle_desktops(&mut self, stays: &[Stay<'_>]) -> StoreResult<()> {
        let mut stmt = self.conn()?.prepare_cached(
            "UPDATE desktops SET status = ?3, login_status = ?4, task_status = NULL, busy_sub_job = NULL, \
             image_id = COALESCE(?5, image_id), image_type = COALESCE(?6, image_type), \
             host = COALESCE(?7, host), ip_address = COALESCE(?8, ip_address) \
             WHERE id = ?1 AND busy_sub_job = ?2",
        )?;
        for s in stays {
            let c = s.done;
            let (image, image_type) = match c.effect() {
                Effect::Rebuilt {
                    image_id,
                    image_type,
                } => (Some(image_id), Some(image_type)),
                _ => (None, None),
            };
            let (host, ip) = match c.effect() {
                Effect::Placed { host, ip } => (host.as_ref(), ip.as_ref()),
                _ => (None, None),
            };
            stmt.execute(params![
                c.desktop_id,
                c.sub_job_id,
                s.status.as_str(),
                s.login.as_str(),
                image,
                image_type,
                host,
                ip
            ])?;
        }
        Ok(())
    }

    async fn remove_desktops(&mut self, gone: &[&Completion]) -> StoreResult<()> {
        let mut stmt = self
            .conn()?
            .prepare_cached("DELETE FROM desktops WHERE id = ?1 AND busy_sub_job = ?2")?;
        for c in gone {
            stmt.execute(params![c.desktop_id, c.sub_job_id])?;
        }
        Ok(())
    }

    async fn delete_orphan_users(&mut self, users: &[(ProjectId, String)]) -> StoreResult<()> {
        let mut stmt = self.conn()?.prepare_cached(
            "DELETE FROM users WHERE project_id = ?1 AND user_name = ?2 AND NOT EXISTS \
             (SELECT 1 FROM desktops d WHERE d.project_id = ?1 AND d.user_name = ?2)",
        )?;
        for (project, user) in users {
            stmt.execute(params![project, user])?;
        }
        Ok(())
    }

    async fn requeue_failed(&mut self, job_id: &JobId, subs: &[Requeue<'_>]) -> StoreResult<()> {
        let _ = job_id;
        let conn = self.conn()?;
        let mut again = conn.prepare_cached(
            "UPDATE sub_jobs SET status = 'WAITING', attempt = attempt + 1, progress = 0, \
             error_code = NULL, fail_reason = NULL, begin_ms = NULL, end_ms = NULL, host = NULL, \
             lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, claim_token = NULL, \
             prev_status = ?2, prev_login = ?3 WHERE id = ?1",
        )?;
        let mut hold = conn.prepare_cached(
            "UPDATE desktops SET task_status = ?1, busy_sub_job = ?2 WHERE id = ?3",
        )?;
        for r in subs {
            let d = r.desktop;
            again.execute(params![
                r.sub_job_id,
                d.status.as_str(),
                d.login_status.as_str()
            ])?;
            hold.execute(params![
                r.operation.task_status().as_str(),
                r.sub_job_id,
                d.id
            ])?;
        }
        Ok(())
    }

    async fn insert_members(
        &mut self,
        pool_id: &PoolId,
        members: &[PoolMember],
    ) -> StoreResult<()> {
        let mut stmt = self.conn()?.prepare_cached(
            "INSERT INTO pool_members (pool_id, object_type, object_id, object_name, user_group, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (pool_id, object_type, object_name) \
             DO UPDATE SET user_group = excluded.user_group",
        )?;
        for m in members {
            stmt.execute(params![
                pool_id,
                m.object_type,
                m.object_id,
                m.object_name,
                m.user_group,
                m.created_ms
            ])?;
        }
        Ok(())
    }

    async fn insert_notifications(&mut self, list: &[NotificationRow]) -> StoreResult<()> {
        if list.is_empty() {
            return Ok(());
        }
        let first = self.reserve_seq(list.len())?;
        let mut stmt = self.conn()?.prepare_cached(
            "INSERT INTO notifications (id, seq, project_id, desktop_id, desktop_name, user_name, \
             user_email, kind, message, job_id, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for (seq, n) in (first..).zip(list) {
            stmt.execute(params![
                n.id,
                seq,
                n.project_id,
                n.desktop_id,
                n.desktop_name,
                n.user_name,
                n.user_email,
                n.kind,
                n.message,
                n.job_id,
                n.created_ms
            ])?;
        }
        Ok(())
    }

    async fn reconcile(&mut self, changes: &[Correction]) -> StoreResult<u64> {
        let mut stmt = self.conn()?.prepare_cached(
            "UPDATE desktops SET status = ?3, login_status = ?4 \
             WHERE id = ?1 AND status = ?2 AND busy_sub_job IS NULL",
        )?;
        let mut n = 0;
        for (id, from, to, login) in changes {
            n += stmt.execute(params![id, from.as_str(), to.as_str(), login.as_str()])?;
        }
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }
}
