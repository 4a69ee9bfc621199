//! Direct reads of the server's SQLite file, for what the API cannot show: sub-job
//! times to the millisecond (the API renders `2020-04-10 06:45:14`, whole seconds),
//! attempts, and the state a killed process left behind. Read-only queries; the schema
//! is `migrations/sqlite/0001_init.sql`.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Row as _, SqlitePool as Pool};
use std::collections::BTreeMap;
use std::path::Path;

/// One sub-job as stored.
#[derive(Debug, Clone)]
pub struct SubJob {
    /// Sub-job id.
    pub id: String,
    /// Submission order.
    pub seq: i64,
    /// Parent job.
    pub job_id: String,
    /// Its desktop.
    pub desktop_id: String,
    /// `os-stop:SOFT`, `create` ...
    pub operation: String,
    /// WAITING / RUNNING / SUCCESS / FAILED.
    pub status: String,
    /// 1 for the first run.
    pub attempt: i64,
    /// First claim, UTC ms.
    pub begin_ms: Option<i64>,
    /// Completion, UTC ms.
    pub end_ms: Option<i64>,
}

/// Opens the database (it must exist).
pub async fn open(path: &Path) -> SqlitePool {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}

/// Every sub-job, in submission order.
pub async fn sub_jobs(pool: &Pool) -> Vec<SubJob> {
    let rows = sqlx::query(
        "SELECT id, seq, job_id, desktop_id, operation, status, attempt, begin_ms, end_ms \
         FROM sub_jobs ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .expect("sub_jobs can be read");
    rows.iter()
        .map(|r| SubJob {
            id: r.get(0),
            seq: r.get(1),
            job_id: r.get(2),
            desktop_id: r.get(3),
            operation: r.get(4),
            status: r.get(5),
            attempt: r.get(6),
            begin_ms: r.get(7),
            end_ms: r.get(8),
        })
        .collect()
}

/// Desktops that have more than one unfinished (WAITING or RUNNING) sub-job right now;
/// one statement, so one consistent snapshot.
pub async fn desktops_with_two_unfinished(pool: &Pool) -> Vec<(String, i64)> {
    sqlx::query(
        "SELECT desktop_id, COUNT(*) FROM sub_jobs WHERE status IN ('WAITING', 'RUNNING') \
         GROUP BY desktop_id HAVING COUNT(*) > 1",
    )
    .fetch_all(pool)
    .await
    .expect("sub_jobs can be read")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Sub-jobs per status.
pub async fn sub_job_counts(pool: &Pool) -> BTreeMap<String, i64> {
    count_by(
        pool,
        "SELECT status, COUNT(*) FROM sub_jobs GROUP BY status",
    )
    .await
}

/// Desktops per `task_status` (`""` for idle ones).
pub async fn desktop_task_counts(pool: &Pool) -> BTreeMap<String, i64> {
    count_by(
        pool,
        "SELECT COALESCE(task_status, ''), COUNT(*) FROM desktops GROUP BY 1",
    )
    .await
}

async fn count_by(pool: &Pool, sql: &str) -> BTreeMap<String, i64> {
    sqlx::query(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
