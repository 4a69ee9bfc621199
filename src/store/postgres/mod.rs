//! PostgreSQL store: what several deskplane nodes share. Everything dialect-
//! neutral is written once in `store::sql`; what is PostgreSQL's own here is how
//! atomicity is obtained when several processes write at once:
//!
//! - claiming locks queue rows with `FOR UPDATE SKIP LOCKED`, so two nodes never
//!   claim the same sub-job and never wait for each other;
//! - a read-check-write (batch submission, retry) locks the rows it checks with
//!   `SELECT ... FOR UPDATE` before deciding;
//! - every transaction takes row locks in one global order — desktops, then
//!   sub-jobs, then users, then jobs, each by id — so concurrent transactions
//!   wait for each other but never deadlock;
//! - multi-row writes bind one array per column (`UNNEST($1::text[], ...)`), so a
//!   job for 1,000 desktops is a fixed handful of statements.

mod bulk;
mod db;
mod queue;

use super::{Lifecycle, StoreOptions, StoreResult};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::str::FromStr;

/// The PostgreSQL implementation of [`super::Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connect to `url` with a pool of `max_connections`, every statement bounded
    /// by `statement_timeout` (zero: unbounded), and apply pending migrations.
    pub async fn open(url: &str, o: &StoreOptions) -> StoreResult<Self> {
        let base = PgConnectOptions::from_str(url)?.application_name("deskplane");
        // Migrations run on their own connection without a statement timeout:
        // waiting for another node's migration (sqlx holds an advisory lock, so
        // nodes starting together apply each migration once) or building an
        // index on a large table may rightly take longer than any request.
        let mut conn =
            PgConnection::connect_with(&base.clone().options([("statement_timeout", "0")])).await?;
        sqlx::migrate!("migrations/postgres").run(&mut conn).await?;
        conn.close().await?;
        let timeout_ms = o.statement_timeout.as_millis().to_string();
        // Custom plans: batch statements bind arrays whose length (1 or 1,000)
        // decides the right plan; a cached generic plan guesses and, for a
        // join against UNNEST, re-reads the arrays once per row (measured: a
        // 500-row completion took 560 ms generic, 30 ms custom).
        let opts = base.options([
            ("statement_timeout", timeout_ms.as_str()),
            ("plan_cache_mode", "force_custom_plan"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(o.connections.max(1))
            .acquire_timeout(o.wait)
            .connect_with(opts)
            .await?;
        Ok(Self { pool })
    }
}

#[async_trait::async_trait]
impl Lifecycle for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    async fn close(&self) {
        self.pool.close().await;
    }
}
