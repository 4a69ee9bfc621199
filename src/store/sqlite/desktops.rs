//! Desktop reads and the few direct desktop writes.

use super::SqliteStore;
use super::decode::parse;
use super::decode::{DESKTOP_COLS, desktop};
use super::misc::escape_like;
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::store::{DesktopFilter, DesktopRow, StoreResult};
use sqlx::Row;
use sqlx::{QueryBuilder, Sqlite};

impl SqliteStore {
    pub(super) async fn get_desktops_(&self, ids: &[String]) -> StoreResult<Vec<DesktopRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id);
            }
            qb.push(")");
            for r in qb.build().fetch_all(&self.read).await? {
                out.push(desktop(&r, 0)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn get_desktop_(
        &self,
        project_id: &str,
        id: &str,
    ) -> StoreResult<Option<DesktopRow>> {
        let row = sqlx::query(&format!(
            "SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = ? AND d.project_id = ?"
        ))
        .bind(id)
        .bind(project_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| desktop(&r, 0)).transpose()
    }

    pub(super) async fn list_desktops_(
        &self,
        project_id: &str,
        f: &DesktopFilter,
    ) -> StoreResult<(Vec<DesktopRow>, i64)> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM desktops d WHERE ");
        push_filter(&mut count, project_id, f);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;

        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {DESKTOP_COLS} FROM desktops d WHERE "));
        push_filter(&mut qb, project_id, f);
        let dir = if f.sort_desc { "DESC" } else { "ASC" };
        match f.sort_field.as_deref() {
            Some("computer_name") => {
                qb.push(format!(" ORDER BY d.computer_name {dir}, d.seq {dir}"))
            }
            _ => qb.push(format!(" ORDER BY d.seq {dir}")),
        };
        qb.push(" LIMIT ")
            .push_bind(f.limit)
            .push(" OFFSET ")
            .push_bind(f.offset);
        let rows = qb.build().fetch_all(&self.read).await?;
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
        let mut out = Vec::new();
        for chunk in names.chunks(super::CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT computer_name FROM desktops WHERE project_id = ",
            );
            qb.push_bind(project_id).push(" AND computer_name IN (");
            let mut sep = qb.separated(", ");
            for n in chunk {
                sep.push_bind(n);
            }
            qb.push(")");
            out.extend(
                qb.build_query_scalar::<String>()
                    .fetch_all(&self.read)
                    .await?,
            );
        }
        Ok(out)
    }

    pub(super) async fn set_login_status_(
        &self,
        project_id: &str,
        id: &str,
        login: &str,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE desktops SET login_status = ?1, \
             disconnected_ms = CASE WHEN ?1 = 'DISCONNECTED' THEN ?2 ELSE NULL END \
             WHERE id = ?3 AND project_id = ?4 AND status = 'ACTIVE' AND busy_sub_job IS NULL",
        )
        .bind(login)
        .bind(now_ms)
        .bind(id)
        .bind(project_id)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

impl SqliteStore {
    pub(super) async fn placed_idle_desktops_(
        &self,
    ) -> StoreResult<Vec<(String, String, DesktopStatus)>> {
        let rows = sqlx::query(
            "SELECT id, host, status FROM desktops WHERE host IS NOT NULL AND busy_sub_job IS NULL AND status <> 'BUILD'",
        )
        .fetch_all(&self.read)
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
        let mut n = 0;
        for chunk in changes.chunks(super::CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "UPDATE desktops SET status = v.column3, login_status = v.column4 FROM (VALUES ",
            );
            let mut sep = qb.separated(", ");
            for (id, from, to, login) in chunk {
                sep.push("(")
                    .push_bind_unseparated(id)
                    .push_unseparated(", ")
                    .push_bind_unseparated(from.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(to.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(login.as_str())
                    .push_unseparated(")");
            }
            qb.push(") AS v WHERE desktops.id = v.column1 AND desktops.status = v.column2 AND desktops.busy_sub_job IS NULL");
            n += qb.build().execute(&self.write).await?.rows_affected();
        }
        Ok(n)
    }
}

fn push_filter<'a>(qb: &mut QueryBuilder<'a, Sqlite>, project_id: &'a str, f: &'a DesktopFilter) {
    qb.push("d.project_id = ").push_bind(project_id);
    if let Some(s) = &f.status {
        qb.push(" AND d.status = ").push_bind(s);
    }
    if let Some(u) = &f.user_name {
        qb.push(" AND d.user_name LIKE ")
            .push_bind(format!("%{}%", escape_like(u)))
            .push(" ESCAPE '\\'");
    }
    for (column, values) in [
        ("user_name", &f.user_names),
        ("computer_name", &f.computer_names),
    ] {
        if !values.is_empty() {
            qb.push(format!(" AND d.{column} IN ("));
            let mut sep = qb.separated(", ");
            for v in values {
                sep.push_bind(v);
            }
            qb.push(")");
        }
    }
    if let Some(n) = &f.computer_name {
        qb.push(" AND d.computer_name LIKE ")
            .push_bind(format!("%{}%", escape_like(n)))
            .push(" ESCAPE '\\'");
    }
    if let Some(ip) = &f.desktop_ip {
        qb.push(" AND d.ip_address = ").push_bind(ip);
    }
    if !f.desktop_ids.is_empty() {
        qb.push(" AND d.id IN (");
        let mut sep = qb.separated(", ");
        for id in &f.desktop_ids {
            sep.push_bind(id);
        }
        qb.push(")");
    }
    if !f.pool_ids.is_empty() {
        qb.push(" AND d.pool_id IN (");
        let mut sep = qb.separated(", ");
        for id in &f.pool_ids {
            sep.push_bind(id);
        }
        qb.push(")");
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
        qb.push(" AND EXISTS (SELECT 1 FROM json_each(d.tags) t WHERE json_extract(t.value, '$.key') = ")
            .push_bind(k)
            .push(" AND IFNULL(json_extract(t.value, '$.value'), '') = ")
            .push_bind(v)
            .push(")");
    }
}
