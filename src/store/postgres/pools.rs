//! Desktop pools on PostgreSQL: mirrors `sqlite/pools.rs`; the pool action
//! locks the pool's desktops (`FOR UPDATE`, by id) before checking them.

use super::decode::{DESKTOP_COLS, desktop};
use super::misc::escape_like;
use super::settle::{JobCounts, settle_jobs};
use super::submit::{NewSub, insert_job, insert_subs, lock_desktops, mark_busy, write_create};
use super::{PostgresStore, is_unique_violation};
use crate::domain::machine::{Operation, Snapshot};
use crate::store::{
    AutoscaleNeed, DesktopRow, NewDesktop, NewJob, PoolActionOutcome, PoolDeletion, PoolFilter,
    PoolMember, PoolRow, PoolUpdate, StoreError, StoreResult,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

const POOL_SELECT: &str = "SELECT p.id, p.project_id, p.name, p.pool_type, p.description, p.product_id, p.image_id, \
    p.image_type, p.availability_zone, p.root_volume, p.data_volumes, p.tags, p.disconnected_retention_period, \
    p.enable_autoscale, p.autoscale_policy, p.created_ms, \
    (SELECT COUNT(*) FROM desktops d WHERE d.pool_id = p.id), \
    (SELECT COUNT(*) FROM desktops d WHERE d.pool_id = p.id AND d.user_name IS NOT NULL) FROM pools p";

fn pool(r: &PgRow) -> StoreResult<PoolRow> {
    Ok(PoolRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        pool_type: r.try_get(3)?,
        description: r.try_get(4)?,
        product_id: r.try_get(5)?,
        image_id: r.try_get(6)?,
        image_type: r.try_get(7)?,
        availability_zone: r.try_get(8)?,
        root_volume: r.try_get(9)?,
        data_volumes: r.try_get(10)?,
        tags: r.try_get(11)?,
        disconnected_retention_period: r.try_get(12)?,
        enable_autoscale: r.try_get(13)?,
        autoscale_policy: r.try_get(14)?,
        created_ms: r.try_get(15)?,
        desktop_count: r.try_get(16)?,
        desktop_used: r.try_get(17)?,
    })
}

fn member(r: &PgRow) -> StoreResult<PoolMember> {
    Ok(PoolMember {
        object_type: r.try_get(0)?,
        object_id: r.try_get(1)?,
        object_name: r.try_get(2)?,
        user_group: r.try_get(3)?,
        created_ms: r.try_get(4)?,
    })
}

async fn insert_members(
    tx: &mut PgConnection,
    pool_id: &str,
    members: &[PoolMember],
) -> StoreResult<()> {
    if members.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&PoolMember) -> &String| members.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO pool_members (pool_id, object_type, object_id, object_name, user_group, created_ms) \
         SELECT $1, v.t, v.i, v.n, v.g, v.c FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
         AS v(t, i, n, g, c) ON CONFLICT (pool_id, object_type, object_name) DO UPDATE SET user_group = excluded.user_group",
    )
    .bind(pool_id)
    .bind(col(|m| &m.object_type))
    .bind(col(|m| &m.object_id))
    .bind(col(|m| &m.object_name))
    .bind(members.iter().map(|m| m.user_group.as_deref()).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.created_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl PostgresStore {
    pub(super) async fn create_pool_(
        &self,
        p: &PoolRow,
        members: &[PoolMember],
        job: &NewJob,
        desktops: &[NewDesktop],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO pools (id, project_id, name, pool_type, description, product_id, image_id, image_type, \
             availability_zone, root_volume, data_volumes, tags, disconnected_retention_period, enable_autoscale, \
             autoscale_policy, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&p.id)
        .bind(&p.project_id)
        .bind(&p.name)
        .bind(&p.pool_type)
        .bind(&p.description)
        .bind(&p.product_id)
        .bind(&p.image_id)
        .bind(&p.image_type)
        .bind(&p.availability_zone)
        .bind(&p.root_volume)
        .bind(&p.data_volumes)
        .bind(&p.tags)
        .bind(p.disconnected_retention_period)
        .bind(p.enable_autoscale)
        .bind(&p.autoscale_policy)
        .bind(p.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(p.name.clone()) } else { e.into() })?;
        insert_members(&mut tx, &p.id, members).await?;
        // Its desktops are an ordinary create job, written with the pool: no pool without them.
        write_create(&mut tx, job, desktops, &[]).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_pool_(
        &self,
        project_id: &str,
        pool_id: &str,
    ) -> StoreResult<Option<PoolRow>> {
        let row = sqlx::query(&format!(
            "{POOL_SELECT} WHERE p.project_id = $1 AND p.id = $2"
        ))
        .bind(project_id)
        .bind(pool_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| pool(&r)).transpose()
    }

    pub(super) async fn pool_project_(&self, pool_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT project_id FROM pools WHERE id = $1")
                .bind(pool_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(super) async fn list_pools_(
        &self,
        project_id: &str,
        f: &PoolFilter,
    ) -> StoreResult<(Vec<PoolRow>, i64)> {
        let like = f.name.as_ref().map(|n| format!("%{}%", escape_like(n)));
        const WHERE: &str = "WHERE p.project_id = $1 AND ($2::text IS NULL OR p.name COLLATE \"C\" ILIKE $2) AND ($3::text IS NULL OR p.pool_type = $3)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM pools p {WHERE}"))
            .bind(project_id)
            .bind(&like)
            .bind(&f.pool_type)
            .fetch_one(&self.pool)
            .await?;
        // COLLATE "C": byte order, as SQLite sorts, whatever the database locale.
        let rows = sqlx::query(&format!(
            "{POOL_SELECT} {WHERE} ORDER BY p.created_ms, p.name COLLATE \"C\" LIMIT $4 OFFSET $5"
        ))
        .bind(project_id)
        .bind(&like)
        .bind(&f.pool_type)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((rows.iter().map(pool).collect::<StoreResult<_>>()?, total))
    }

    pub(super) async fn update_pool_(
        &self,
        project_id: &str,
        pool_id: &str,
        u: &PoolUpdate,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE pools SET name = COALESCE($1, name), description = COALESCE($2, description), tags = COALESCE($3, tags), \
             disconnected_retention_period = COALESCE($4, disconnected_retention_period), \
             enable_autoscale = COALESCE($5, enable_autoscale), autoscale_policy = COALESCE($6, autoscale_policy) \
             WHERE project_id = $7 AND id = $8",
        )
        .bind(&u.name)
        .bind(&u.description)
        .bind(&u.tags)
        .bind(u.disconnected_retention_period)
        .bind(u.enable_autoscale)
        .bind(&u.autoscale_policy)
        .bind(project_id)
        .bind(pool_id)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(u.name.clone().unwrap_or_default()) } else { e.into() })?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn delete_pool_(
        &self,
        project_id: &str,
        pool_id: &str,
    ) -> StoreResult<PoolDeletion> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM pools WHERE project_id = $1 AND id = $2 FOR UPDATE")
                .bind(project_id)
                .bind(pool_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(PoolDeletion::NotFound);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM desktops WHERE pool_id = $1")
            .bind(pool_id)
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(PoolDeletion::NotEmpty(n));
        }
        sqlx::query("DELETE FROM pool_members WHERE pool_id = $1")
            .bind(pool_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pools WHERE id = $1")
            .bind(pool_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(PoolDeletion::Deleted)
    }

    pub(super) async fn change_pool_members_(
        &self,
        pool_id: &str,
        add: &[PoolMember],
        remove: &[PoolMember],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if !remove.is_empty() {
            sqlx::query(
                "DELETE FROM pool_members m USING UNNEST($2::text[], $3::text[]) AS v(t, n) \
                 WHERE m.pool_id = $1 AND m.object_type = v.t AND m.object_name = v.n",
            )
            .bind(pool_id)
            .bind(
                remove
                    .iter()
                    .map(|m| m.object_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                remove
                    .iter()
                    .map(|m| m.object_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        insert_members(&mut tx, pool_id, add).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn list_pool_members_(
        &self,
        pool_id: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<PoolMember>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pool_members WHERE pool_id = $1")
            .bind(pool_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT object_type, object_id, object_name, user_group, created_ms FROM pool_members WHERE pool_id = $1 \
             ORDER BY created_ms, object_name COLLATE \"C\" LIMIT $2 OFFSET $3",
        )
        .bind(pool_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((rows.iter().map(member).collect::<StoreResult<_>>()?, total))
    }

    pub(super) async fn submit_pool_action_(
        &self,
        job: &NewJob,
        op: Operation,
        pool_id: &str,
    ) -> StoreResult<PoolActionOutcome> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM desktops WHERE pool_id = $1 ORDER BY id")
                .bind(pool_id)
                .fetch_all(&mut *tx)
                .await?;
        if ids.is_empty() {
            return Ok(PoolActionOutcome::default());
        }
        let mut rows = lock_desktops(&mut tx, &ids).await?;
        // A desktop deleted while we waited for its lock is no longer the pool's.
        rows.retain(|d| d.pool_id.as_deref() == Some(pool_id));
        let mut accepted: Vec<&DesktopRow> = Vec::new();
        let mut refused: Vec<(&DesktopRow, String, String)> = Vec::new();
        for d in &rows {
            let snap = Snapshot {
                status: d.status,
                task: d.task_status,
                login: d.login_status,
            };
            match op.check(snap, false) {
                Ok(_) => accepted.push(d),
                Err(r) => refused.push((
                    d,
                    r.code().wire().to_owned(),
                    r.message(&d.id, op.wire_name()),
                )),
            }
        }
        insert_job(&mut tx, job, rows.len()).await?;
        let subs: Vec<NewSub<'_>> = accepted
            .iter()
            .map(|d| NewSub {
                id: crate::domain::ids::SubJobId::new().to_string(),
                desktop: d,
                operation: op,
            })
            .collect();
        if !subs.is_empty() {
            insert_subs(&mut tx, job, &subs).await?;
            mark_busy(&mut tx, &subs).await?;
        }
        if !refused.is_empty() {
            let col = |f: fn(&DesktopRow) -> &String| {
                refused
                    .iter()
                    .map(|(d, _, _)| f(d).as_str())
                    .collect::<Vec<_>>()
            };
            sqlx::query(
                "INSERT INTO sub_jobs (id, job_id, project_id, job_type, desktop_id, desktop_name, user_name, product_id, \
                 ip_address, operation, prev_status, prev_login, status, progress, error_code, fail_reason, created_ms, \
                 begin_ms, end_ms) \
                 SELECT v.id, $11, $12, $13, v.desktop_id, v.desktop_name, v.user_name, v.product_id, v.ip, $14, \
                 v.prev_status, v.prev_login, 'FAILED', 100, v.code, v.reason, $15, $15, $15 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::text[], $9::text[], $10::text[]) WITH ORDINALITY \
                 AS v(id, desktop_id, desktop_name, user_name, product_id, ip, prev_status, prev_login, code, reason, ord) \
                 ORDER BY v.ord",
            )
            .bind(refused.iter().map(|_| crate::domain::ids::SubJobId::new().to_string()).collect::<Vec<_>>())
            .bind(col(|d| &d.id))
            .bind(col(|d| &d.computer_name))
            .bind(refused.iter().map(|(d, _, _)| d.user_name.as_deref()).collect::<Vec<_>>())
            .bind(col(|d| &d.product_id))
            .bind(col(|d| &d.ip_address))
            .bind(refused.iter().map(|(d, _, _)| d.status.as_str()).collect::<Vec<_>>())
            .bind(refused.iter().map(|(d, _, _)| d.login_status.as_str()).collect::<Vec<_>>())
            .bind(refused.iter().map(|(_, c, _)| c.as_str()).collect::<Vec<_>>())
            .bind(refused.iter().map(|(_, _, r)| r.as_str()).collect::<Vec<_>>())
            .bind(&job.id)
            .bind(&job.project_id)
            .bind(job.job_type.as_str())
            .bind(op.to_string())
            .bind(job.now_ms)
            .execute(&mut *tx)
            .await?;
            let mut per_job = JobCounts::new();
            per_job.insert(
                job.id.clone(),
                (0, i64::try_from(refused.len()).unwrap_or(0)),
            );
            settle_jobs(&mut tx, &per_job, job.now_ms).await?;
        }
        tx.commit().await?;
        Ok(PoolActionOutcome {
            desktops: rows.len(),
            queued: subs.len(),
            not_applicable: refused.len(),
        })
    }

    pub(super) async fn bind_pool_user_(
        &self,
        pool_id: &str,
        user_name: &str,
    ) -> StoreResult<Option<DesktopRow>> {
        let mut tx = self.pool.begin().await?;
        let bound: Option<String> = sqlx::query_scalar(
            "SELECT id FROM desktops WHERE pool_id = $1 AND user_name = $2 ORDER BY seq LIMIT 1",
        )
        .bind(pool_id)
        .bind(user_name)
        .fetch_optional(&mut *tx)
        .await?;
        let target = match bound {
            Some(id) => Some(id),
            None => sqlx::query_scalar(
                "SELECT id FROM desktops WHERE pool_id = $1 AND user_name IS NULL AND status = 'ACTIVE' \
                 AND busy_sub_job IS NULL ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .bind(pool_id)
            .fetch_optional(&mut *tx)
            .await?,
        };
        let Some(id) = target else { return Ok(None) };
        let row = sqlx::query(&format!(
            "UPDATE desktops d SET user_name = $1, login_status = 'CONNECTED', disconnected_ms = NULL \
             WHERE d.id = $2 AND d.status = 'ACTIVE' AND d.busy_sub_job IS NULL AND (d.user_name IS NULL OR d.user_name = $1) \
             RETURNING {DESKTOP_COLS}"
        ))
        .bind(user_name)
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| desktop(&r, 0)).transpose()
    }

    pub(super) async fn unbind_expired_(&self, now_ms: i64) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE desktops d SET user_name = NULL, login_status = 'REGISTERED', disconnected_ms = NULL \
             FROM pools p WHERE p.id = d.pool_id AND p.pool_type = 'DYNAMIC' AND d.login_status = 'DISCONNECTED' \
             AND d.disconnected_ms IS NOT NULL AND d.busy_sub_job IS NULL \
             AND d.disconnected_ms + p.disconnected_retention_period * 60000 <= $1",
        )
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub(super) async fn autoscale_needs_(&self) -> StoreResult<Vec<AutoscaleNeed>> {
        let rows = sqlx::query(&format!("{POOL_SELECT} WHERE p.enable_autoscale AND p.autoscale_policy IS NOT NULL ORDER BY p.created_ms"))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let p = pool(r)?;
            let policy: serde_json::Value = serde_json::from_str(
                p.autoscale_policy.as_deref().unwrap_or("{}"),
            )
            .map_err(|_| StoreError::Corrupt(format!("autoscale_policy of pool {}", p.id)))?;
            let want = |k: &str| {
                policy
                    .get(k)
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0)
                    .max(0)
            };
            let (min_idle, max_auto) = (want("min_idle"), want("max_auto_created"));
            let idle: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM desktops WHERE pool_id = $1 AND user_name IS NULL AND status <> 'ERROR'")
                    .bind(&p.id)
                    .fetch_one(&self.pool)
                    .await?;
            let auto: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM desktops d WHERE d.pool_id = $1 AND EXISTS (SELECT 1 FROM sub_jobs s \
                 JOIN jobs j ON j.id = s.job_id WHERE s.desktop_id = d.id AND s.operation = 'create' AND j.requested_by = 'autoscale')",
            )
            .bind(&p.id)
            .fetch_one(&self.pool)
            .await?;
            let create = (min_idle - idle).min(max_auto - auto);
            if create > 0 {
                out.push(AutoscaleNeed {
                    pool: p,
                    create: usize::try_from(create).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }
}
