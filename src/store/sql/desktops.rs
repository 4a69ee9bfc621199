//! Desktop reads, simulated sessions and reconciliation: written once.

use super::bulk::Bulk;
use super::decode::{self, DESKTOP_COLS};
use super::{Db, Dialect, Exec, Sql, q};
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::ids::{DesktopId, ProjectId};
use crate::store::{DesktopFilter, DesktopRow, Desktops, NewDesktop, StoreError, StoreResult};

/// Ids per statement when SQLite expands a list: well under its 32,766 parameters.
const CHUNK: usize = 500;

/// Reserves the computer names of `desktops` (new ones, all of `project`) for
/// the rest of the transaction, or fails with those the project already has
/// (`NamesTaken`). First in its transaction: it may wait for another create.
pub(crate) async fn reserve_names<T: Bulk>(
    tx: &mut T,
    dialect: Dialect,
    project: &ProjectId,
    desktops: &[NewDesktop],
) -> StoreResult<()> {
    tx.lock_names(project).await?;
    let mut taken = Vec::new();
    for chunk in desktops.chunks(CHUNK) {
        let mut sql = Sql::new(
            dialect,
            "SELECT computer_name FROM desktops WHERE project_id = ",
        );
        sql.bind(project).push(" AND computer_name");
        sql.in_list(chunk.iter().map(|d| d.row.computer_name.as_str()));
        taken.extend(tx.fetch(sql.query(), decode::text).await?);
    }
    if taken.is_empty() {
        Ok(())
    } else {
        taken.sort();
        Err(StoreError::NamesTaken(taken))
    }
}

/// The WHERE clause of a desktop listing, after `head`.
fn filter<'a>(
    dialect: Dialect,
    head: &str,
    project_id: &'a ProjectId,
    f: &'a DesktopFilter,
) -> Sql<'a> {
    let mut sql = Sql::new(dialect, head);
    sql.push(" WHERE d.project_id = ").bind(project_id);
    for (column, values) in [
        ("d.user_name", &f.user_names),
        ("d.computer_name", &f.computer_names),
        ("d.id", &f.desktop_ids),
        ("d.pool_id", &f.pool_ids),
    ] {
        if !values.is_empty() {
            sql.push(" AND ")
                .push(column)
                .in_list(values.iter().map(String::as_str));
        }
    }
    for (column, value) in [
        ("d.status", &f.status),
        ("d.ip_address", &f.desktop_ip),
        ("d.desktop_type", &f.desktop_type),
        ("d.image_id", &f.image_id),
        ("d.availability_zone", &f.availability_zone),
    ] {
        if let Some(v) = value {
            sql.push(" AND ").push(column).push(" = ").bind(v);
        }
    }
    if let Some(u) = &f.user_name {
        sql.and_contains("d.user_name", u);
    }
    if let Some(n) = &f.computer_name {
        sql.and_contains("d.computer_name", n);
    }
    for (k, v) in &f.tags {
        let (elements, key, value) = match dialect {
            Dialect::Sqlite => (
                "json_each(d.tags) t",
                "json_extract(t.value, '$.key')",
                "IFNULL(json_extract(t.value, '$.value'), '')",
            ),
            Dialect::Postgres => (
                "jsonb_array_elements(d.tags::jsonb) t",
                "t.value->>'key'",
                "COALESCE(t.value->>'value', '')",
            ),
        };
        sql.push(&format!(
            " AND EXISTS (SELECT 1 FROM {elements} WHERE {key} = "
        ))
        .bind(k)
        .push(&format!(" AND {value} = "))
        .bind(v)
        .push(")");
    }
    sql
}

#[async_trait::async_trait]
impl<D: Db> Desktops for D {
    async fn get_desktops(&self, ids: &[DesktopId]) -> StoreResult<Vec<DesktopRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut sql = self.sql(&format!("SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id"));
            sql.in_list(chunk.iter().map(DesktopId::to_string));
            out.extend(self.reader().fetch(sql.query(), decode::desktop).await?);
        }
        Ok(out)
    }

    async fn get_desktop(
        &self,
        project_id: &ProjectId,
        id: &DesktopId,
    ) -> StoreResult<Option<DesktopRow>> {
        let sql =
            format!("SELECT {DESKTOP_COLS} FROM desktops d WHERE d.id = $1 AND d.project_id = $2");
        self.reader()
            .fetch_optional(q!(&sql; id, project_id), decode::desktop)
            .await
    }

    async fn list_desktops(
        &self,
        project_id: &ProjectId,
        f: &DesktopFilter,
    ) -> StoreResult<(Vec<DesktopRow>, i64)> {
        let count = filter(D::DIALECT, "SELECT COUNT(*) FROM desktops d", project_id, f);
        let total = self.reader().scalar(count.query()).await?;
        let head = format!("SELECT {DESKTOP_COLS} FROM desktops d");
        let mut page = filter(D::DIALECT, &head, project_id, f);
        let dir = if f.sort_desc { "DESC" } else { "ASC" };
        match f.sort_field.as_deref() {
            Some("computer_name") => {
                let name = D::DIALECT.collated("d.computer_name");
                page.push(&format!(" ORDER BY {name} {dir}, d.seq {dir}"))
            }
            _ => page.push(&format!(" ORDER BY d.seq {dir}")),
        };
        page.page(f.limit, f.offset);
        let rows = self.reader().fetch(page.query(), decode::desktop).await?;
        Ok((rows, total))
    }

    async fn set_login_status(
        &self,
        project_id: &ProjectId,
        id: &DesktopId,
        login: LoginStatus,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let sql = "UPDATE desktops SET login_status = $1, \
                   disconnected_ms = CASE WHEN $1 = 'DISCONNECTED' THEN $2 ELSE NULL END \
                   WHERE id = $3 AND project_id = $4 AND status = 'ACTIVE' AND busy_sub_job IS NULL";
        Ok(self.write(q!(sql; login, now_ms, id, project_id)).await? > 0)
    }

    async fn placed_idle_desktops(&self) -> StoreResult<Vec<(DesktopId, String, DesktopStatus)>> {
        let sql = "SELECT id, host, status FROM desktops \
                   WHERE host IS NOT NULL AND busy_sub_job IS NULL AND status <> 'BUILD'";
        self.reader()
            .fetch(q!(sql), |r| {
                Ok((
                    decode::typed(r, 0, "desktop id")?,
                    r.text(1)?,
                    decode::parse("status", &r.text(2)?)?,
                ))
            })
            .await
    }

    async fn reconcile_desktops(
        &self,
        changes: &[(DesktopId, DesktopStatus, DesktopStatus, LoginStatus)],
    ) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let n = tx.reconcile(changes).await?;
        D::commit(tx).await?;
        Ok(n)
    }
}
