//! The invariants checked after every trial, read from the database itself
//! (the SQLite file or the PostgreSQL database): every sub-job ended, every
//! job's counters and status agree with its sub-jobs, no desktop is left in a
//! transitional `task_status`, no operation was carried out twice (nor a
//! successful one not at all), and every acknowledged job exists.

use anyhow::Context as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// How many examples a violated check names.
const EXAMPLES: usize = 5;

/// A read-only view of a trial's database.
pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// The same query on either database, rows decoded as `$t`.
macro_rules! fetch_all {
    ($db:expr, $t:ty, $sql:expr) => {
        match $db {
            Db::Sqlite(p) => sqlx::query_as::<_, $t>($sql).fetch_all(p).await,
            Db::Pg(p) => sqlx::query_as::<_, $t>($sql).fetch_all(p).await,
        }
    };
}

impl Db {
    /// The SQLite file (it must exist; nothing is ever written).
    pub async fn sqlite(path: &Path) -> anyhow::Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Db::Sqlite(pool))
    }

    /// The PostgreSQL database at `url`.
    pub async fn postgres(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Db::Pg(pool))
    }

    /// Closes the connection (a SQLite file must not stay open across restarts).
    pub async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Pg(p) => p.close().await,
        }
    }

    /// Sub-jobs WAITING or RUNNING.
    pub async fn unfinished(&self) -> anyhow::Result<i64> {
        let sql =
            "SELECT CAST(COUNT(*) AS BIGINT) FROM sub_jobs WHERE status IN ('WAITING', 'RUNNING')";
        let rows = fetch_all!(self, (i64,), sql)?;
        Ok(rows.first().map_or(0, |r| r.0))
    }

    /// RUNNING sub-jobs leased by `node` (a node id).
    pub async fn running_on(&self, node: &str) -> anyhow::Result<i64> {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM sub_jobs WHERE status = 'RUNNING' AND lease_owner = $1";
        let n = match self {
            Db::Sqlite(p) => sqlx::query_scalar(sql).bind(node).fetch_one(p).await?,
            Db::Pg(p) => sqlx::query_scalar(sql).bind(node).fetch_one(p).await?,
        };
        Ok(n)
    }

    /// Polls until no sub-job is WAITING or RUNNING; how long that took.
    pub async fn wait_settled(&self, bound: Duration) -> anyhow::Result<Duration> {
        let began = Instant::now();
        loop {
            let left = self.unfinished().await?;
            if left == 0 {
                return Ok(began.elapsed());
            }
            if began.elapsed() > bound {
                anyhow::bail!("{left} sub-jobs still WAITING or RUNNING after {bound:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Jobs stored, by id, with their type.
    pub async fn jobs(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let rows = fetch_all!(self, (String, String), "SELECT id, job_type FROM jobs")?;
        Ok(rows.into_iter().collect())
    }
}

/// What the checks found: one line per violated invariant.
pub type Violations = Vec<String>;

/// Runs every database check; `acked` are the job ids answered 200/202.
pub async fn run(db: &Db, acked: &[String]) -> anyhow::Result<Violations> {
    let mut v = Violations::new();
    let left = db.unfinished().await?;
    if left > 0 {
        v.push(format!("{left} sub-jobs are WAITING or RUNNING"));
    }
    counters(db, &mut v).await?;
    busy_desktops(db, &mut v).await?;
    applied(db, &mut v).await?;
    let stored = db.jobs().await?;
    let lost: Vec<&String> = acked.iter().filter(|j| !stored.contains_key(*j)).collect();
    if !lost.is_empty() {
        v.push(format!(
            "{} of {} acknowledged jobs do not exist, e.g. {}",
            lost.len(),
            acked.len(),
            examples(lost.iter())
        ));
    }
    Ok(v)
}

/// Stored jobs nobody was told about (their request failed after the commit):
/// not a violation (a killed node cannot answer), a figure.
pub async fn unacknowledged(db: &Db, acked: &[String], initial: &str) -> anyhow::Result<u64> {
    let acked: HashSet<&String> = acked.iter().collect();
    let stored = db.jobs().await?;
    // Logoff answers name no job, so none of them can be matched.
    let n = stored
        .iter()
        .filter(|(id, kind)| *id != initial && !kind.contains("ogoff") && !acked.contains(id))
        .count();
    Ok(n as u64)
}

type CounterRow = (String, String, i64, i64, i64, i64, i64, i64);

async fn counters(db: &Db, v: &mut Violations) -> anyhow::Result<()> {
    let sql = "SELECT j.id, j.status, CAST(j.total AS BIGINT), CAST(j.succeeded AS BIGINT), \
               CAST(j.failed AS BIGINT), CAST(COUNT(s.id) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN s.status = 'SUCCESS' THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN s.status = 'FAILED' THEN 1 ELSE 0 END), 0) AS BIGINT) \
               FROM jobs j LEFT JOIN sub_jobs s ON s.job_id = j.id \
               GROUP BY j.id, j.status, j.total, j.succeeded, j.failed";
    let rows = fetch_all!(db, CounterRow, sql)?;
    let mut wrong = Vec::new();
    for (id, status, total, ok, failed, n, n_ok, n_failed) in rows {
        let want = if n_ok == n {
            "SUCCESS"
        } else if n_ok + n_failed == n {
            "FAIL"
        } else {
            "unfinished"
        };
        if (total, ok, failed) != (n, n_ok, n_failed) || status != want {
            wrong.push(format!(
                "job {id} {status} total/succeeded/failed {total}/{ok}/{failed} but sub-jobs \
                 {n} ({n_ok} SUCCESS, {n_failed} FAILED: {want})"
            ));
        }
    }
    if !wrong.is_empty() {
        v.push(format!(
            "{} jobs disagree with their sub-jobs: {}",
            wrong.len(),
            examples(wrong.iter())
        ));
    }
    Ok(())
}

async fn busy_desktops(db: &Db, v: &mut Violations) -> anyhow::Result<()> {
    let sql = "SELECT id, COALESCE(task_status, ''), COALESCE(busy_sub_job, '') FROM desktops \
               WHERE task_status IS NOT NULL OR busy_sub_job IS NOT NULL";
    let rows = fetch_all!(db, (String, String, String), sql)?;
    if !rows.is_empty() {
        let shown: Vec<String> = rows
            .iter()
            .map(|(id, task, sub)| format!("{id} {task} (sub-job {sub})"))
            .collect();
        v.push(format!(
            "{} desktops are left in a transitional task_status: {}",
            rows.len(),
            examples(shown.iter())
        ));
    }
    Ok(())
}

type SubJobApplied = (String, String, String, String, String, i64);

/// Every sub-job against what the simulator recorded as carried out.
async fn applied(db: &Db, v: &mut Violations) -> anyhow::Result<()> {
    let twice = fetch_all!(
        db,
        (String, i64),
        "SELECT op_id, CAST(COUNT(*) AS BIGINT) FROM sim_applied GROUP BY op_id HAVING COUNT(*) > 1"
    )?;
    if !twice.is_empty() {
        let shown: Vec<String> = twice.iter().map(|(id, n)| format!("{id} ×{n}")).collect();
        v.push(format!(
            "{} sub-jobs were carried out more than once: {}",
            twice.len(),
            examples(shown.iter())
        ));
    }
    let stray = fetch_all!(
        db,
        (String, String, String),
        "SELECT a.op_id, a.desktop_id, a.operation FROM sim_applied a \
         LEFT JOIN sub_jobs s ON s.id = a.op_id WHERE s.id IS NULL"
    )?;
    if !stray.is_empty() {
        let shown: Vec<String> = stray.iter().map(|r| format!("{r:?}")).collect();
        v.push(format!(
            "{} operations carried out for no sub-job: {}",
            stray.len(),
            examples(shown.iter())
        ));
    }
    let rows = fetch_all!(
        db,
        SubJobApplied,
        "SELECT s.id, s.desktop_id, s.operation, s.prev_login, s.status, \
         CAST(COUNT(a.seq) AS BIGINT) FROM sub_jobs s LEFT JOIN sim_applied a ON a.op_id = s.id \
         GROUP BY s.id, s.desktop_id, s.operation, s.prev_login, s.status"
    )?;
    let wrong: Vec<String> = rows.iter().filter_map(applied_wrong).collect();
    if !wrong.is_empty() {
        v.push(format!(
            "{} sub-jobs disagree with what was carried out: {}",
            wrong.len(),
            examples(wrong.iter())
        ));
    }
    mismatched(db, v).await
}

/// The rule, from `jobs::run`: a successful sub-job was carried out exactly
/// once, except a logoff of a desktop nobody was logged into (`prev_login`
/// neither CONNECTED nor DISCONNECTED), which the engine never hands to the
/// driver; a failed one at most once (it may have been carried out before its
/// worker died and then run out of attempts).
fn applied_wrong(row: &SubJobApplied) -> Option<String> {
    let (id, desktop, operation, prev_login, status, n) = row;
    let skipped =
        operation == "logoff" && !matches!(prev_login.as_str(), "CONNECTED" | "DISCONNECTED");
    let ok = match status.as_str() {
        "SUCCESS" if skipped => *n == 0,
        "SUCCESS" => *n == 1,
        _ => *n <= 1,
    };
    (!ok).then(|| {
        format!("{status} {operation} sub-job {id} of {desktop} (login {prev_login}) carried out {n} times")
    })
}

/// A recorded operation must be its sub-job's, on its desktop.
async fn mismatched(db: &Db, v: &mut Violations) -> anyhow::Result<()> {
    let rows = fetch_all!(
        db,
        (String, String, String, String, String),
        "SELECT a.op_id, a.desktop_id, a.operation, s.desktop_id, s.operation \
         FROM sim_applied a JOIN sub_jobs s ON s.id = a.op_id"
    )?;
    let wrong: Vec<String> = rows
        .iter()
        .filter(|(_, ad, aop, sd, sop)| ad != sd || sop.split(':').next() != Some(aop.as_str()))
        .map(|r| format!("{r:?}"))
        .collect();
    if !wrong.is_empty() {
        v.push(format!(
            "{} operations carried out differ from their sub-job: {}",
            wrong.len(),
            examples(wrong.iter())
        ));
    }
    Ok(())
}

fn examples<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let all: Vec<String> = items.map(|i| i.to_string()).collect();
    let mut s = all
        .iter()
        .take(EXAMPLES)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if all.len() > EXAMPLES {
        let _ = write!(s, "; … {} more", all.len() - EXAMPLES);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::applied_wrong;

    fn row(op: &str, login: &str, status: &str, n: i64) -> super::SubJobApplied {
        (
            "s".into(),
            "d".into(),
            op.into(),
            login.into(),
            status.into(),
            n,
        )
    }

    #[test]
    fn a_success_was_carried_out_once_a_failure_at_most_once() {
        assert!(applied_wrong(&row("os-stop:HARD", "REGISTERED", "SUCCESS", 1)).is_none());
        assert!(applied_wrong(&row("os-stop:HARD", "REGISTERED", "SUCCESS", 0)).is_some());
        assert!(applied_wrong(&row("reboot:SOFT", "CONNECTED", "SUCCESS", 2)).is_some());
        assert!(applied_wrong(&row("rebuild", "UNREGISTER", "FAILED", 0)).is_none());
        assert!(applied_wrong(&row("rebuild", "UNREGISTER", "FAILED", 1)).is_none());
        assert!(applied_wrong(&row("delete", "UNREGISTER", "FAILED", 2)).is_some());
    }

    #[test]
    fn a_logoff_without_a_session_is_never_carried_out() {
        for login in ["UNREGISTER", "REGISTERED"] {
            assert!(applied_wrong(&row("logoff", login, "SUCCESS", 0)).is_none());
            assert!(applied_wrong(&row("logoff", login, "SUCCESS", 1)).is_some());
        }
        for login in ["CONNECTED", "DISCONNECTED"] {
            assert!(applied_wrong(&row("logoff", login, "SUCCESS", 1)).is_none());
            assert!(applied_wrong(&row("logoff", login, "SUCCESS", 0)).is_some());
        }
    }
}
