//! Projects, credentials, users, notifications and simulator faults.

use super::{PostgresStore, is_unique_violation};
use crate::store::{
    CredentialRow, NotificationFilter, NotificationRow, SimFault, StoreError, StoreResult,
    UserFilter, UserRow,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

impl PostgresStore {
    pub(super) async fn count_projects_(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM projects")
            .fetch_one(&self.pool)
            .await?)
    }

    pub(super) async fn ensure_project_(
        &self,
        id: &str,
        name: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn project_exists_(&self, id: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(super) async fn insert_credential_(&self, c: &CredentialRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO credentials (access_key, project_id, secret_sealed, description, created_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.access_key)
        .bind(&c.project_id)
        .bind(&c.secret_sealed)
        .bind(&c.description)
        .bind(c.created_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(c.access_key.clone())
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    pub(super) async fn get_credential_(
        &self,
        access_key: &str,
    ) -> StoreResult<Option<CredentialRow>> {
        let row = sqlx::query(
            "SELECT access_key, project_id, secret_sealed, description, created_ms FROM credentials \
             WHERE access_key = $1",
        )
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| credential(&r)).transpose()
    }

    pub(super) async fn list_credentials_(
        &self,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<CredentialRow>> {
        let rows = sqlx::query(
            "SELECT access_key, project_id, secret_sealed, description, created_ms FROM credentials \
             WHERE ($1::text IS NULL OR project_id = $1) ORDER BY created_ms, access_key COLLATE \"C\"",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(credential).collect()
    }

    pub(super) async fn delete_credential_(&self, access_key: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM credentials WHERE access_key = $1")
            .bind(access_key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn insert_user_(&self, u: &UserRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.id)
        .bind(&u.project_id)
        .bind(&u.user_name)
        .bind(&u.user_email)
        .bind(&u.user_phone)
        .bind(&u.description)
        .bind(u.created_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(u.user_name.clone())
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    pub(super) async fn get_user_(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.project_id = $1 AND u.id = $2"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user(&r)).transpose()
    }

    pub(super) async fn list_users_(
        &self,
        project_id: &str,
        f: &UserFilter,
    ) -> StoreResult<(Vec<UserRow>, i64)> {
        // ILIKE under COLLATE "C": SQLite's LIKE, the reference behaviour, ignores ASCII case only.
        let like = f
            .user_name
            .as_ref()
            .map(|n| format!("%{}%", escape_like(n)));
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users u WHERE u.project_id = $1 \
             AND ($2::text IS NULL OR u.user_name COLLATE \"C\" ILIKE $2 ESCAPE '\\')",
        )
        .bind(project_id)
        .bind(&like)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.project_id = $1 AND ($2::text IS NULL OR u.user_name COLLATE \"C\" ILIKE $2 ESCAPE '\\') \
             ORDER BY u.created_ms, u.user_name COLLATE \"C\" LIMIT $3 OFFSET $4"
        ))
        .bind(project_id)
        .bind(&like)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((rows.iter().map(user).collect::<StoreResult<_>>()?, total))
    }

    pub(super) async fn delete_user_(&self, project_id: &str, user_id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM users WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn count_user_desktops_(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM desktops WHERE project_id = $1 AND user_name = $2",
        )
        .bind(project_id)
        .bind(user_name)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(super) async fn insert_notifications_(&self, list: &[NotificationRow]) -> StoreResult<()> {
        if list.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&NotificationRow) -> &String| list.iter().map(f).collect::<Vec<_>>();
        let opt =
            |f: fn(&NotificationRow) -> &Option<String>| list.iter().map(f).collect::<Vec<_>>();
        // `seq` comes from the sequence default, in input order (WITH ORDINALITY).
        sqlx::query(
            "INSERT INTO notifications (id, project_id, desktop_id, desktop_name, user_name, user_email, \
             kind, message, job_id, created_ms) \
             SELECT id, project_id, desktop_id, desktop_name, user_name, user_email, kind, message, job_id, \
             created_ms FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::bigint[]) WITH ORDINALITY AS v(id, project_id, \
             desktop_id, desktop_name, user_name, user_email, kind, message, job_id, created_ms, ord) \
             ORDER BY ord",
        )
        .bind(col(|n| &n.id))
        .bind(col(|n| &n.project_id))
        .bind(col(|n| &n.desktop_id))
        .bind(col(|n| &n.desktop_name))
        .bind(opt(|n| &n.user_name))
        .bind(opt(|n| &n.user_email))
        .bind(col(|n| &n.kind))
        .bind(col(|n| &n.message))
        .bind(opt(|n| &n.job_id))
        .bind(list.iter().map(|n| n.created_ms).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn list_notifications_(
        &self,
        project_id: &str,
        f: &NotificationFilter,
    ) -> StoreResult<(Vec<NotificationRow>, i64)> {
        let like = |v: &Option<String>| v.as_ref().map(|v| format!("%{}%", escape_like(v)));
        let (name, user) = (like(&f.desktop_name), like(&f.user_name));
        const WHERE: &str = "WHERE project_id = $1 AND ($2::text IS NULL OR desktop_id = $2) \
             AND ($3::text IS NULL OR desktop_name COLLATE \"C\" ILIKE $3) \
             AND ($4::text IS NULL OR user_name COLLATE \"C\" ILIKE $4) \
             AND ($5::text IS NULL OR kind = $5)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM notifications {WHERE}"))
            .bind(project_id)
            .bind(&f.desktop_id)
            .bind(&name)
            .bind(&user)
            .bind(&f.kind)
            .fetch_one(&self.pool)
            .await?;
        let order = if f.oldest_first { "ASC" } else { "DESC" };
        let rows = sqlx::query(&format!(
            "SELECT id, project_id, desktop_id, desktop_name, user_name, user_email, kind, message, \
             job_id, created_ms FROM notifications {WHERE} ORDER BY seq {order} LIMIT $6 OFFSET $7"
        ))
        .bind(project_id)
        .bind(&f.desktop_id)
        .bind(&name)
        .bind(&user)
        .bind(&f.kind)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&self.pool)
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
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (desktop_id) DO UPDATE SET \
             fail_remaining = excluded.fail_remaining, fail_ops = excluded.fail_ops, \
             error_code = excluded.error_code, error_msg = excluded.error_msg, ignore_soft = excluded.ignore_soft",
        )
        .bind(&f.desktop_id)
        .bind(f.fail_remaining)
        .bind(&f.fail_ops)
        .bind(&f.error_code)
        .bind(&f.error_msg)
        .bind(f.ignore_soft)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn clear_sim_fault_(&self, desktop_id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM sim_faults WHERE desktop_id = $1")
            .bind(desktop_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn get_sim_fault_(&self, desktop_id: &str) -> StoreResult<Option<SimFault>> {
        let row = sqlx::query(
            "SELECT desktop_id, fail_remaining, fail_ops, error_code, error_msg, ignore_soft \
             FROM sim_faults WHERE desktop_id = $1",
        )
        .bind(desktop_id)
        .fetch_optional(&self.pool)
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
        // One statement: the row lock makes the check-and-decrement atomic
        // across nodes (a concurrent taker re-checks `fail_remaining > 0`).
        let row = sqlx::query(
            "UPDATE sim_faults SET fail_remaining = fail_remaining - 1 \
             WHERE desktop_id = $1 AND fail_remaining > 0 \
               AND (fail_ops IS NULL OR strpos(',' || fail_ops || ',', ',' || $2 || ',') > 0) \
             RETURNING error_code, error_msg",
        )
        .bind(desktop_id)
        .bind(op)
        .fetch_optional(&self.pool)
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
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sim_faults)")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(super) async fn sim_applied_(&self, op_id: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(crate::store::SIM_APPLIED)
            .bind(op_id)
            .fetch_one(&self.pool)
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
            .execute(&self.pool)
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
            .fetch_one(&self.pool)
            .await?;
        let rows: Vec<(String, String, String, String, i64)> =
            sqlx::query_as(crate::store::LIST_SIM_APPLIED)
                .bind(desktop_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
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

const USER_SELECT: &str = "SELECT u.id, u.project_id, u.user_name, u.user_email, u.user_phone, \
    u.description, u.created_ms, (SELECT COUNT(*) FROM desktops d WHERE d.project_id = u.project_id \
    AND d.user_name = u.user_name) FROM users u";

fn user(r: &PgRow) -> StoreResult<UserRow> {
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

fn credential(r: &PgRow) -> StoreResult<CredentialRow> {
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
