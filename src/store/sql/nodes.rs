//! The node registry and cluster-wide task leases: written once.

use super::decode::{self, NODE_COLS};
use super::{Db, Exec, q};
use crate::store::{Holder, NodeRow, Nodes, StoreResult};

#[async_trait::async_trait]
impl<D: Db> Nodes for D {
    async fn upsert_node(&self, n: &NodeRow) -> StoreResult<()> {
        let sql = "INSERT INTO nodes (id, incarnation, address, started_ms, heartbeat_ms) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                   incarnation = excluded.incarnation, address = excluded.address, \
                   started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms";
        let stmt = q!(sql; &n.id, &n.incarnation, &n.address, n.started_ms, n.heartbeat_ms);
        self.write(stmt).await.map(drop)
    }

    async fn list_nodes(&self) -> StoreResult<Vec<NodeRow>> {
        let sql = format!(
            "SELECT {NODE_COLS} FROM nodes ORDER BY heartbeat_ms DESC, {}",
            D::DIALECT.collated("id")
        );
        self.reader().fetch(q!(&sql), decode::node).await
    }

    async fn take_task_lease(
        &self,
        name: &str,
        holder: &Holder,
        now_ms: i64,
        until_ms: i64,
        at_start: bool,
    ) -> StoreResult<bool> {
        // Taken when free, expired (before $5), already ours, or ($6, at start)
        // held by an earlier process of our node; a row comes back when held.
        let sql = "INSERT INTO task_leases (name, node, incarnation, until_ms) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (name) DO UPDATE SET node = excluded.node, \
                   incarnation = excluded.incarnation, until_ms = excluded.until_ms \
                   WHERE task_leases.until_ms < $5 OR task_leases.incarnation = excluded.incarnation \
                   OR ($6 AND task_leases.node = excluded.node) RETURNING incarnation";
        let stmt = q!(sql; name, &holder.node, &holder.incarnation, until_ms, now_ms, at_start);
        let mut tx = self.begin().await?;
        let held = tx.fetch_optional(stmt, decode::text).await?;
        D::commit(tx).await?;
        Ok(held.is_some())
    }
}
