//! Applying `migrations/sqlite` with rusqlite. The files are embedded by sqlx's
//! `migrate!` (checksums included) and recorded in sqlx's own table, in sqlx's
//! own format, so a database created by an earlier deskplane upgrades in place
//! and a changed migration file is refused as sqlx would refuse it.

use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::time::Instant;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Applies every migration not applied yet, each in a transaction of its own.
pub(super) fn run(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(TABLE)?;
    let applied: HashMap<i64, Vec<u8>> = {
        let mut stmt =
            conn.prepare("SELECT version, checksum FROM _sqlx_migrations WHERE success")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let migrator = sqlx::migrate!("migrations/sqlite");
    for m in migrator.iter() {
        if let Some(sum) = applied.get(&m.version) {
            if sum.as_slice() != &*m.checksum {
                return Err(StoreError::Corrupt(format!(
                    "migration {} was changed after it was applied",
                    m.version
                )));
            }
            continue;
        }
        let started = Instant::now();
        let tx = conn.transaction()?;
        tx.execute_batch(&m.sql)?;
        let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            params![m.version, &*m.description, &*m.checksum, nanos],
        )?;
        tx.commit()?;
    }
    Ok(())
}
