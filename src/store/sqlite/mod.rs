//! SQLite store: one file in WAL mode, through rusqlite. Reads use a small pool
//! of read-only connections; every write goes through the one writer
//! connection, so write transactions never contend for SQLite's lock and a
//! read-check-write inside one is atomic. Everything dialect-neutral is written
//! once in `store::sql`; here: connections, the writer's hygiene, bulk writes
//! (prepared single-row statements), the queue, migrations, checkpoints.

mod bulk;
mod conn;
mod migrate;
mod queue;

pub use conn::{SqliteReader, SqliteTx};

use super::sql::{Db, Dialect};
use super::{Lifecycle, StoreError, StoreOptions, StoreResult};
use crate::domain::fault::StorageFault;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The SQLite implementation of [`super::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

/// What every handle of one store shares.
pub(crate) struct Shared {
    path: PathBuf,
    options: StoreOptions,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// The writer's page cache (KiB). 64 MiB kept the server at 124 MiB RSS with
/// 100,000 desktops; 24 MiB keeps it at 84 MiB for the same throughput (pages
/// it drops come back from the OS page cache) — `bench --scenario cycle`.
const WRITER_CACHE_KIB: i64 = 24_576;
/// WAL frames (pages) past which the checkpoint also starts the WAL over.
const WAL_RESTART_FRAMES: i64 = 8192;

/// The file a `sqlite://path` (or `sqlite:path`) URL names.
fn path_of(url: &str) -> StoreResult<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Corrupt(format!("not a sqlite:// URL: {url}")))?;
    let file = rest.split('?').next().unwrap_or(rest);
    Ok(PathBuf::from(file))
}

impl Shared {
    fn open(&self, flags: OpenFlags, cache_kib: i64) -> rusqlite::Result<Connection> {
        let conn =
            Connection::open_with_flags(&self.path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(self.options.wait)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -cache_kib)?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(conn)
    }

    /// The writer: WAL + NORMAL is durable against process crashes (only an OS
    /// crash may lose the last transactions). It never checkpoints by itself:
    /// the checkpoint (and its fsync) would land inside whichever commit crossed
    /// the threshold; a background task does it.
    fn open_writer(&self) -> rusqlite::Result<Connection> {
        let conn = self.open(
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            WRITER_CACHE_KIB,
        )?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(conn)
    }

    /// A read-only connection from the pool (a new one when none is free).
    pub(super) fn reader(&self) -> StoreResult<Connection> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(StorageFault::Unreachable));
        }
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match pooled {
            Some(c) => Ok(c),
            // Readers' caches are emptied by every commit in WAL mode: small.
            None => Ok(self.open(OpenFlags::SQLITE_OPEN_READ_ONLY, 16_384)?),
        }
    }

    /// Returns a read connection to the pool (beyond its size, it is closed).
    pub(super) fn give_back(&self, conn: Connection) {
        let mut pool = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < self.options.connections.max(1) as usize {
            pool.push(conn);
        }
    }

    /// Leaves the writer outside any transaction: rolled back, or replaced by a
    /// fresh connection when SQLite keeps it inside one.
    pub(super) fn make_clean(&self, conn: &mut Connection) {
        if conn.is_autocommit() {
            return;
        }
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!(error = %e, "rolling back the SQLite writer failed");
        }
        if conn.is_autocommit() {
            return;
        }
        tracing::warn!("the SQLite writer was left inside a transaction: replacing it");
        match self.open_writer() {
            Ok(fresh) => *conn = fresh,
            Err(e) => tracing::error!(error = %e, "reopening the SQLite writer failed"),
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str, o: &StoreOptions) -> StoreResult<Self> {
        let path = path_of(url)?;
        let mut shared = Shared {
            path,
            options: o.clone(),
            writer: Arc::new(tokio::sync::Mutex::new(Connection::open_in_memory()?)),
            readers: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        };
        // Off the async threads: migrations may rewrite a large database.
        let (back, writer) = tokio::task::spawn_blocking(move || {
            let mut writer = shared.open_writer()?;
            ensure_writable(&writer)?;
            migrate::run(&mut writer)?;
            Ok::<_, StoreError>((shared, writer))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("opening the database panicked: {e}")))??;
        shared = back;
        shared.writer = Arc::new(tokio::sync::Mutex::new(writer));
        let shared = Arc::new(shared);
        tokio::spawn(checkpoint_wal(shared.clone()));
        Ok(Self { shared })
    }
}

/// SQLite opens a file it may not write (a denied directory, a read-only
/// mount) read-only without a word, and a server on it would listen and refuse
/// every write. A write that changes nothing (the header's user version set to
/// itself, through the WAL) shows it before anything listens.
fn ensure_writable(conn: &Connection) -> StoreResult<()> {
    if conn.is_readonly(rusqlite::DatabaseName::Main)? {
        return Err(StoreError::Unavailable(StorageFault::ReadOnly));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    conn.pragma_update(None, "user_version", version)?;
    Ok(())
}

#[async_trait::async_trait]
impl Lifecycle for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        let conn = self.shared.reader()?;
        let ok = conn.query_row("SELECT 1", [], |_| Ok(()));
        self.shared.give_back(conn);
        Ok(ok?)
    }

    /// Stops the background checkpoints and waits for the writer to be free;
    /// connections close with the last handle.
    async fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        let _ = self.shared.writer.lock().await;
        self.shared
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

impl Db for SqliteStore {
    type Tx = SqliteTx;
    type Reader<'a> = SqliteReader<'a>;
    const DIALECT: Dialect = Dialect::Sqlite;

    fn reader(&self) -> SqliteReader<'_> {
        SqliteReader(&self.shared)
    }

    async fn begin(&self) -> StoreResult<SqliteTx> {
        let writer = self.shared.writer.clone().lock_owned();
        let conn = tokio::time::timeout(self.shared.options.wait, writer)
            .await
            .map_err(|_| StoreError::Unavailable(StorageFault::Timeout))?;
        let mut tx = SqliteTx {
            conn,
            shared: self.shared.clone(),
            committed: false,
        };
        self.shared.make_clean(&mut tx.conn);
        tx.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(tx)
    }

    async fn commit(tx: SqliteTx) -> StoreResult<()> {
        tx.commit()
    }
}

/// Copies the WAL back into the database file in the background, beside the
/// writer and the readers (PASSIVE: it waits for nobody). Under a steady stream
/// of commits the WAL is never fully copied when a writer starts, so SQLite never
/// starts it over by itself: past [`WAL_RESTART_FRAMES`] a TRUNCATE checkpoint
/// does, on the writer between two of its transactions (from another connection
/// it would invalidate the writer's snapshot: SQLITE_BUSY_SNAPSHOT), holding
/// writes back only until the current readers finish. Both run off the async
/// threads: a checkpoint fsyncs.
async fn checkpoint_wal(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut own: Option<Connection> = None;
    while !shared.closed.load(Ordering::Relaxed) {
        tick.tick().await;
        let conn = match own.take() {
            Some(c) => c,
            None => match shared.open(OpenFlags::SQLITE_OPEN_READ_WRITE, 256) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "opening the checkpoint connection failed");
                    continue;
                }
            },
        };
        let passive = tokio::task::spawn_blocking(move || {
            let frames =
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
            (conn, frames)
        })
        .await;
        let Ok((conn, frames)) = passive else {
            continue;
        };
        own = Some(conn);
        match frames {
            Ok(f) if f > WAL_RESTART_FRAMES => restart_wal(&shared).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
        }
    }
}

/// A TRUNCATE checkpoint on the writer, between two of its transactions.
async fn restart_wal(shared: &Arc<Shared>) {
    let writer = shared.writer.clone().lock_owned().await;
    let done = tokio::task::spawn_blocking(move || {
        writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    })
    .await;
    if let Ok(Err(e)) = done {
        tracing::warn!(error = %e, "restarting the WAL failed");
    }
}
