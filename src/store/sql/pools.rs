//! Desktop pools, written once: their lifecycle and members, the pool action
//! (admission by `domain::admission::pool_action`), user bindings and autoscale.

use super::bulk::{Bulk, NewSub, RefusedSub};
use super::decode::{self, DESKTOP_COLS, MEMBER_COLS, POOL_SELECT};
use super::jobs::{candidate, insert_job};
use super::settle::{self, JobCounts};
use super::{Db, Dialect, Exec, q};
use crate::domain::admission;
use crate::domain::ids::{PoolId, ProjectId};
use crate::domain::machine::Operation;
use crate::store::{
    AutoscaleNeed, DesktopRow, NewDesktop, NewJob, PoolActionOutcome, PoolDeletion, PoolFilter,
    PoolMember, PoolRow, PoolUpdate, Pools, StoreResult,
};

impl Dialect {
    /// The suffix that locks a row a SELECT reads, skipping rows another
    /// transaction holds (SQLite: nothing to skip, one writer at a time).
    const fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// How many desktops autoscale should create for `p` now.
async fn autoscale_need<D: Db>(db: &D, p: &PoolRow) -> StoreResult<i64> {
    let Some(policy) = &p.autoscale_policy else {
        return Ok(0);
    };
    // Free desktops, including those still being created, so one shortfall is filled once.
    let free = "SELECT COUNT(*) FROM desktops WHERE pool_id = $1 AND user_name IS NULL \
                AND status <> 'ERROR'";
    let free = db.reader().scalar(q!(free; &p.id)).await?;
    let created = "SELECT COUNT(*) FROM desktops d WHERE d.pool_id = $1 AND EXISTS (SELECT 1 \
                   FROM sub_jobs s JOIN jobs j ON j.id = s.job_id WHERE s.desktop_id = d.id \
                   AND s.operation = 'create' AND j.requested_by = 'autoscale')";
    let made = db.reader().scalar(q!(created; &p.id)).await?;
    Ok(policy.shortfall(free, made))
}

#[async_trait::async_trait]
impl<D: Db> Pools for D {
    async fn create_pool(
        &self,
        p: &PoolRow,
        members: &[PoolMember],
        job: &NewJob,
        desktops: &[NewDesktop],
    ) -> StoreResult<()> {
        let sql = "INSERT INTO pools (id, project_id, name, pool_type, description, product_id, \
                   image_id, image_type, availability_zone, root_volume, data_volumes, tags, \
                   disconnected_retention_period, enable_autoscale, autoscale_policy, created_ms) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
        let stmt = q!(sql; &p.id, &p.project_id, &p.name, &p.pool_type, &p.description, &p.product_id,
            &p.image_id, &p.image_type, &p.availability_zone, &p.root_volume, &p.data_volumes, &p.tags,
            p.disconnected_retention_period, p.enable_autoscale, &p.autoscale_policy, p.created_ms);
        // The pool, its members and its desktops' create job: all or nothing.
        let mut tx = self.begin().await?;
        super::desktops::reserve_names(&mut tx, D::DIALECT, &p.project_id, desktops).await?;
        tx.execute(stmt).await.map_err(|e| e.conflict_on(&p.name))?;
        tx.insert_members(&p.id, members).await?;
        insert_job(&mut tx, job, desktops.len()).await?;
        let subs: Vec<NewSub<'_>> = desktops
            .iter()
            .map(|d| NewSub::new(&d.row, Operation::Create))
            .collect();
        tx.insert_desktops(&subs).await?;
        tx.insert_sub_jobs(job, &subs).await?;
        D::commit(tx).await
    }

    async fn get_pool(
        &self,
        project_id: &ProjectId,
        pool_id: &PoolId,
    ) -> StoreResult<Option<PoolRow>> {
        let sql = format!("{POOL_SELECT} WHERE p.project_id = $1 AND p.id = $2");
        self.reader()
            .fetch_optional(q!(&sql; project_id, pool_id), decode::pool)
            .await
    }

    async fn pool_project(&self, pool_id: &PoolId) -> StoreResult<Option<ProjectId>> {
        let sql = "SELECT project_id FROM pools WHERE id = $1";
        self.reader()
            .fetch_optional(q!(sql; pool_id), |r| decode::typed(r, 0, "project id"))
            .await
    }

    async fn list_pools(
        &self,
        project_id: &ProjectId,
        f: &PoolFilter,
    ) -> StoreResult<(Vec<PoolRow>, i64)> {
        let filter = |head: &str| {
            let mut sql = self.sql(head);
            sql.push(" WHERE p.project_id = ").bind(project_id);
            if let Some(n) = &f.name {
                sql.and_contains("p.name", n);
            }
            if let Some(t) = &f.pool_type {
                sql.push(" AND p.pool_type = ").bind(t);
            }
            sql
        };
        let total = self
            .reader()
            .scalar(filter("SELECT COUNT(*) FROM pools p").query())
            .await?;
        let mut page = filter(POOL_SELECT);
        page.push(" ORDER BY p.created_ms, ")
            .push(&D::DIALECT.collated("p.name"))
            .page(f.limit, f.offset);
        let rows = self.reader().fetch(page.query(), decode::pool).await?;
        Ok((rows, total))
    }

    async fn update_pool(
        &self,
        project_id: &ProjectId,
        pool_id: &PoolId,
        u: &PoolUpdate,
    ) -> StoreResult<bool> {
        let sql = "UPDATE pools SET name = COALESCE($1, name), description = COALESCE($2, description), \
                   tags = COALESCE($3, tags), \
                   disconnected_retention_period = COALESCE($4, disconnected_retention_period), \
                   enable_autoscale = COALESCE($5, enable_autoscale), \
                   autoscale_policy = COALESCE($6, autoscale_policy) WHERE project_id = $7 AND id = $8";
        let stmt = q!(sql; &u.name, &u.description, &u.tags, u.disconnected_retention_period,
            u.enable_autoscale, &u.autoscale_policy, project_id, pool_id);
        let n = self
            .write(stmt)
            .await
            .map_err(|e| e.conflict_on(u.name.as_deref().unwrap_or_default()))?;
        Ok(n > 0)
    }

    async fn delete_pool(
        &self,
        project_id: &ProjectId,
        pool_id: &PoolId,
    ) -> StoreResult<PoolDeletion> {
        let mut tx = self.begin().await?;
        let find = format!(
            "SELECT id FROM pools WHERE project_id = $1 AND id = $2{}",
            D::DIALECT.for_update()
        );
        if tx
            .fetch_optional(q!(&find; project_id, pool_id), decode::text)
            .await?
            .is_none()
        {
            return Ok(PoolDeletion::NotFound);
        }
        let count = "SELECT COUNT(*) FROM desktops WHERE pool_id = $1";
        let n = tx.scalar(q!(count; pool_id)).await?;
        if n > 0 {
            return Ok(PoolDeletion::NotEmpty(n));
        }
        tx.execute(q!("DELETE FROM pool_members WHERE pool_id = $1"; pool_id))
            .await?;
        tx.execute(q!("DELETE FROM pools WHERE id = $1"; pool_id))
            .await?;
        D::commit(tx).await?;
        Ok(PoolDeletion::Deleted)
    }

    async fn change_pool_members(
        &self,
        pool_id: &PoolId,
        add: &[PoolMember],
        remove: &[PoolMember],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let delete =
            "DELETE FROM pool_members WHERE pool_id = $1 AND object_type = $2 AND object_name = $3";
        for m in remove {
            tx.execute(q!(delete; pool_id, &m.object_type, &m.object_name))
                .await?;
        }
        tx.insert_members(pool_id, add).await?;
        D::commit(tx).await
    }

    async fn list_pool_members(
        &self,
        pool_id: &PoolId,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<PoolMember>, i64)> {
        let count = "SELECT COUNT(*) FROM pool_members WHERE pool_id = $1";
        let total = self.reader().scalar(q!(count; pool_id)).await?;
        let sql = format!(
            "SELECT {MEMBER_COLS} FROM pool_members WHERE pool_id = $1 \
             ORDER BY created_ms, {} LIMIT $2 OFFSET $3",
            D::DIALECT.collated("object_name")
        );
        let rows = self
            .reader()
            .fetch(q!(&sql; pool_id, limit, offset), decode::member)
            .await?;
        Ok((rows, total))
    }

    async fn submit_pool_action(
        &self,
        job: &NewJob,
        op: Operation,
        pool_id: &PoolId,
    ) -> StoreResult<PoolActionOutcome> {
        let mut tx = self.begin().await?;
        let members = "SELECT id FROM desktops WHERE pool_id = $1 ORDER BY seq";
        let ids = tx
            .fetch(q!(members; pool_id), |r| decode::typed(r, 0, "desktop id"))
            .await?;
        if ids.is_empty() {
            return Ok(PoolActionOutcome::default());
        }
        let mut rows = tx.lock_desktops(&ids).await?;
        // A desktop deleted while we waited for its lock is no longer the pool's.
        rows.retain(|d| d.pool_id.as_ref() == Some(pool_id));
        let mut accepted: Vec<NewSub<'_>> = Vec::new();
        let mut refused: Vec<RefusedSub<'_>> = Vec::new();
        for d in &rows {
            match admission::pool_action(op, candidate(d).state) {
                Ok(()) => accepted.push(NewSub::new(d, op)),
                Err(r) => refused.push(RefusedSub {
                    desktop: d,
                    code: r.code().wire().to_owned(),
                    reason: r.message(&d.id.to_string(), op.wire_name()),
                }),
            }
        }
        insert_job(&mut tx, job, rows.len()).await?;
        tx.insert_sub_jobs(job, &accepted).await?;
        tx.mark_busy(&accepted).await?;
        tx.insert_refused_sub_jobs(job, op, &refused).await?;
        if !refused.is_empty() {
            let failed = i64::try_from(refused.len()).unwrap_or(i64::MAX);
            let counts = JobCounts::from([(job.id, (0, failed))]);
            settle::settle_jobs(&mut tx, &counts, job.now_ms).await?;
        }
        D::commit(tx).await?;
        Ok(PoolActionOutcome {
            desktops: rows.len(),
            queued: accepted.len(),
            not_applicable: refused.len(),
        })
    }

    async fn bind_pool_user(
        &self,
        pool_id: &PoolId,
        user_name: &str,
    ) -> StoreResult<Option<DesktopRow>> {
        let mut tx = self.begin().await?;
        let theirs =
            "SELECT id FROM desktops WHERE pool_id = $1 AND user_name = $2 ORDER BY seq LIMIT 1";
        let bound = tx
            .fetch_optional(q!(theirs; pool_id, user_name), decode::text)
            .await?;
        let target = if let Some(id) = bound {
            Some(id)
        } else {
            let free = format!(
                "SELECT id FROM desktops WHERE pool_id = $1 AND user_name IS NULL \
                 AND status = 'ACTIVE' AND busy_sub_job IS NULL ORDER BY seq LIMIT 1{}",
                D::DIALECT.skip_locked()
            );
            tx.fetch_optional(q!(&free; pool_id), decode::text).await?
        };
        let Some(id) = target else { return Ok(None) };
        // Only an idle ACTIVE desktop that is free or already theirs.
        let bind = "UPDATE desktops SET user_name = $1, login_status = 'CONNECTED', \
                    disconnected_ms = NULL WHERE id = $2 AND status = 'ACTIVE' \
                    AND busy_sub_job IS NULL AND (user_name IS NULL OR user_name = $1)";
        if tx.execute(q!(bind; user_name, &id)).await? == 0 {
            return Ok(None);
        }
        let read = format!("SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = $1");
        let row = tx.fetch_optional(q!(&read; &id), decode::desktop).await?;
        D::commit(tx).await?;
        Ok(row)
    }

    async fn unbind_expired(&self, now_ms: i64) -> StoreResult<u64> {
        let sql = "UPDATE desktops SET user_name = NULL, login_status = 'REGISTERED', disconnected_ms = NULL \
                   WHERE login_status = 'DISCONNECTED' AND disconnected_ms IS NOT NULL \
                   AND busy_sub_job IS NULL AND EXISTS (SELECT 1 FROM pools p \
                   WHERE p.id = desktops.pool_id AND p.pool_type = 'DYNAMIC' \
                   AND desktops.disconnected_ms + p.disconnected_retention_period * 60000 <= $1)";
        self.write(q!(sql; now_ms)).await
    }

    async fn autoscale_needs(&self) -> StoreResult<Vec<AutoscaleNeed>> {
        let sql = format!(
            "{POOL_SELECT} WHERE p.enable_autoscale = TRUE AND p.autoscale_policy IS NOT NULL \
             ORDER BY p.created_ms"
        );
        let pools = self.reader().fetch(q!(&sql), decode::pool).await?;
        let mut out = Vec::new();
        for pool in pools {
            let create = autoscale_need(self, &pool).await?;
            if create > 0 {
                out.push(AutoscaleNeed {
                    pool,
                    create: usize::try_from(create).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }
}
