//! Desktop reads and the few direct desktop writes.

use super::PostgresStore;
use super::decode::{DESKTOP_COLS, desktop};
use super::misc::escape_like;
use crate::store::{DesktopFilter, DesktopRow, StoreResult};
use sqlx::{Postgres, QueryBuilder};

impl PostgresStore {
    pub(super) async fn get_desktops_(&self, ids: &[String]) -> StoreResult<Vec<DesktopRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| desktop(r, 0)).collect()
    }

    pub(super) async fn get_desktop_(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<Option<DesktopRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = $1 AND d.project_id = $2"
        ))
        .bind(id)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| desktop(&r, 0)).transpose()
    }

    pub(super) async fn list_desktops_(
        &self,
        project_id: &str,
        f: &DesktopFilter,
    ) -> StoreResult<(Vec<DesktopRow>, i64)> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM desktops d WHERE ");
        push_filter(&mut count, project_id, f);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;

        let mut qb =
            QueryBuilder::<Postgres>::new(format!("SELECT {DESKTOP_COLS} FROM desktops d WHERE "));
        push_filter(&mut qb, project_id, f);
        let dir = if f.sort_desc { "DESC" } else { "ASC" };
        // COLLATE "C": byte order, as SQLite sorts, whatever the database locale.
        match f.sort_field.as_deref() {
            Some("computer_name") => qb.push(format!(
                " ORDER BY d.computer_name COLLATE \"C\" {dir}, d.seq {dir}"
            )),
            _ => qb.push(format!(" ORDER BY d.seq {dir}")),
        };
        qb.push(" LIMIT ")
            .push_bind(f.limit)
            .push(" OFFSET ")
            .push_bind(f.offset);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let list = rows
            .iter()
            .map(|r| desktop(r, 0))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((list, total))
    }

    pub(super) async fn existing_computer_names_(
        &self,
        project_id: &str,
        names: &[String],
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT computer_name FROM desktops WHERE project_id = $1 AND computer_name = ANY($2)",
        )
        .bind(project_id)
        .bind(names)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn set_login_status_(
        &self,
        project_id: &str,
        id: &str,
        login: &str,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE desktops SET login_status = $1, \
             disconnected_ms = CASE WHEN $1 = 'DISCONNECTED' THEN $4 ELSE NULL END \
             WHERE id = $2 AND project_id = $3 AND status = 'ACTIVE' AND busy_sub_job IS NULL",
        )
        .bind(login)
        .bind(id)
        .bind(project_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

/// The WHERE clause of a desktop listing. Substring filters use ILIKE under
/// COLLATE "C" because SQLite's LIKE, the reference behaviour, ignores ASCII
/// case only (`É` is not `é`).
fn push_filter<'a>(qb: &mut QueryBuilder<'a, Postgres>, project_id: &'a str, f: &'a DesktopFilter) {
    qb.push("d.project_id = ").push_bind(project_id);
    if !f.user_names.is_empty() {
        qb.push(" AND d.user_name = ANY(")
            .push_bind(&f.user_names)
            .push(")");
    }
    if !f.computer_names.is_empty() {
        qb.push(" AND d.computer_name = ANY(")
            .push_bind(&f.computer_names)
            .push(")");
    }
    if let Some(s) = &f.status {
        qb.push(" AND d.status = ").push_bind(s);
    }
    if let Some(u) = &f.user_name {
        qb.push(" AND d.user_name COLLATE \"C\" ILIKE ")
            .push_bind(format!("%{}%", escape_like(u)))
            .push(" ESCAPE '\\'");
    }
    if let Some(n) = &f.computer_name {
        qb.push(" AND d.computer_name COLLATE \"C\" ILIKE ")
            .push_bind(format!("%{}%", escape_like(n)))
            .push(" ESCAPE '\\'");
    }
    if let Some(ip) = &f.desktop_ip {
        qb.push(" AND d.ip_address = ").push_bind(ip);
    }
    if !f.desktop_ids.is_empty() {
        qb.push(" AND d.id = ANY(")
            .push_bind(&f.desktop_ids)
            .push(")");
    }
    if !f.pool_ids.is_empty() {
        qb.push(" AND d.pool_id = ANY(")
            .push_bind(&f.pool_ids)
            .push(")");
    }
    if let Some(t) = &f.desktop_type {
        qb.push(" AND d.desktop_type = ").push_bind(t);
    }
    if let Some(i) = &f.image_id {
        qb.push(" AND d.image_id = ").push_bind(i);
    }
    if let Some(z) = &f.availability_zone {
        qb.push(" AND d.availability_zone = ").push_bind(z);
    }
    for (k, v) in &f.tags {
        qb.push(
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements(d.tags::jsonb) t WHERE t.value->>'key' = ",
        )
        .push_bind(k)
        .push(" AND COALESCE(t.value->>'value', '') = ")
        .push_bind(v)
        .push(")");
    }
}
