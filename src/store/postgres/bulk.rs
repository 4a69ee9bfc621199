//! PostgreSQL's multi-row writes: one array per column (`UNNEST`), so a job for
//! 1,000 desktops is a fixed handful of statements. Rows are locked in the one
//! global order every transaction follows — desktops, then sub-jobs, then
//! users, then jobs, each by id — so concurrent nodes wait, never deadlock.

use super::db::PgTx;
use crate::domain::completion::{Effect, Stay};
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::ids::{ClaimId, DesktopId, JobId, PoolId, ProjectId, SubJobId};
use crate::domain::machine::Operation;
use crate::store::sql::Decode;
use crate::store::sql::bulk::{Bulk, Correction, NewSub, RefusedSub, Requeue};
use crate::store::sql::decode::{self, DESKTOP_COLS};
use crate::store::{
    Completion, DesktopRow, NewJob, NotificationRow, PoolMember, StoreResult, UserRow,
};
use std::collections::HashSet;

/// One column of `rows`, as an array to bind.
fn col<'a, T, V>(rows: &'a [T], f: impl Fn(&'a T) -> V) -> Vec<V> {
    rows.iter().map(f).collect()
}

/// A JSON column's text.
fn encode<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

impl PgTx {
    async fn rows<T: Send>(
        &mut self,
        q: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        decode: Decode<T>,
    ) -> StoreResult<Vec<T>> {
        let rows = q.fetch_all(&mut *self.0).await?;
        rows.iter().map(|r| decode(r)).collect()
    }

    async fn run(
        &mut self,
        q: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> StoreResult<u64> {
        Ok(q.execute(&mut *self.0).await?.rows_affected())
    }
}

impl Bulk for PgTx {
    async fn lock_names(&mut self, project: &ProjectId) -> StoreResult<()> {
        self.run(
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
                .bind(project.as_str()),
        )
        .await
        .map(drop)
    }

    async fn lock_desktops(&mut self, ids: &[DesktopId]) -> StoreResult<Vec<DesktopRow>> {
        let sql = format!(
            "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = ANY($1) ORDER BY d.id FOR UPDATE"
        );
        self.rows(
            sqlx::query(&sql).bind(col(ids, DesktopId::to_string)),
            decode::desktop,
        )
        .await
    }

    async fn insert_users(&mut self, users: &[UserRow]) -> StoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        // Inserted in one order by every node: two creates adding the same new
        // users wait for each other on the unique index instead of deadlocking.
        let mut users: Vec<&UserRow> = users.iter().collect();
        users.sort_by(|a, b| (&a.project_id, &a.user_name).cmp(&(&b.project_id, &b.user_name)));
        // Existing users are share-locked first, so a concurrent completion
        // cannot delete them as orphans under the desktops assigned to them here.
        self.run(
            sqlx::query(
                "SELECT 1 FROM users u JOIN UNNEST($1::text[], $2::text[]) AS v(p, n) \
                 ON u.project_id = v.p AND u.user_name = v.n ORDER BY u.id FOR SHARE OF u",
            )
            .bind(col(&users, |u| u.project_id.as_str()))
            .bind(col(&users, |u| u.user_name.as_str())),
        )
        .await?;
        self.run(
            sqlx::query(
                "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, created_ms) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::bigint[]) ON CONFLICT (project_id, user_name) DO NOTHING",
            )
            .bind(col(&users, |u| u.id.to_string()))
            .bind(col(&users, |u| u.project_id.as_str()))
            .bind(col(&users, |u| u.user_name.as_str()))
            .bind(col(&users, |u| u.user_email.as_deref()))
            .bind(col(&users, |u| u.user_phone.as_deref()))
            .bind(col(&users, |u| u.description.as_str()))
            .bind(col(&users, |u| u.created_ms)),
        )
        .await
        .map(drop)
    }

    async fn insert_desktops(&mut self, subs: &[NewSub<'_>]) -> StoreResult<()> {
        let d = |f: fn(&DesktopRow) -> &str| col(subs, move |s| f(s.desktop));
        let o = |f: fn(&DesktopRow) -> Option<&str>| col(subs, move |s| f(s.desktop));
        let json = |f: fn(&DesktopRow) -> String| col(subs, move |s| f(s.desktop));
        self.run(
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
            .bind(col(subs, |s| s.desktop.id.to_string()))
            .bind(d(|d| d.project_id.as_str()))
            .bind(d(|d| &d.computer_name))
            .bind(col(subs, |s| s.id.to_string()))
            .bind(o(|d| d.user_name.as_deref()))
            .bind(o(|d| d.user_email.as_deref()))
            .bind(col(subs, |s| s.desktop.desktop_type.as_str()))
            .bind(col(subs, |s| s.desktop.pool_id.map(|p| p.to_string())))
            .bind(d(|d| &d.product_id))
            .bind(d(|d| &d.image_id))
            .bind(d(|d| &d.image_type))
            .bind(d(|d| &d.availability_zone))
            .bind(d(|d| &d.ip_address))
            .bind(o(|d| d.host.as_deref()))
            .bind(json(|d| encode(&d.root_volume)))
            .bind(json(|d| encode(&d.data_volumes)))
            .bind(json(|d| encode(&d.tags)))
            .bind(col(subs, |s| s.desktop.created_ms))
            .bind(DesktopStatus::Build.as_str())
            .bind(Operation::Create.task_status().as_str())
            .bind(LoginStatus::Unregister.as_str()),
        )
        .await
        .map(drop)
    }

    async fn insert_sub_jobs(&mut self, job: &NewJob, subs: &[NewSub<'_>]) -> StoreResult<()> {
        if subs.is_empty() {
            return Ok(());
        }
        let d = |f: fn(&DesktopRow) -> &str| col(subs, move |s| f(s.desktop));
        self.run(
            sqlx::query(
                "INSERT INTO sub_jobs (id, job_id, project_id, job_type, desktop_id, desktop_name, user_name, \
                 product_id, ip_address, operation, prev_status, prev_login, status, run_after_ms, created_ms) \
                 SELECT v.id, $10, $11, $12, v.desktop_id, v.desktop_name, v.user_name, v.product_id, \
                 v.ip_address, v.operation, v.prev_status, v.prev_login, 'WAITING', $13, $14 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::text[], $9::text[]) WITH ORDINALITY AS v(id, desktop_id, desktop_name, user_name, \
                 product_id, ip_address, operation, prev_status, prev_login, ord) ORDER BY v.ord",
            )
            .bind(col(subs, |s| s.id.to_string()))
            .bind(col(subs, |s| s.desktop.id.to_string()))
            .bind(d(|d| &d.computer_name))
            .bind(col(subs, |s| s.desktop.user_name.as_deref()))
            .bind(d(|d| &d.product_id))
            .bind(d(|d| &d.ip_address))
            .bind(col(subs, |s| s.operation.to_string()))
            .bind(col(subs, |s| s.before().0.as_str()))
            .bind(col(subs, |s| s.before().1.as_str()))
            .bind(job.id.to_string())
            .bind(job.project_id.as_str())
            .bind(job.job_type.as_str())
            .bind(job.run_after_ms)
            .bind(job.now_ms),
        )
        .await
        .map(drop)
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
        let d = |f: fn(&DesktopRow) -> &str| col(refused, move |r| f(r.desktop));
        self.run(
            sqlx::query(
                "INSERT INTO sub_jobs (id, job_id, project_id, job_type, desktop_id, desktop_name, user_name, \
                 product_id, ip_address, operation, prev_status, prev_login, status, progress, error_code, \
                 fail_reason, created_ms, begin_ms, end_ms) \
                 SELECT v.id, $11, $12, $13, v.desktop_id, v.desktop_name, v.user_name, v.product_id, v.ip, $14, \
                 v.prev_status, v.prev_login, 'FAILED', 100, v.code, v.reason, $15, $15, $15 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS v(id, desktop_id, desktop_name, \
                 user_name, product_id, ip, prev_status, prev_login, code, reason, ord) ORDER BY v.ord",
            )
            .bind(col(refused, |_| SubJobId::new().to_string()))
            .bind(col(refused, |r| r.desktop.id.to_string()))
            .bind(d(|d| &d.computer_name))
            .bind(col(refused, |r| r.desktop.user_name.as_deref()))
            .bind(d(|d| &d.product_id))
            .bind(d(|d| &d.ip_address))
            .bind(col(refused, |r| r.desktop.status.as_str()))
            .bind(col(refused, |r| r.desktop.login_status.as_str()))
            .bind(col(refused, |r| r.code.as_str()))
            .bind(col(refused, |r| r.reason.as_str()))
            .bind(job.id.to_string())
            .bind(job.project_id.as_str())
            .bind(job.job_type.as_str())
            .bind(op.to_string())
            .bind(job.now_ms),
        )
        .await
        .map(drop)
    }

    async fn mark_busy(&mut self, subs: &[NewSub<'_>]) -> StoreResult<()> {
        if subs.is_empty() {
            return Ok(());
        }
        self.run(
            sqlx::query(
                "UPDATE desktops d SET task_status = v.task, busy_sub_job = v.sub \
                 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS v(id, sub, task) WHERE d.id = v.id",
            )
            .bind(col(subs, |s| s.desktop.id.to_string()))
            .bind(col(subs, |s| s.id.to_string()))
            .bind(col(subs, |s| s.operation.task_status().as_str())),
        )
        .await
        .map(drop)
    }

    async fn cancel_sub_jobs(&mut self, ids: &[SubJobId], now_ms: i64) -> StoreResult<Vec<JobId>> {
        let code = crate::domain::error_code::Code::Cancelled;
        self.rows(
            sqlx::query(
                "WITH l AS (SELECT id FROM sub_jobs WHERE id = ANY($1) AND status IN ('WAITING', 'RUNNING') \
                 ORDER BY id FOR UPDATE) \
                 UPDATE sub_jobs s SET status = 'FAILED', error_code = $2, fail_reason = $3, end_ms = $4, \
                 progress = 100, lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, \
                 claim_token = NULL FROM l WHERE s.id = l.id RETURNING s.job_id",
            )
            .bind(col(ids, SubJobId::to_string))
            .bind(code.wire())
            .bind(code.default_message())
            .bind(now_ms),
            |r| decode::typed(r, 0, "job id"),
        )
        .await
    }

    async fn finish_sub_jobs(
        &mut self,
        incarnation: &str,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<HashSet<(SubJobId, ClaimId)>> {
        // A completion counts only for the claim it names: when two runs of one
        // sub-job report together, the join keeps the current claim's alone.
        let ids: Vec<(SubJobId, ClaimId)> = self
            .rows(
                sqlx::query(
                    "WITH mine AS (SELECT id, claim_token FROM sub_jobs WHERE id = ANY($1) \
                     AND status = 'RUNNING' AND lease_incarnation = $6 ORDER BY id FOR UPDATE), \
                     v AS (SELECT DISTINCT ON (id, claim) * FROM UNNEST($1::text[], $2::text[], \
                     $3::text[], $4::text[], $5::text[], $8::text[]) AS v(id, status, code, reason, host, claim)) \
                     UPDATE sub_jobs s SET status = v.status, error_code = v.code, fail_reason = v.reason, \
                     host = v.host, progress = 100, lease_owner = NULL, lease_incarnation = NULL, \
                     lease_until = NULL, claim_token = NULL, end_ms = $7 \
                     FROM mine JOIN v ON v.id = mine.id AND v.claim = mine.claim_token \
                     WHERE s.id = mine.id RETURNING s.id, v.claim",
                )
                .bind(col(done, |c| c.sub_job_id.to_string()))
                .bind(col(done, |c| if c.failure().is_none() { "SUCCESS" } else { "FAILED" }))
                .bind(col(done, |c| c.failure().map(|(code, _)| code)))
                .bind(col(done, |c| c.failure().map(|(_, reason)| reason)))
                .bind(col(done, |c| c.host.as_str()))
                .bind(incarnation)
                .bind(now_ms)
                .bind(col(done, |c| c.claim.to_string())),
                |r| Ok((decode::typed(r, 0, "sub-job id")?, decode::typed(r, 1, "claim id")?)),
            )
            .await?;
        Ok(ids.into_iter().collect())
    }

    async fn settle_desktops(&mut self, stays: &[Stay<'_>]) -> StoreResult<()> {
        if stays.is_empty() {
            return Ok(());
        }
        let image = |s: &Stay<'_>| match s.done.effect() {
            Effect::Rebuilt {
                image_id,
                image_type,
            } => (Some(image_id.clone()), Some(image_type.clone())),
            _ => (None, None),
        };
        let placed = |s: &Stay<'_>| match s.done.effect() {
            Effect::Placed { host, ip } => (host.clone(), ip.clone()),
            _ => (None, None),
        };
        self.run(
            sqlx::query(
                "UPDATE desktops d SET status = v.status, login_status = v.login, task_status = NULL, \
                 busy_sub_job = NULL, image_id = COALESCE(v.image, d.image_id), \
                 image_type = COALESCE(v.image_type, d.image_type), host = COALESCE(v.host, d.host), \
                 ip_address = COALESCE(v.ip, d.ip_address) \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[]) AS v(id, sub, status, login, image, image_type, host, ip) \
                 WHERE d.id = v.id AND d.busy_sub_job = v.sub",
            )
            .bind(col(stays, |s| s.done.desktop_id.to_string()))
            .bind(col(stays, |s| s.done.sub_job_id.to_string()))
            .bind(col(stays, |s| s.status.as_str()))
            .bind(col(stays, |s| s.login.as_str()))
            .bind(col(stays, |s| image(s).0))
            .bind(col(stays, |s| image(s).1))
            .bind(col(stays, |s| placed(s).0))
            .bind(col(stays, |s| placed(s).1)),
        )
        .await
        .map(drop)
    }

    async fn remove_desktops(&mut self, gone: &[&Completion]) -> StoreResult<()> {
        if gone.is_empty() {
            return Ok(());
        }
        self.run(
            sqlx::query(
                "DELETE FROM desktops d USING UNNEST($1::text[], $2::text[]) AS v(id, sub) \
                 WHERE d.id = v.id AND d.busy_sub_job = v.sub",
            )
            .bind(col(gone, |c| c.desktop_id.to_string()))
            .bind(col(gone, |c| c.sub_job_id.to_string())),
        )
        .await
        .map(drop)
    }

    async fn delete_orphan_users(&mut self, users: &[(ProjectId, String)]) -> StoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let projects = col(users, |(p, _)| p.as_str());
        let names = col(users, |(_, u)| u.as_str());
        // Locked first, then checked by a new statement, whose snapshot includes
        // desktops a concurrent create (holding a share lock on the user until
        // it commits) assigned to them.
        self.run(
            sqlx::query(
                "SELECT 1 FROM users u JOIN UNNEST($1::text[], $2::text[]) AS v(p, n) \
                 ON u.project_id = v.p AND u.user_name = v.n ORDER BY u.id FOR UPDATE OF u",
            )
            .bind(&projects)
            .bind(&names),
        )
        .await?;
        self.run(
            sqlx::query(
                "DELETE FROM users u USING UNNEST($1::text[], $2::text[]) AS v(p, n) \
                 WHERE u.project_id = v.p AND u.user_name = v.n AND NOT EXISTS \
                 (SELECT 1 FROM desktops d WHERE d.project_id = u.project_id AND d.user_name = u.user_name)",
            )
            .bind(&projects)
            .bind(&names),
        )
        .await
        .map(drop)
    }

    async fn requeue_failed(&mut self, job_id: &JobId, subs: &[Requeue<'_>]) -> StoreResult<()> {
        let _ = job_id;
        self.run(
            sqlx::query(
                "UPDATE sub_jobs s SET status = 'WAITING', attempt = attempt + 1, progress = 0, \
                 error_code = NULL, fail_reason = NULL, begin_ms = NULL, end_ms = NULL, host = NULL, \
                 lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, claim_token = NULL, \
                 prev_status = v.status, prev_login = v.login \
                 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS v(id, status, login) WHERE s.id = v.id",
            )
            .bind(col(subs, |r| r.sub_job_id.to_string()))
            .bind(col(subs, |r| r.desktop.status.as_str()))
            .bind(col(subs, |r| r.desktop.login_status.as_str())),
        )
        .await?;
        self.run(
            sqlx::query(
                "UPDATE desktops d SET task_status = v.task, busy_sub_job = v.sub \
                 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS v(id, sub, task) WHERE d.id = v.id",
            )
            .bind(col(subs, |r| r.desktop.id.to_string()))
            .bind(col(subs, |r| r.sub_job_id.to_string()))
            .bind(col(subs, |r| r.operation.task_status().as_str())),
        )
        .await
        .map(drop)
    }

    async fn insert_members(
        &mut self,
        pool_id: &PoolId,
        members: &[PoolMember],
    ) -> StoreResult<()> {
        let pool_id = pool_id.to_string();
        if members.is_empty() {
            return Ok(());
        }
        self.run(
            sqlx::query(
                "INSERT INTO pool_members (pool_id, object_type, object_id, object_name, user_group, created_ms) \
                 SELECT $1, v.t, v.i, v.n, v.g, v.c FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::bigint[]) AS v(t, i, n, g, c) ON CONFLICT (pool_id, object_type, object_name) \
                 DO UPDATE SET user_group = excluded.user_group",
            )
            .bind(&pool_id)
            .bind(col(members, |m| m.object_type.as_str()))
            .bind(col(members, |m| m.object_id.as_str()))
            .bind(col(members, |m| m.object_name.as_str()))
            .bind(col(members, |m| m.user_group.as_deref()))
            .bind(col(members, |m| m.created_ms)),
        )
        .await
        .map(drop)
    }

    async fn insert_notifications(&mut self, list: &[NotificationRow]) -> StoreResult<()> {
        if list.is_empty() {
            return Ok(());
        }
        // `seq` comes from the sequence default, in input order (WITH ORDINALITY).
        self.run(
            sqlx::query(
                "INSERT INTO notifications (id, project_id, desktop_id, desktop_name, user_name, user_email, \
                 kind, message, job_id, created_ms) \
                 SELECT id, project_id, desktop_id, desktop_name, user_name, user_email, kind, message, job_id, \
                 created_ms FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::bigint[]) WITH ORDINALITY AS v(id, project_id, \
                 desktop_id, desktop_name, user_name, user_email, kind, message, job_id, created_ms, ord) \
                 ORDER BY ord",
            )
            .bind(col(list, |n| n.id.as_str()))
            .bind(col(list, |n| n.project_id.as_str()))
            .bind(col(list, |n| n.desktop_id.to_string()))
            .bind(col(list, |n| n.desktop_name.as_str()))
            .bind(col(list, |n| n.user_name.as_deref()))
            .bind(col(list, |n| n.user_email.as_deref()))
            .bind(col(list, |n| n.kind.as_str()))
            .bind(col(list, |n| n.message.as_str()))
            .bind(col(list, |n| n.job_id.map(|j| j.to_string())))
            .bind(col(list, |n| n.created_ms)),
        )
        .await
        .map(drop)
    }

    async fn reconcile(&mut self, changes: &[Correction]) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        self.run(
            sqlx::query(
                "UPDATE desktops d SET status = v.to_status, login_status = v.login \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
                 AS v(id, from_status, to_status, login) \
                 WHERE d.id = v.id AND d.status = v.from_status AND d.busy_sub_job IS NULL",
            )
            .bind(col(changes, |c| c.0.to_string()))
            .bind(col(changes, |c| c.1.as_str()))
            .bind(col(changes, |c| c.2.as_str()))
            .bind(col(changes, |c| c.3.as_str())),
        )
        .await
    }
}
