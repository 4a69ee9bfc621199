//! API users, tokens, the node registry and reconciliation on PostgreSQL:
//! mirrors `sqlite/tokens.rs` and the reconciliation of `sqlite/desktops.rs`.

use super::decode::parse;
use super::{PostgresStore, is_unique_violation};
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::store::{
    ApiUserRow, Holder, NodeRow, StoreError, StoreResult, TAKE_TASK_LEASE, TokenRow,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn api_user(r: &PgRow) -> StoreResult<ApiUserRow> {
    Ok(ApiUserRow {
        project_id: r.try_get(0)?,
        user_name: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        created_ms: r.try_get(3)?,
    })
}

impl PostgresStore {
    pub(super) async fn put_api_user_(&self, u: &ApiUserRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_users (project_id, user_name, password_hash, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project_id, user_name) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(&u.project_id)
        .bind(&u.user_name)
        .bind(&u.password_hash)
        .bind(u.created_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(u.user_name.clone()) } else { e.into() })?;
        Ok(())
    }

    pub(super) async fn get_api_user_(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> StoreResult<Option<ApiUserRow>> {
        let row = sqlx::query("SELECT project_id, user_name, password_hash, created_ms FROM api_users WHERE project_id = $1 AND user_name = $2")
            .bind(project_id)
            .bind(user_name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| api_user(&r)).transpose()
    }

    pub(super) async fn list_api_users_(
        &self,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<ApiUserRow>> {
        let rows = sqlx::query(
            "SELECT project_id, user_name, password_hash, created_ms FROM api_users \
             WHERE ($1::text IS NULL OR project_id = $1) ORDER BY project_id COLLATE \"C\", user_name COLLATE \"C\"",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(api_user).collect()
    }

    pub(super) async fn delete_api_user_(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE tokens SET revoked = TRUE WHERE project_id = $1 AND user_name = $2")
            .bind(project_id)
            .bind(user_name)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM api_users WHERE project_id = $1 AND user_name = $2")
            .bind(project_id)
            .bind(user_name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn insert_token_(&self, t: &TokenRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, project_id, user_name, created_ms, expires_ms, revoked) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.token_hash)
        .bind(&t.project_id)
        .bind(&t.user_name)
        .bind(t.created_ms)
        .bind(t.expires_ms)
        .bind(t.revoked)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn get_token_(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT token_hash, project_id, user_name, created_ms, expires_ms, revoked FROM tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<TokenRow, sqlx::Error> {
                Ok(TokenRow {
                    token_hash: r.try_get(0)?,
                    project_id: r.try_get(1)?,
                    user_name: r.try_get(2)?,
                    created_ms: r.try_get(3)?,
                    expires_ms: r.try_get(4)?,
                    revoked: r.try_get(5)?,
                })
            })
            .transpose()?)
    }

    pub(super) async fn revoke_token_(&self, token_hash: &str) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn upsert_node_(&self, n: &NodeRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO nodes (id, incarnation, address, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation, address = excluded.address, \
             started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms",
        )
        .bind(&n.id)
        .bind(&n.incarnation)
        .bind(&n.address)
        .bind(n.started_ms)
        .bind(n.heartbeat_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn list_nodes_(&self) -> StoreResult<Vec<NodeRow>> {
        let rows = sqlx::query(
            "SELECT id, incarnation, address, started_ms, heartbeat_ms FROM nodes ORDER BY heartbeat_ms DESC, id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| -> Result<NodeRow, sqlx::Error> {
                Ok(NodeRow {
                    id: r.try_get(0)?,
                    incarnation: r.try_get(1)?,
                    address: r.try_get(2)?,
                    started_ms: r.try_get(3)?,
                    heartbeat_ms: r.try_get(4)?,
                })
            })
            .collect::<Result<_, _>>()?)
    }

    pub(super) async fn take_task_lease_(
        &self,
        name: &str,
        holder: &Holder,
        now_ms: i64,
        until_ms: i64,
        at_start: bool,
    ) -> StoreResult<bool> {
        let held: Option<String> = sqlx::query_scalar(TAKE_TASK_LEASE)
            .bind(name)
            .bind(&holder.node)
            .bind(&holder.incarnation)
            .bind(until_ms)
            .bind(now_ms)
            .bind(at_start)
            .fetch_optional(&self.pool)
            .await?;
        Ok(held.is_some())
    }

    pub(super) async fn placed_idle_desktops_(
        &self,
    ) -> StoreResult<Vec<(String, String, DesktopStatus)>> {
        let rows = sqlx::query(
            "SELECT id, host, status FROM desktops WHERE host IS NOT NULL AND busy_sub_job IS NULL AND status <> 'BUILD'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    parse("status", &r.try_get::<String, _>(2)?)?,
                ))
            })
            .collect()
    }

    pub(super) async fn reconcile_desktops_(
        &self,
        changes: &[(String, DesktopStatus, DesktopStatus, LoginStatus)],
    ) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let r = sqlx::query(
            "UPDATE desktops d SET status = v.to_status, login_status = v.login \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS v(id, from_status, to_status, login) \
             WHERE d.id = v.id AND d.status = v.from_status AND d.busy_sub_job IS NULL",
        )
        .bind(changes.iter().map(|c| c.0.as_str()).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.1.as_str()).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.2.as_str()).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.3.as_str()).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}
