//! Desktop users and the notifications sent to them: written once.

use super::bulk::Bulk as _;
use super::decode::{self, NOTIFICATION_COLS, USER_SELECT};
use super::{Db, Exec, Sql, q};
use crate::domain::ids::{ProjectId, UserId};
use crate::store::{NotificationFilter, NotificationRow, StoreResult, UserFilter, UserRow, Users};

/// The filter of a notification listing, after `head`.
fn notification_filter<'a>(
    db: &impl Db,
    head: &str,
    project_id: &'a ProjectId,
    f: &'a NotificationFilter,
) -> Sql<'a> {
    let mut sql = db.sql(head);
    sql.push(" WHERE project_id = ").bind(project_id);
    if let Some(d) = &f.desktop_id {
        sql.push(" AND desktop_id = ").bind(d);
    }
    if let Some(n) = &f.desktop_name {
        sql.and_contains("desktop_name", n);
    }
    if let Some(u) = &f.user_name {
        sql.and_contains("user_name", u);
    }
    if let Some(k) = &f.kind {
        sql.push(" AND kind = ").bind(k);
    }
    sql
}

#[async_trait::async_trait]
impl<D: Db> Users for D {
    async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        let sql = "INSERT INTO users (id, project_id, user_name, user_email, user_phone, description, \
                   created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let stmt = q!(sql; &u.id, &u.project_id, &u.user_name, &u.user_email, &u.user_phone, &u.description, u.created_ms);
        self.write(stmt)
            .await
            .map_err(|e| e.conflict_on(&u.user_name))
            .map(drop)
    }

    async fn get_user(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
    ) -> StoreResult<Option<UserRow>> {
        let sql = format!("{USER_SELECT} WHERE u.project_id = $1 AND u.id = $2");
        self.reader()
            .fetch_optional(q!(&sql; project_id, user_id), decode::user)
            .await
    }

    async fn list_users(
        &self,
        project_id: &ProjectId,
        f: &UserFilter,
    ) -> StoreResult<(Vec<UserRow>, i64)> {
        let filter = |head: &str| {
            let mut sql = self.sql(head);
            sql.push(" WHERE u.project_id = ").bind(project_id);
            if let Some(n) = &f.user_name {
                sql.and_contains("u.user_name", n);
            }
            sql
        };
        let total = self
            .reader()
            .scalar(filter("SELECT COUNT(*) FROM users u").query())
            .await?;
        let mut page = filter(USER_SELECT);
        page.push(" ORDER BY u.created_ms, ")
            .push(&D::DIALECT.collated("u.user_name"))
            .page(f.limit, f.offset);
        let rows = self.reader().fetch(page.query(), decode::user).await?;
        Ok((rows, total))
    }

    async fn delete_user(&self, project_id: &ProjectId, user_id: &UserId) -> StoreResult<bool> {
        let sql = "DELETE FROM users WHERE project_id = $1 AND id = $2";
        Ok(self.write(q!(sql; project_id, user_id)).await? > 0)
    }

    async fn count_user_desktops(
        &self,
        project_id: &ProjectId,
        user_name: &str,
    ) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM desktops WHERE project_id = $1 AND user_name = $2";
        self.reader().scalar(q!(sql; project_id, user_name)).await
    }

    async fn insert_notifications(&self, list: &[NotificationRow]) -> StoreResult<()> {
        if list.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        tx.insert_notifications(list).await?;
        D::commit(tx).await
    }

    async fn list_notifications(
        &self,
        project_id: &ProjectId,
        f: &NotificationFilter,
    ) -> StoreResult<(Vec<NotificationRow>, i64)> {
        let count = notification_filter(self, "SELECT COUNT(*) FROM notifications", project_id, f);
        let total = self.reader().scalar(count.query()).await?;
        let head = format!("SELECT {NOTIFICATION_COLS} FROM notifications");
        let mut page = notification_filter(self, &head, project_id, f);
        page.push(if f.oldest_first {
            " ORDER BY seq ASC"
        } else {
            " ORDER BY seq DESC"
        })
        .page(f.limit, f.offset);
        let rows = self
            .reader()
            .fetch(page.query(), decode::notification)
            .await?;
        Ok((rows, total))
    }
}
