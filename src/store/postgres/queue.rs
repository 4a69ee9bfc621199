//! The queue: claiming with leases (`FOR UPDATE SKIP LOCKED`, so nodes never
//! claim the same sub-job nor wait for each other), lease renewal, orphan
//! recovery, and reading jobs back.

use super::PostgresStore;
use crate::domain::ids::{ClaimId, SubJobId};
use crate::store::sql::Db as _;
use crate::store::sql::decode::{claimed, claimed_select};
use crate::store::{Claimed, Completion, Holder, OrphanScope, Queue, StoreResult};
use sqlx::PgConnection;

/// RUNNING sub-jobs that lost their worker: lease expired before `$1`, or
/// (`$2`) held by an earlier incarnation of node `$3` (ours is `$4`), or (`$5`)
/// held by any incarnation but ours.
const ORPHAN: &str = "status = 'RUNNING' AND (lease_until < $1 \
     OR ($2 AND lease_owner = $3 AND lease_incarnation IS DISTINCT FROM $4) \
     OR ($5 AND lease_incarnation IS DISTINCT FROM $4))";

#[async_trait::async_trait]
impl Queue for PostgresStore {
    async fn claim(
        &self,
        holder: &Holder,
        limit: i64,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<Vec<Claimed>> {
        let token = ClaimId::new().to_string();
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "WITH picked AS (SELECT id FROM sub_jobs WHERE status = 'WAITING' AND run_after_ms <= $4 \
             ORDER BY seq LIMIT $5 FOR UPDATE SKIP LOCKED) \
             UPDATE sub_jobs s SET status = 'RUNNING', lease_owner = $1, lease_incarnation = $6, \
             lease_until = $2, claim_token = $3, progress = 10, begin_ms = COALESCE(s.begin_ms, $4) \
             FROM picked WHERE s.id = picked.id RETURNING s.id, s.job_id",
        )
        .bind(&holder.node)
        .bind(lease_until_ms)
        .bind(&token)
        .bind(now_ms)
        .bind(limit)
        .bind(&holder.incarnation)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, mut jobs): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
        jobs.sort_unstable();
        jobs.dedup();
        // Jobs locked in id order (see settle_jobs); one already RUNNING is skipped
        // without waiting for its lock.
        sqlx::query(
            "WITH l AS (SELECT id FROM jobs WHERE id = ANY($2) AND status = 'WAITING' \
             ORDER BY id FOR UPDATE) \
             UPDATE jobs j SET status = 'RUNNING', begin_ms = COALESCE(j.begin_ms, $1) \
             FROM l WHERE j.id = l.id",
        )
        .bind(now_ms)
        .bind(&jobs)
        .execute(&mut *tx)
        .await?;
        let claimed = load_claimed(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn complete(
        &self,
        holder: &Holder,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<usize> {
        self.record_completions(holder, done, now_ms).await
    }

    async fn renew_leases(
        &self,
        holder: &Holder,
        ids: &[SubJobId],
        lease_until_ms: i64,
    ) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        // Locked in id order, like completion, which may run at the same time.
        let r = sqlx::query(
            "WITH l AS (SELECT id FROM sub_jobs WHERE id = ANY($3) AND lease_incarnation = $2 \
             AND status = 'RUNNING' ORDER BY id FOR UPDATE) \
             UPDATE sub_jobs s SET lease_until = $1 FROM l WHERE s.id = l.id",
        )
        .bind(lease_until_ms)
        .bind(&holder.incarnation)
        .bind(ids.iter().map(SubJobId::to_string).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn requeue_orphans(
        &self,
        holder: &Holder,
        now_ms: i64,
        scope: OrphanScope,
        max_attempts: i64,
        lease_until_ms: i64,
    ) -> StoreResult<(u64, Vec<Claimed>)> {
        let mine = scope != OrphanScope::Expired;
        let all = scope == OrphanScope::AllOthers;
        // SKIP LOCKED: a locked row is being completed, renewed or recovered by
        // someone else right now; it is not ours to take this round.
        let mut tx = self.pool.begin().await?;
        let requeued = sqlx::query(&format!(
            "WITH l AS (SELECT id FROM sub_jobs WHERE {ORPHAN} AND attempt < $6 \
             ORDER BY id FOR UPDATE SKIP LOCKED) \
             UPDATE sub_jobs s SET status = 'WAITING', attempt = s.attempt + 1, progress = 0, \
             lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, claim_token = NULL \
             FROM l WHERE s.id = l.id"
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
        let token = ClaimId::new().to_string();
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "WITH l AS (SELECT id FROM sub_jobs WHERE {ORPHAN} AND attempt >= $6 \
             ORDER BY id FOR UPDATE SKIP LOCKED) \
             UPDATE sub_jobs s SET lease_owner = $3, lease_incarnation = $4, lease_until = $7, \
             claim_token = $8 FROM l WHERE s.id = l.id RETURNING s.id"
        ))
        .bind(now_ms)
        .bind(mine)
        .bind(&holder.node)
        .bind(&holder.incarnation)
        .bind(all)
        .bind(max_attempts)
        .bind(lease_until_ms)
        .bind(&token)
        .fetch_all(&mut *tx)
        .await?;
        let exhausted = load_claimed(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok((requeued, exhausted))
    }

    async fn next_lease_end(&self, holder: &Holder) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(lease_until) FROM sub_jobs WHERE status = 'RUNNING' \
             AND lease_incarnation IS DISTINCT FROM $1",
        )
        .bind(&holder.incarnation)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn next_due_ms(&self) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(run_after_ms) FROM sub_jobs WHERE status = 'WAITING'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// The sub-jobs just claimed, with their job's parameters and their desktop
/// when it still exists and is still held by them. By id, not by claim token:
/// the primary key is the one index that queue updates need anyway.
async fn load_claimed(tx: &mut PgConnection, ids: &[String]) -> StoreResult<Vec<Claimed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{} WHERE s.id = ANY($1) ORDER BY s.seq", claimed_select());
    let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *tx).await?;
    rows.iter().map(|r| claimed(r)).collect()
}
