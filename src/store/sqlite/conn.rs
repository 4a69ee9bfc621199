//! SQLite's primitives for the store written once (`store::sql`), on rusqlite.
//! Statements run synchronously where they are asked for — a cached prepared
//! statement costs microseconds, less than a hop to another thread — on a read
//! connection from a small pool, or on the one writer connection, which a write
//! transaction holds from BEGIN IMMEDIATE to COMMIT.
//!
//! A write transaction never outlives a failure: every statement first checks
//! that SQLite still considers the transaction open (after a full disk or an
//! I/O error SQLite may have rolled it back by itself, and later statements
//! would otherwise commit one by one); a transaction dropped uncommitted is
//! rolled back, and a writer SQLite still holds inside a transaction is
//! replaced, so nothing acknowledged is ever left uncommitted.

use super::Shared;
use crate::domain::fault::StorageFault;
use crate::store::sql::{Decode, Exec, Query, Row, Value};
use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::borrow::Cow;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// The store's `$1..$n` placeholders as SQLite's `?1..?n` (a `$` not followed
/// by a digit, as in a JSON path `'$.key'`, stays).
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    let bytes = sql.as_bytes();
    let numbered = bytes
        .windows(2)
        .any(|w| w[0] == b'$' && w[1].is_ascii_digit());
    if !numbered {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Value<'_>]) -> StoreResult<()> {
    for (i, v) in args.iter().enumerate() {
        let idx = i + 1;
        match v {
            Value::Int(x) => stmt.raw_bind_parameter(idx, x)?,
            Value::Text(x) => stmt.raw_bind_parameter(idx, x.as_deref())?,
            Value::Bool(x) => stmt.raw_bind_parameter(idx, x.map(i64::from))?,
            Value::Blob(x) => stmt.raw_bind_parameter(idx, x.as_deref())?,
            Value::Texts(_) => {
                return Err(StoreError::Corrupt(
                    "an array parameter reached SQLite (lists are expanded)".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Ids bind as their text (UUIDs hyphenated, as stored).
macro_rules! id_to_sql {
    ($($id:ty),+) => {$(
        impl rusqlite::ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
            }
        }
    )+};
}
id_to_sql!(
    crate::domain::ids::DesktopId,
    crate::domain::ids::JobId,
    crate::domain::ids::SubJobId,
    crate::domain::ids::PoolId,
    crate::domain::ids::UserId,
    crate::domain::ids::ClaimId
);

impl rusqlite::ToSql for crate::domain::ids::ProjectId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

/// A row of a result, read by position.
struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl Row for SqliteRow<'_, '_> {
    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.0.get(i)?)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        Ok(self.0.get(i)?)
    }
    fn text(&self, i: usize) -> StoreResult<String> {
        Ok(self.0.get(i)?)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        Ok(self.0.get(i)?)
    }
    fn boolean(&self, i: usize) -> StoreResult<bool> {
        Ok(self.0.get(i)?)
    }
    fn blob(&self, i: usize) -> StoreResult<Vec<u8>> {
        Ok(self.0.get(i)?)
    }
}

/// Runs `q` on `conn` and decodes its rows.
pub(super) fn fetch_on<T>(
    conn: &Connection,
    q: &Query<'_>,
    decode: Decode<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(&q.sql))?;
    bind(&mut stmt, &q.args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(decode(&SqliteRow(r))?);
    }
    Ok(out)
}

/// Runs `q` on `conn`; the rows it changed.
pub(super) fn execute_on(conn: &Connection, q: &Query<'_>) -> StoreResult<u64> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(&q.sql))?;
    bind(&mut stmt, &q.args)?;
    Ok(u64::try_from(stmt.raw_execute()?).unwrap_or(u64::MAX))
}

/// Reads on a pooled read-only connection.
pub struct SqliteReader<'a>(pub(super) &'a Shared);

impl Exec for SqliteReader<'_> {
    async fn fetch<T: Send>(&mut self, q: Query<'_>, decode: Decode<T>) -> StoreResult<Vec<T>> {
        let conn = self.0.reader()?;
        let out = fetch_on(&conn, &q, decode);
        self.0.give_back(conn);
        out
    }

    async fn execute(&mut self, q: Query<'_>) -> StoreResult<u64> {
        let conn = self.0.reader()?;
        let out = execute_on(&conn, &q);
        self.0.give_back(conn);
        out
    }
}

/// A write transaction on the one writer connection.
pub struct SqliteTx {
    pub(super) conn: OwnedMutexGuard<Connection>,
    pub(super) shared: Arc<Shared>,
    pub(super) committed: bool,
}

impl SqliteTx {
    /// The writer, if the transaction is still open: SQLite rolls a
    /// transaction back by itself on some errors, and statements after that
    /// must not run (each would commit on its own).
    pub(super) fn conn(&self) -> StoreResult<&Connection> {
        if self.conn.is_autocommit() {
            tracing::warn!("the SQLite transaction was rolled back under a statement");
            return Err(StoreError::Unavailable(StorageFault::Io));
        }
        Ok(&self.conn)
    }

    /// Commits; on failure the transaction is rolled back and the writer left clean.
    pub(super) fn commit(mut self) -> StoreResult<()> {
        let outcome = self
            .conn()
            .map(drop)
            .and_then(|()| self.conn.execute_batch("COMMIT").map_err(StoreError::from));
        // A failed COMMIT may leave SQLite inside the transaction: Drop cleans up.
        self.committed = outcome.is_ok();
        outcome
    }
}

impl Exec for SqliteTx {
    async fn fetch<T: Send>(&mut self, q: Query<'_>, decode: Decode<T>) -> StoreResult<Vec<T>> {
        fetch_on(self.conn()?, &q, decode)
    }

    async fn execute(&mut self, q: Query<'_>) -> StoreResult<u64> {
        execute_on(self.conn()?, &q)
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.committed {
            self.shared.make_clean(&mut self.conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    #[test]
    fn numbered_placeholders_become_sqlites_and_json_paths_stay() {
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
        assert_eq!(
            sqlite_sql("WHERE a = $1 AND b = $12 AND json_extract(t, '$.key') = $2"),
            "WHERE a = ?1 AND b = ?12 AND json_extract(t, '$.key') = ?2"
        );
    }
}
