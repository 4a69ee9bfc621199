//! SQLite's job queue: claims, leases and orphan recovery. One writer means a
//! claim needs no row locks: the UPDATE that marks sub-jobs RUNNING is the claim.

use super::SqliteStore;
use super::conn::SqliteTx;
use crate::domain::ids::{ClaimId, SubJobId};
use crate::store::sql::decode::{claimed, claimed_select};
use crate::store::sql::{Db as _, Exec as _, q};
use crate::store::{Claimed, Completion, Holder, OrphanScope, Queue, StoreResult};

/// Rows per statement when SQLite expands a list of ids.
const CHUNK: usize = 500;

/// RUNNING sub-jobs that lost their worker: lease expired before `$1`, or
/// (`$2`) held by an earlier incarnation of node `$3` (ours is `$4`), or (`$5`)
/// held by any incarnation but ours.
const ORPHAN: &str = "status = 'RUNNING' AND (lease_until < $1 \
     OR ($2 AND lease_owner = $3 AND lease_incarnation IS NOT $4) \
     OR ($5 AND lease_incarnation IS NOT $4))";

/// The sub-jobs a claim (or recovery) just marked with `token`, with their job's
/// parameters and their desktop while it still exists and they still hold it.
async fn load_claimed(tx: &mut SqliteTx, token: &str) -> StoreResult<Vec<Claimed>> {
    let sql = format!(
        "{} WHERE s.claim_token = $1 ORDER BY s.seq",
        claimed_select()
    );
    tx.fetch(q!(&sql; token), claimed).await
}

#[async_trait::async_trait]
impl Queue for SqliteStore {
    async fn claim(
        &self,
        holder: &Holder,
        limit: i64,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<Vec<Claimed>> {
        let token = ClaimId::new().to_string();
        let mut tx = self.begin().await?;
        let take = "UPDATE sub_jobs SET status = 'RUNNING', lease_owner = $1, lease_incarnation = $2, \
                    lease_until = $3, claim_token = $4, progress = 10, begin_ms = COALESCE(begin_ms, $5) \
                    WHERE id IN (SELECT id FROM sub_jobs WHERE status = 'WAITING' AND run_after_ms <= $5 \
                    ORDER BY seq LIMIT $6)";
        let n = tx
            .execute(q!(take; &holder.node, &holder.incarnation, lease_until_ms, token.as_str(), now_ms, limit))
            .await?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let start = "UPDATE jobs SET status = 'RUNNING', begin_ms = COALESCE(begin_ms, $1) \
                     WHERE status = 'WAITING' AND id IN (SELECT DISTINCT job_id FROM sub_jobs \
                     WHERE claim_token = $2)";
        tx.execute(q!(start; now_ms, token.as_str())).await?;
        let out = load_claimed(&mut tx, &token).await?;
        Self::commit(tx).await?;
        Ok(out)
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
        let mut tx = self.begin().await?;
        let mut renewed = 0;
        for chunk in ids.chunks(CHUNK) {
            let mut sql = self.sql("UPDATE sub_jobs SET lease_until = ");
            sql.bind(lease_until_ms)
                .push(" WHERE status = 'RUNNING' AND lease_incarnation = ")
                .bind(holder.incarnation.as_str())
                .push(" AND id");
            sql.in_list(chunk.iter().map(SubJobId::to_string));
            renewed += tx.execute(sql.query()).await?;
        }
        Self::commit(tx).await?;
        Ok(renewed)
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
        let mut tx = self.begin().await?;
        let back = format!(
            "UPDATE sub_jobs SET status = 'WAITING', attempt = attempt + 1, progress = 0, \
             lease_owner = NULL, lease_incarnation = NULL, lease_until = NULL, claim_token = NULL \
             WHERE {ORPHAN} AND attempt < $6"
        );
        let requeued = tx
            .execute(q!(&back; now_ms, mine, &holder.node, &holder.incarnation, all, max_attempts))
            .await?;
        let token = ClaimId::new().to_string();
        let keep = format!(
            "UPDATE sub_jobs SET lease_owner = $3, lease_incarnation = $4, lease_until = $7, \
             claim_token = $8 WHERE {ORPHAN} AND attempt >= $6"
        );
        tx.execute(q!(&keep; now_ms, mine, &holder.node, &holder.incarnation, all, max_attempts, lease_until_ms, token.as_str()))
            .await?;
        let exhausted = load_claimed(&mut tx, &token).await?;
        Self::commit(tx).await?;
        Ok((requeued, exhausted))
    }

    async fn next_lease_end(&self, holder: &Holder) -> StoreResult<Option<i64>> {
        let sql = "SELECT MIN(lease_until) FROM sub_jobs WHERE status = 'RUNNING' \
                   AND lease_incarnation IS NOT $1";
        let v = self
            .reader()
            .fetch(q!(sql; &holder.incarnation), |r| r.opt_int(0))
            .await?;
        Ok(v.into_iter().next().flatten())
    }

    async fn next_due_ms(&self) -> StoreResult<Option<i64>> {
        let sql = "SELECT MIN(run_after_ms) FROM sub_jobs WHERE status = 'WAITING'";
        let v = self.reader().fetch(q!(sql), |r| r.opt_int(0)).await?;
        Ok(v.into_iter().next().flatten())
    }
}
