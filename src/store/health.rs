//! Whether the store can write now: the outcome of real writes (every node's
//! heartbeat is one, once a second) kept where `/ready` and the engine read it.
//! A failed write marks it unhealthy with the fault that caused it; the next
//! successful write marks it healthy again, by itself.

use super::StoreError;
use crate::domain::fault::StorageFault;
use std::sync::Mutex;

/// The store's health, shared by everything that writes.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<Option<Unhealthy>>,
}

/// Why and since when the store cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unhealthy {
    /// The fault of the last failed write.
    pub fault: StorageFault,
    /// When writes started failing (UTC ms).
    pub since_ms: i64,
}

impl Health {
    /// Record a write's outcome; an error that is not a storage fault (a
    /// conflict, a bug) says nothing about the storage.
    pub fn observe<T>(&self, outcome: &Result<T, StoreError>, now_ms: i64) {
        match outcome {
            Ok(_) => self.healthy(),
            Err(e) => {
                if let Some(fault) = e.fault() {
                    self.failed(fault, now_ms);
                }
            }
        }
    }

    /// A write succeeded.
    pub fn healthy(&self) {
        let mut state = self.lock();
        if let Some(was) = state.take() {
            tracing::warn!(fault = was.fault.name(), "the store writes again");
        }
    }

    /// A write failed with `fault`.
    pub fn failed(&self, fault: StorageFault, now_ms: i64) {
        let mut state = self.lock();
        if let Some(u) = &mut *state {
            u.fault = fault;
        } else {
            tracing::error!(fault = fault.name(), "the store cannot write");
            *state = Some(Unhealthy {
                fault,
                since_ms: now_ms,
            });
        }
    }

    /// `None` when the last write succeeded.
    #[must_use]
    pub fn unhealthy(&self) -> Option<Unhealthy> {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Unhealthy>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl StoreError {
    /// The storage fault behind this error, if it is one (full disk, read-only
    /// or failing file, unreachable or silent server, a lock held elsewhere).
    #[must_use]
    pub fn fault(&self) -> Option<StorageFault> {
        match self {
            StoreError::Database(e) => sqlx_fault(e),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                sqlite_fault(&e.extended_code.to_string())
            }
            StoreError::Sqlite(_) => None,
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => sqlx_fault(e),
            StoreError::Unavailable(f) => Some(*f),
            StoreError::Conflict(_)
            | StoreError::NamesTaken(_)
            | StoreError::Corrupt(_)
            | StoreError::Migrate(_) => None,
        }
    }
}

fn sqlx_fault(e: &sqlx::Error) -> Option<StorageFault> {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            Some(StorageFault::Unreachable)
        }
        sqlx::Error::PoolTimedOut => Some(StorageFault::Timeout),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Some(StorageFault::Unreachable),
        sqlx::Error::Database(d) => {
            let code = d.code()?;
            if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                sqlstate_fault(&code)
            } else {
                sqlite_fault(&code)
            }
        }
        _ => None,
    }
}

/// A SQLite result code (a number, extended or primary).
fn sqlite_fault(code: &str) -> Option<StorageFault> {
    // The primary code is the low byte of an extended one.
    match code.parse::<u32>().ok()? & 0xff {
        13 => Some(StorageFault::DiskFull),          // SQLITE_FULL
        8 => Some(StorageFault::ReadOnly),           // SQLITE_READONLY
        10 | 14 | 15 | 26 => Some(StorageFault::Io), // IOERR, CANTOPEN, PROTOCOL, NOTADB
        5 | 6 => Some(StorageFault::Locked),         // BUSY, LOCKED
        _ => None,
    }
}

/// A PostgreSQL SQLSTATE.
fn sqlstate_fault(code: &str) -> Option<StorageFault> {
    match code {
        "53100" => Some(StorageFault::DiskFull),
        "25006" => Some(StorageFault::ReadOnly),
        "58030" | "XX001" | "XX002" => Some(StorageFault::Io),
        "57014" => Some(StorageFault::Timeout),
        c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") => {
            Some(StorageFault::Unreachable)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_codes_name_their_fault() {
        assert_eq!(sqlite_fault("13"), Some(StorageFault::DiskFull));
        assert_eq!(
            sqlite_fault("778"),
            Some(StorageFault::Io),
            "SQLITE_IOERR_WRITE"
        );
        assert_eq!(
            sqlite_fault("1032"),
            Some(StorageFault::ReadOnly),
            "SQLITE_READONLY_DBMOVED"
        );
        assert_eq!(sqlite_fault("5"), Some(StorageFault::Locked));
        assert_eq!(
            sqlite_fault("2067"),
            None,
            "a unique violation is the request's"
        );
        assert_eq!(sqlstate_fault("53100"), Some(StorageFault::DiskFull));
        assert_eq!(sqlstate_fault("57P01"), Some(StorageFault::Unreachable));
        assert_eq!(sqlstate_fault("57014"), Some(StorageFault::Timeout));
        assert_eq!(sqlstate_fault("23505"), None);
    }

    #[test]
    fn health_follows_the_last_write() {
        let h = Health::default();
        assert_eq!(h.unhealthy(), None);
        h.observe::<()>(&Err(StoreError::Unavailable(StorageFault::DiskFull)), 5);
        h.observe::<()>(&Err(StoreError::Conflict("x".into())), 6);
        h.observe::<()>(&Err(StoreError::Unavailable(StorageFault::Io)), 7);
        assert_eq!(
            h.unhealthy(),
            Some(Unhealthy {
                fault: StorageFault::Io,
                since_ms: 5
            })
        );
        h.observe(&Ok(()), 8);
        assert_eq!(h.unhealthy(), None);
    }
}
