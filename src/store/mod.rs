//! The store: everything deskplane keeps, behind one interface so that SQLite
//! (embedded default) and PostgreSQL (several nodes) are interchangeable. Batch
//! writes are set-based: a job for 1,000 desktops is a handful of statements in
//! one transaction. Rules come from `domain`; the store enforces them with
//! guarded updates (`WHERE busy_sub_job IS NULL`, fencing by lease owner).

pub mod health;
pub mod postgres;
mod roles;
pub mod sql;
pub mod sqlite;

pub use crate::domain::completion::{Completion, Effect, Outcome};
pub use crate::domain::pool::{
    AutoscaleNeed, PoolActionOutcome, PoolDeletion, PoolFilter, PoolMember, PoolRow, PoolUpdate,
};
pub use crate::domain::records::*;
pub use roles::*;

/// A store failure. Internal details are logged, never sent to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (user name, pool name ...).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Desktops of a create would take these computer names, which their
    /// project already has; nothing was written.
    #[error("computer names taken: {}", .0.join(", "))]
    NamesTaken(Vec<String>),
    /// The storage cannot serve (a write was refused before it was tried).
    #[error("storage unavailable: {}", .0.name())]
    Unavailable(crate::domain::fault::StorageFault),
}

impl StoreError {
    /// Whether a uniqueness rule refused the write (a name taken).
    #[must_use]
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(d)) => d.is_unique_violation(),
            // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.extended_code, 2067 | 1555)
            }
            _ => false,
        }
    }

    /// `Conflict(what)` for a uniqueness violation, this error otherwise.
    #[must_use]
    pub fn conflict_on(self, what: &str) -> Self {
        if self.is_unique_violation() {
            StoreError::Conflict(what.to_owned())
        } else {
            self
        }
    }
}

/// Which RUNNING sub-jobs `requeue_orphans` treats as orphans besides those
/// whose lease expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanScope {
    /// Only expired leases (a periodic scan).
    Expired,
    /// Also every lease of an earlier incarnation of this node (at start: the
    /// process that held them is gone, whoever else shares the store).
    EarlierIncarnations,
    /// Also every lease of any other incarnation (at start on a store no other
    /// node shares).
    AllOthers,
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// SQLite's read pool, PostgreSQL's whole pool.
    pub connections: u32,
    /// How long an operation waits for a connection (SQLite: also for the
    /// write lock another process holds) before it fails as a timeout.
    pub wait: std::time::Duration,
    /// PostgreSQL: statements running longer are cancelled (zero: no limit).
    pub statement_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            connections: 8,
            wait: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;
