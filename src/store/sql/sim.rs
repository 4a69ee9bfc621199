//! The simulator's state (injected faults, what it carried out): written once.

use super::decode::{self, SIM_APPLIED_COLS, SIM_FAULT_COLS};
use super::{Db, Exec, q};
use crate::domain::error_code::Code;
use crate::domain::ids::{DesktopId, SubJobId};
use crate::store::{SimApplied, SimFault, SimState, StoreResult};

#[async_trait::async_trait]
impl<D: Db> SimState for D {
    async fn put_sim_fault(&self, f: &SimFault) -> StoreResult<()> {
        let sql = "INSERT INTO sim_faults (desktop_id, fail_remaining, fail_ops, error_code, error_msg, \
                   ignore_soft) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (desktop_id) DO UPDATE SET \
                   fail_remaining = excluded.fail_remaining, fail_ops = excluded.fail_ops, \
                   error_code = excluded.error_code, error_msg = excluded.error_msg, \
                   ignore_soft = excluded.ignore_soft";
        let stmt = q!(sql; &f.desktop_id, f.fail_remaining, &f.fail_ops, &f.error_code, &f.error_msg, f.ignore_soft);
        self.write(stmt).await.map(drop)
    }

    async fn clear_sim_fault(&self, desktop_id: &DesktopId) -> StoreResult<bool> {
        let sql = "DELETE FROM sim_faults WHERE desktop_id = $1";
        Ok(self.write(q!(sql; desktop_id)).await? > 0)
    }

    async fn get_sim_fault(&self, desktop_id: &DesktopId) -> StoreResult<Option<SimFault>> {
        let sql = format!("SELECT {SIM_FAULT_COLS} FROM sim_faults WHERE desktop_id = $1");
        self.reader()
            .fetch_optional(q!(&sql; desktop_id), decode::sim_fault)
            .await
    }

    async fn take_sim_failure(
        &self,
        desktop_id: &DesktopId,
        op: &str,
    ) -> StoreResult<Option<(String, String)>> {
        // One statement: the row's write lock makes check-and-decrement atomic
        // across nodes (a concurrent taker re-checks `fail_remaining > 0`).
        let armed = D::DIALECT.contains_exactly("',' || fail_ops || ','", "',' || $2 || ','");
        let sql = format!(
            "UPDATE sim_faults SET fail_remaining = fail_remaining - 1 \
             WHERE desktop_id = $1 AND fail_remaining > 0 AND (fail_ops IS NULL OR {armed}) \
             RETURNING error_code, error_msg"
        );
        let mut tx = self.begin().await?;
        let taken = tx
            .fetch_optional(q!(&sql; desktop_id, op), |r| {
                Ok((r.opt_text(0)?, r.opt_text(1)?))
            })
            .await?;
        D::commit(tx).await?;
        Ok(taken.map(|(code, msg)| {
            (
                code.unwrap_or_else(|| Code::DriverFailed.wire().to_owned()),
                msg.unwrap_or_else(|| format!("injected failure of {op}")),
            )
        }))
    }

    async fn any_sim_faults(&self) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM sim_faults LIMIT 1) AS f";
        Ok(self.reader().scalar(q!(sql)).await? > 0)
    }

    async fn sim_applied(&self, op_id: &SubJobId) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM sim_applied WHERE op_id = $1";
        Ok(self.reader().scalar(q!(sql; op_id)).await? > 0)
    }

    async fn record_sim_applied(&self, a: &SimApplied) -> StoreResult<()> {
        let sql = "INSERT INTO sim_applied (op_id, desktop_id, operation, node, at_ms) \
                   VALUES ($1, $2, $3, $4, $5)";
        let stmt = q!(sql; &a.op_id, &a.desktop_id, &a.operation, &a.node, a.at_ms);
        self.write(stmt).await.map(drop)
    }

    async fn list_sim_applied(
        &self,
        desktop_id: Option<&DesktopId>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<SimApplied>, i64)> {
        let count = "SELECT COUNT(*) FROM sim_applied WHERE ($1 IS NULL OR desktop_id = $1)";
        let total = self.reader().scalar(q!(count; desktop_id)).await?;
        let sql = format!(
            "SELECT {SIM_APPLIED_COLS} FROM sim_applied WHERE ($1 IS NULL OR desktop_id = $1) \
             ORDER BY seq LIMIT $2 OFFSET $3"
        );
        let rows = self
            .reader()
            .fetch(q!(&sql; desktop_id, limit, offset), decode::sim_applied)
            .await?;
        Ok((rows, total))
    }
}
