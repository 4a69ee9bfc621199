//! PostgreSQL's primitives for the store written once (`store::sql`): statements
//! on the pool or in a transaction, values bound by type, rows read by position.

use super::PostgresStore;
use crate::store::sql::{Db, Decode, Dialect, Exec, Query, Row, Value};
use crate::store::{StoreError, StoreResult};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres, Row as _, Transaction};

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Binds each value with its type (PostgreSQL must know the type of a NULL).
fn bound<'q>(q: &'q Query<'q>) -> PgQuery<'q> {
    let mut out = sqlx::query(&q.sql);
    for v in &q.args {
        out = match v {
            Value::Int(x) => out.bind(*x),
            Value::Text(x) => out.bind(x.as_deref()),
            Value::Bool(x) => out.bind(*x),
            Value::Blob(x) => out.bind(x.as_deref()),
            Value::Texts(list) => out.bind(list.iter().map(AsRef::as_ref).collect::<Vec<&str>>()),
        };
    }
    out
}

fn decode_all<T>(rows: &[PgRow], decode: Decode<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(|r| decode(r)).collect()
}

impl Row for PgRow {
    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn text(&self, i: usize) -> StoreResult<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn boolean(&self, i: usize) -> StoreResult<bool> {
        Ok(self.try_get(i)?)
    }
    fn blob(&self, i: usize) -> StoreResult<Vec<u8>> {
        Ok(self.try_get(i)?)
    }
}

/// Statements on the pool, each on whichever connection is free.
pub struct PgReader<'a>(&'a PgPool);

impl Exec for PgReader<'_> {
    async fn fetch<T: Send>(&mut self, q: Query<'_>, decode: Decode<T>) -> StoreResult<Vec<T>> {
        let rows = bound(&q).fetch_all(self.0).await?;
        decode_all(&rows, decode)
    }

    async fn execute(&mut self, q: Query<'_>) -> StoreResult<u64> {
        Ok(bound(&q).execute(self.0).await?.rows_affected())
    }
}

/// A transaction; sqlx rolls it back when dropped uncommitted.
pub struct PgTx(pub(super) Transaction<'static, Postgres>);

impl Exec for PgTx {
    async fn fetch<T: Send>(&mut self, q: Query<'_>, decode: Decode<T>) -> StoreResult<Vec<T>> {
        let rows = bound(&q).fetch_all(&mut *self.0).await?;
        decode_all(&rows, decode)
    }

    async fn execute(&mut self, q: Query<'_>) -> StoreResult<u64> {
        Ok(bound(&q).execute(&mut *self.0).await?.rows_affected())
    }
}

impl Db for PostgresStore {
    type Tx = PgTx;
    type Reader<'a> = PgReader<'a>;
    const DIALECT: Dialect = Dialect::Postgres;

    fn reader(&self) -> PgReader<'_> {
        PgReader(&self.pool)
    }

    async fn begin(&self) -> StoreResult<PgTx> {
        Ok(PgTx(self.pool.begin().await?))
    }

    async fn commit(tx: PgTx) -> StoreResult<()> {
        tx.0.commit().await.map_err(StoreError::from)
    }
}
