//! Desktop pools: lifecycle, members, the pool action, bindings and autoscale.

use super::decode::{DESKTOP_COLS, desktop};
use super::jobs::{NewSub, insert_job, insert_subs, load_desktops, lock_desktops, settle_jobs};
use super::misc::escape_like;
use super::{CHUNK, SqliteStore, is_unique_violation, reserve_seq};
use crate::domain::machine::{Operation, Snapshot};
use crate::store::{
    AutoscaleNeed, DesktopRow, NewDesktop, NewJob, PoolActionOutcome, PoolDeletion, PoolFilter,
    PoolMember, PoolRow, PoolUpdate, StoreError, StoreResult, UserRow,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashMap;

const POOL_SELECT: &str = "SELECT p.id, p.project_id, p.name, p.pool_type, p.description, p.product_id, p.image_id, \
    p.image_type, p.availability_zone, p.root_volume, p.data_volumes, p.tags, p.disconnected_retention_period, \
    p.enable_autoscale, p.autoscale_policy, p.created_ms, \
    (SELECT COUNT(*) FROM desktops d WHERE d.pool_id = p.id), \
    (SELECT COUNT(*) FROM desktops d WHERE d.pool_id = p.id AND d.user_name IS NOT NULL) FROM pools p";

fn pool(r: &SqliteRow) -> StoreResult<PoolRow> {
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

fn member(r: &SqliteRow) -> StoreResult<PoolMember> {
    Ok(PoolMember {
        object_type: r.try_get(0)?,
        object_id: r.try_get(1)?,
        object_name: r.try_get(2)?,
        user_group: r.try_get(3)?,
        created_ms: r.try_get(4)?,
    })
}

impl SqliteStore {
    pub(super) async fn create_pool_(
        &self,
        p: &PoolRow,
        members: &[PoolMember],
        job: &NewJob,
        desktops: &[NewDesktop],
    ) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO pools (id, project_id, name, pool_type, description, product_id, image_id, image_type, \
             availability_zone, root_volume, data_volumes, tags, disconnected_retention_period, enable_autoscale, \
             autoscale_policy, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        // The desktops are an ordinary create job, written with the pool: no pool without them.
        Self::write_create(&mut tx, job, desktops, &[] as &[UserRow]).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn get_pool_(
        &self,
        project_id: &str,
        pool_id: &str,
    ) -> StoreResult<Option<PoolRow>> {
        let row = sqlx::query(&format!(
            "{POOL_SELECT} WHERE p.project_id = ? AND p.id = ?"
        ))
        .bind(project_id)
        .bind(pool_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| pool(&r)).transpose()
    }

    pub(super) async fn pool_project_(&self, pool_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT project_id FROM pools WHERE id = ?")
                .bind(pool_id)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    pub(super) async fn list_pools_(
        &self,
        project_id: &str,
        f: &PoolFilter,
    ) -> StoreResult<(Vec<PoolRow>, i64)> {
        let like = f.name.as_ref().map(|n| format!("%{}%", escape_like(n)));
        const WHERE: &str = "WHERE p.project_id = ?1 AND (?2 IS NULL OR p.name LIKE ?2 ESCAPE '\\') AND (?3 IS NULL OR p.pool_type = ?3)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM pools p {WHERE}"))
            .bind(project_id)
            .bind(&like)
            .bind(&f.pool_type)
            .fetch_one(&self.read)
            .await?;
        let rows = sqlx::query(&format!(
            "{POOL_SELECT} {WHERE} ORDER BY p.created_ms, p.name LIMIT ?4 OFFSET ?5"
        ))
        .bind(project_id)
        .bind(&like)
        .bind(&f.pool_type)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.read)
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
            "UPDATE pools SET name = COALESCE(?1, name), description = COALESCE(?2, description), tags = COALESCE(?3, tags), \
             disconnected_retention_period = COALESCE(?4, disconnected_retention_period), \
             enable_autoscale = COALESCE(?5, enable_autoscale), autoscale_policy = COALESCE(?6, autoscale_policy) \
             WHERE project_id = ?7 AND id = ?8",
        )
        .bind(&u.name)
        .bind(&u.description)
        .bind(&u.tags)
        .bind(u.disconnected_retention_period)
        .bind(u.enable_autoscale)
        .bind(&u.autoscale_policy)
        .bind(project_id)
        .bind(pool_id)
        .execute(&self.write)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(u.name.clone().unwrap_or_default()) } else { e.into() })?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn delete_pool_(
        &self,
        project_id: &str,
        pool_id: &str,
    ) -> StoreResult<PoolDeletion> {
        let mut tx = self.write.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM pools WHERE project_id = ? AND id = ?")
                .bind(project_id)
                .bind(pool_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(PoolDeletion::NotFound);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM desktops WHERE pool_id = ?")
            .bind(pool_id)
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(PoolDeletion::NotEmpty(n));
        }
        sqlx::query("DELETE FROM pool_members WHERE pool_id = ?")
            .bind(pool_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pools WHERE id = ?")
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
        let mut tx = self.write.begin().await?;
        for m in remove {
            sqlx::query("DELETE FROM pool_members WHERE pool_id = ? AND object_type = ? AND object_name = ?")
                .bind(pool_id)
                .bind(&m.object_type)
                .bind(&m.object_name)
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
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pool_members WHERE pool_id = ?")
            .bind(pool_id)
            .fetch_one(&self.read)
            .await?;
        let rows = sqlx::query(
            "SELECT object_type, object_id, object_name, user_group, created_ms FROM pool_members WHERE pool_id = ? \
             ORDER BY created_ms, object_name LIMIT ? OFFSET ?",
        )
        .bind(pool_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        Ok((rows.iter().map(member).collect::<StoreResult<_>>()?, total))
    }

    pub(super) async fn submit_pool_action_(
        &self,
        job: &NewJob,
        op: Operation,
        pool_id: &str,
    ) -> StoreResult<PoolActionOutcome> {
        let mut tx = self.write.begin().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM desktops WHERE pool_id = ? ORDER BY seq")
                .bind(pool_id)
                .fetch_all(&mut *tx)
                .await?;
        if ids.is_empty() {
            return Ok(PoolActionOutcome::default());
        }
        let rows = load_desktops(&mut tx, &ids).await?;
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
        let first = reserve_seq(&mut tx, rows.len()).await?;
        insert_job(&mut tx, job, rows.len()).await?;
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
        let base = first + i64::try_from(subs.len()).unwrap_or(0);
        for (n, chunk) in refused.chunks(CHUNK).enumerate() {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO sub_jobs (id, seq, job_id, project_id, job_type, desktop_id, desktop_name, user_name, product_id, \
                 ip_address, operation, prev_status, prev_login, status, progress, error_code, fail_reason, created_ms, begin_ms, end_ms) ",
            );
            let mut i = base + i64::try_from(n * CHUNK).unwrap_or(0);
            qb.push_values(chunk, |mut b, (d, code, reason)| {
                b.push_bind(crate::domain::ids::SubJobId::new().to_string())
                    .push_bind(i)
                    .push_bind(&job.id)
                    .push_bind(&job.project_id)
                    .push_bind(job.job_type.as_str())
                    .push_bind(&d.id)
                    .push_bind(&d.computer_name)
                    .push_bind(&d.user_name)
                    .push_bind(&d.product_id)
                    .push_bind(&d.ip_address)
                    .push_bind(op.to_string())
                    .push_bind(d.status.as_str())
                    .push_bind(d.login_status.as_str())
                    .push_bind("FAILED")
                    .push_bind(100)
                    .push_bind(code)
                    .push_bind(reason)
                    .push_bind(job.now_ms)
                    .push_bind(job.now_ms)
                    .push_bind(job.now_ms);
                i += 1;
            });
            qb.build().execute(&mut *tx).await?;
        }
        if !refused.is_empty() {
            let per_job = HashMap::from([(
                job.id.clone(),
                (0, i64::try_from(refused.len()).unwrap_or(0)),
            )]);
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
        let mut tx = self.write.begin().await?;
        let bound: Option<String> = sqlx::query_scalar(
            "SELECT id FROM desktops WHERE pool_id = ? AND user_name = ? ORDER BY seq LIMIT 1",
        )
        .bind(pool_id)
        .bind(user_name)
        .fetch_optional(&mut *tx)
        .await?;
        let target = match bound {
            Some(id) => Some(id),
            None => sqlx::query_scalar(
                "SELECT id FROM desktops WHERE pool_id = ? AND user_name IS NULL AND status = 'ACTIVE' \
                 AND busy_sub_job IS NULL ORDER BY seq LIMIT 1",
            )
            .bind(pool_id)
            .fetch_optional(&mut *tx)
            .await?,
        };
        let Some(id) = target else { return Ok(None) };
        let updated = sqlx::query(
            "UPDATE desktops SET user_name = ?, login_status = 'CONNECTED', disconnected_ms = NULL \
             WHERE id = ? AND status = 'ACTIVE' AND busy_sub_job IS NULL",
        )
        .bind(user_name)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = ?"
        ))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(desktop(&row, 0)?))
    }

    pub(super) async fn unbind_expired_(&self, now_ms: i64) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE desktops SET user_name = NULL, login_status = 'REGISTERED', disconnected_ms = NULL \
             WHERE login_status = 'DISCONNECTED' AND disconnected_ms IS NOT NULL AND busy_sub_job IS NULL \
             AND EXISTS (SELECT 1 FROM pools p WHERE p.id = desktops.pool_id AND p.pool_type = 'DYNAMIC' \
                         AND desktops.disconnected_ms + p.disconnected_retention_period * 60000 <= ?)",
        )
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected())
    }

    pub(super) async fn autoscale_needs_(&self) -> StoreResult<Vec<AutoscaleNeed>> {
        let rows = sqlx::query(&format!(
            "{POOL_SELECT} WHERE p.enable_autoscale = 1 AND p.autoscale_policy IS NOT NULL ORDER BY p.created_ms"
        ))
        .fetch_all(&self.read)
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
            // Free desktops, including those still being created, so one shortfall is filled once.
            let idle: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM desktops WHERE pool_id = ? AND user_name IS NULL AND status <> 'ERROR'",
            )
            .bind(&p.id)
            .fetch_one(&self.read)
            .await?;
            let auto: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM desktops d WHERE d.pool_id = ?1 AND EXISTS (SELECT 1 FROM sub_jobs s \
                 JOIN jobs j ON j.id = s.job_id WHERE s.desktop_id = d.id AND s.operation = 'create' AND j.requested_by = 'autoscale')",
            )
            .bind(&p.id)
            .fetch_one(&self.read)
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

async fn insert_members(
    tx: &mut sqlx::SqliteConnection,
    pool_id: &str,
    members: &[PoolMember],
) -> StoreResult<()> {
    for chunk in members.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO pool_members (pool_id, object_type, object_id, object_name, user_group, created_ms) ",
        );
        qb.push_values(chunk, |mut b, m| {
            b.push_bind(pool_id)
                .push_bind(&m.object_type)
                .push_bind(&m.object_id)
                .push_bind(&m.object_name)
                .push_bind(&m.user_group)
                .push_bind(m.created_ms);
        });
        qb.push(" ON CONFLICT (pool_id, object_type, object_name) DO UPDATE SET user_group = excluded.user_group");
        qb.build().execute(&mut *tx).await?;
    }
    Ok(())
}
