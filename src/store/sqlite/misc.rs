//! Projects, credentials, users, notifications and simulator faults.

use super::{SqliteStore, is_unique_violation, reserve_seq};
use crate::store::{
    CredentialRow, NotificationFilter, NotificationRow, SimFault, StoreError, StoreResult,
    UserFilter, UserRow,
};
use sqlx::{QueryBuilder, Row, Sqlite};

impl SqliteStore {
    pub(super) async fn count_projects_(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM projects")
            .fetch_one(&self.read)
            .await?)
    }

    pub(super) async fn ensure_project_(
        &self,
        id: &str,
        name: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO projects (id, name, created_ms) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(super) async fn project_exists_(&self, id: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE id = ?")
            .bind(id)
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn insert_credential_(&self, c: &CredentialRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO credentials (access_key, project_id, secret_sealed, description, created_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&c.access_key)
        .bind(&c.project_id)
        .bind(&c.secret_sealed)
        .bind(&c.description)
        .bind(c.created_ms)
        .execute(&self.write)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(c.access_key.clone()) } else { e.into() })?;
        Ok(())
    }

    pub(super) async fn get_credential_(
        &self,
        access_key: &str,
    ) -> StoreResult<Option<CredentialRow>> {
        let row = sqlx::query(
            "SELECT access_key, project_id, secret_sealed, description, created_ms FROM credentials WHERE access_key = ?",
        )
        .bind(access_key)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| credential(&r)).transpose()
    }

    pub(super) async fn list_credentials_(
        &self,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<CredentialRow>> {
        let rows = sqlx::query(
            "SELECT access_key, project_id, secret_sealed, description, created_ms FROM credentials \
             WHERE (?1 IS NULL OR project_id = ?1) ORDER BY created_ms, access_key",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(credential).collect()
    }

    pub(super) async fn delete_credential_(&self, access_key: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM credentials WHERE access_key = ?")
            .bind(access_key)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn insert_user_(&self, u: &UserRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.id)
        .bind(&u.project_id)
        .bind(&u.user_name)
        .bind(&u.user_email)
        .bind(&u.user_phone)
        .bind(&u.description)
        .bind(u.created_ms)
        .execute(&self.write)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(u.user_name.clone()) } else { e.into() })?;
        Ok(())
    }

    pub(super) async fn get_user_(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.project_id = ? AND u.id = ?"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| user(&r)).transpose()
    }

    pub(super) async fn list_users_(
        &self,
        project_id: &str,
        f: &UserFilter,
    ) -> StoreResult<(Vec<UserRow>, i64)> {
        let like = f
            .user_name
            .as_ref()
            .map(|n| format!("%{}%", escape_like(n)));
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users u WHERE u.project_id = ?1 AND (?2 IS NULL OR u.user_name LIKE ?2 ESCAPE '\\')",
        )
        .bind(project_id)
        .bind(&like)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.project_id = ?1 AND (?2 IS NULL OR u.user_name LIKE ?2 ESCAPE '\\') \
             ORDER BY u.created_ms, u.user_name LIMIT ?3 OFFSET ?4"
        ))
        .bind(project_id)
        .bind(&like)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.read)
        .await?;
        Ok((rows.iter().map(user).collect::<StoreResult<_>>()?, total))
    }

    pub(super) async fn delete_user_(&self, project_id: &str, user_id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM users WHERE project_id = ? AND id = ?")
            .bind(project_id)
            .bind(user_id)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn count_user_desktops_(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM desktops WHERE project_id = ? AND user_name = ?",
        )
        .bind(project_id)
        .bind(user_name)
        .fetch_one(&self.read)
        .await?)
    }

    pub(super) async fn insert_notifications_(&self, list: &[NotificationRow]) -> StoreResult<()> {
        if list.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await?;
        let first = reserve_seq(&mut tx, list.len()).await?;
        for (chunk_no, chunk) in list.chunks(super::CHUNK).enumerate() {
            let base = first + i64::try_from(chunk_no * super::CHUNK).unwrap_or(0);
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO notifications (id, seq, project_id, desktop_id, desktop_name, user_name, user_email, kind, message, job_id, created_ms) ",
            );
            let mut i = 0i64;
            qb.push_values(chunk, |mut b, n| {
                b.push_bind(&n.id)
                    .push_bind(base + i)
                    .push_bind(&n.project_id)
                    .push_bind(&n.desktop_id)
                    .push_bind(&n.desktop_name)
                    .push_bind(&n.user_name)
                    .push_bind(&n.user_email)
                    .push_bind(&n.kind)
                    .push_bind(&n.message)
                    .push_bind(&n.job_id)
                    .push_bind(n.created_ms);
                i += 1;
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn list_notifications_(
        &self,
        project_id: &str,
        f: &NotificationFilter,
    ) -> StoreResult<(Vec<NotificationRow>, i64)> {
        let like = |v: &Option<String>| v.as_ref().map(|v| format!("%{}%", escape_like(v)));
        let (name, user) = (like(&f.desktop_name), like(&f.user_name));
        const WHERE: &str = "WHERE project_id = ?1 AND (?2 IS NULL OR desktop_id = ?2) \
             AND (?3 IS NULL OR desktop_name LIKE ?3 ESCAPE '\\') AND (?4 IS NULL OR user_name LIKE ?4 ESCAPE '\\') \
             AND (?5 IS NULL OR kind = ?5)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM notifications {WHERE}"))
            .bind(project_id)
            .bind(&f.desktop_id)
            .bind(&name)
            .bind(&user)
            .bind(&f.kind)
            .fetch_one(&self.read)
            .await?;
        let order = if f.oldest_first { "ASC" } else { "DESC" };
        let rows = sqlx::query(&format!(
            "SELECT id, project_id, desktop_id, desktop_name, user_name, user_email, kind, message, job_id, created_ms \
             FROM notifications {WHERE} ORDER BY seq {order} LIMIT ?6 OFFSET ?7"
        ))
        .bind(project_id)
        .bind(&f.desktop_id)
        .bind(&name)
        .bind(&user)
        .bind(&f.kind)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.read)
        .await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(NotificationRow {
                    id: r.try_get(0)?,
                    project_id: r.try_get(1)?,
                    desktop_id: r.try_get(2)?,
                    desktop_name: r.try_get(3)?,
                    user_name: r.try_get(4)?,
                    user_email: r.try_get(5)?,
                    kind: r.try_get(6)?,
                    message: r.try_get(7)?,
                    job_id: r.try_get(8)?,
                    created_ms: r.try_get(9)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((list, total))
    }

    pub(super) async fn put_sim_fault_(&self, f: &SimFault) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sim_faults (desktop_id, fail_remaining, fail_ops, error_code, error_msg, ignore_soft) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (desktop_id) DO UPDATE SET \
             fail_remaining = excluded.fail_remaining, fail_ops = excluded.fail_ops, \
             error_code = excluded.error_code, error_msg = excluded.error_msg, ignore_soft = excluded.ignore_soft",
        )
        .bind(&f.desktop_id)
        .bind(f.fail_remaining)
        .bind(&f.fail_ops)
        .bind(&f.error_code)
        .bind(&f.error_msg)
        .bind(f.ignore_soft)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn clear_sim_fault_(&self, desktop_id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM sim_faults WHERE desktop_id = ?")
            .bind(desktop_id)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn get_sim_fault_(&self, desktop_id: &str) -> StoreResult<Option<SimFault>> {
        let row = sqlx::query(
            "SELECT desktop_id, fail_remaining, fail_ops, error_code, error_msg, ignore_soft FROM sim_faults WHERE desktop_id = ?",
        )
        .bind(desktop_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row
            .map(|r| -> Result<SimFault, sqlx::Error> {
                Ok(SimFault {
                    desktop_id: r.try_get(0)?,
                    fail_remaining: r.try_get(1)?,
                    fail_ops: r.try_get(2)?,
                    error_code: r.try_get(3)?,
                    error_msg: r.try_get(4)?,
                    ignore_soft: r.try_get(5)?,
                })
            })
            .transpose()?)
    }

    pub(super) async fn take_sim_failure_(
        &self,
        desktop_id: &str,
        op: &str,
    ) -> StoreResult<Option<(String, String)>> {
        // One statement: decrement only when armed for this operation (its exact name).
        let row = sqlx::query(
            "UPDATE sim_faults SET fail_remaining = fail_remaining - 1 \
             WHERE desktop_id = ?1 AND fail_remaining > 0 \
               AND (fail_ops IS NULL OR instr(',' || fail_ops || ',', ',' || ?2 || ',') > 0) \
             RETURNING error_code, error_msg",
        )
        .bind(desktop_id)
        .bind(op)
        .fetch_optional(&self.write)
        .await?;
        Ok(match row {
            Some(r) => {
                let code: Option<String> = r.try_get(0)?;
                let msg: Option<String> = r.try_get(1)?;
                Some((
                    code.unwrap_or_else(|| {
                        crate::domain::error_code::Code::DriverFailed
                            .wire()
                            .to_owned()
                    }),
                    msg.unwrap_or_else(|| format!("injected failure of {op}")),
                ))
            }
            None => None,
        })
    }

    pub(super) async fn any_sim_faults_(&self) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM sim_faults LIMIT 1)")
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn sim_applied_(&self, op_id: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(crate::store::SIM_APPLIED)
            .bind(op_id)
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn record_sim_applied_(
        &self,
        a: &crate::store::SimApplied,
    ) -> StoreResult<()> {
        sqlx::query(crate::store::RECORD_SIM_APPLIED)
            .bind(&a.op_id)
            .bind(&a.desktop_id)
            .bind(&a.operation)
            .bind(&a.node)
            .bind(a.at_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(super) async fn list_sim_applied_(
        &self,
        desktop_id: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<crate::store::SimApplied>, i64)> {
        let total: i64 = sqlx::query_scalar(crate::store::COUNT_SIM_APPLIED)
            .bind(desktop_id)
            .fetch_one(&self.read)
            .await?;
        let rows: Vec<(String, String, String, String, i64)> =
            sqlx::query_as(crate::store::LIST_SIM_APPLIED)
                .bind(desktop_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.read)
                .await?;
        let list = rows
            .into_iter()
            .map(
                |(op_id, desktop_id, operation, node, at_ms)| crate::store::SimApplied {
                    op_id,
                    desktop_id,
                    operation,
                    node,
                    at_ms,
                },
            )
            .collect();
        Ok((list, total))
    }
}

const USER_SELECT: &str = "SELECT u.id, u.project_id, u.user_name, u.user_email, u.user_phone, u.description, \
    u.created_ms, (SELECT COUNT(*) FROM desktops d WHERE d.project_id = u.project_id AND d.user_name = u.user_name) \
    FROM users u";

fn user(r: &sqlx::sqlite::SqliteRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        user_name: r.try_get(2)?,
        user_email: r.try_get(3)?,
        user_phone: r.try_get(4)?,
        description: r.try_get(5)?,
        created_ms: r.try_get(6)?,
        total_desktops: r.try_get(7)?,
    })
}

fn credential(r: &sqlx::sqlite::SqliteRow) -> StoreResult<CredentialRow> {
    Ok(CredentialRow {
        access_key: r.try_get(0)?,
        project_id: r.try_get(1)?,
        secret_sealed: r.try_get(2)?,
        description: r.try_get(3)?,
        created_ms: r.try_get(4)?,
    })
}

/// Escape `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
