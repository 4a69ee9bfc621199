//! SQLite store: one file in WAL mode. Reads use a pool; every write goes
//! through a single writer connection, so write transactions never contend for
//! SQLite's lock and a read-check-write inside one is atomic.

mod decode;
mod desktops;
mod jobs;
mod misc;
mod pools;
mod tokens;

use super::{ApiUserRow, Holder, NodeRow, NotificationFilter, OrphanScope, TokenRow};
use crate::domain::desktop::{DesktopStatus, LoginStatus};

use super::{
    AutoscaleNeed, PoolActionOutcome, PoolDeletion, PoolFilter, PoolMember, PoolRow, PoolUpdate,
};
use super::{
    BatchOutcome, Claimed, Completion, CredentialRow, DesktopFilter, DesktopRow, JobRow,
    NewDesktop, NewJob, NotificationRow, RetryOutcome, SimApplied, SimFault, SubJobFilter,
    SubJobRow, UserFilter, UserRow,
};
use super::{StoreError, StoreOptions, StoreResult};
use crate::domain::machine::Operation;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Rows per multi-row statement: keeps bound parameters well under SQLite's 32,766.
const CHUNK: usize = 500;

/// The SQLite implementation of [`super::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    checkpoint: SqlitePool,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `url` and apply migrations.
    pub async fn open(url: &str, o: &StoreOptions) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable against process crashes (our crash test);
            // only an OS crash may lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(o.wait)
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // The one writer touches random pages of every id index: a large cache keeps
        // batch inserts from re-reading them. Readers' caches are emptied by every
        // commit in WAL mode anyway, so they stay small.
        // The writer never checkpoints: copying the WAL back into the database (and
        // its fsync) would land inside whichever commit crossed the threshold — a
        // third of a 1,000-desktop request's latency. A connection of its own does it.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(o.wait)
            .after_release(|conn, _| Box::pin(async move { writer_is_clean(conn).await }))
            .connect_with(
                opts.clone()
                    .pragma("cache_size", "-65536")
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(o.connections.max(1))
            .acquire_timeout(o.wait)
            .connect_with(opts.clone().read_only(true).pragma("cache_size", "-16384"))
            .await?;
        let checkpoint = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(o.wait)
            .connect_with(opts.pragma("cache_size", "-256"))
            .await?;
        tokio::spawn(checkpoint_wal(checkpoint.clone(), write.clone()));
        Ok(Self {
            read,
            write,
            checkpoint,
        })
    }

    /// Close both pools (waits for connections to be returned).
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        self.checkpoint.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// WAL frames (pages) past which the checkpoint also starts the WAL over.
const WAL_RESTART_FRAMES: i64 = 8192;

/// Copies the WAL back into the database file in the background, beside the
/// writer and the readers (PASSIVE: it waits for nobody). Under a steady stream
/// of commits the WAL is never fully copied when a writer starts, so SQLite never
/// starts it over by itself: past [`WAL_RESTART_FRAMES`] a TRUNCATE checkpoint
/// does, on the writer connection between two of its transactions (from another
/// connection it would invalidate the writer's snapshot: SQLITE_BUSY_SNAPSHOT),
/// holding writes back only until the current readers finish.
async fn checkpoint_wal(pool: SqlitePool, writer: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let done = match passive {
            Ok((_, frames, _)) if frames > WAL_RESTART_FRAMES => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&writer)
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        };
        if let Err(e) = done
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}

/// Whether the writer came back from its last use outside any transaction. A
/// failed statement or COMMIT (a full disk, an I/O error) may leave SQLite's
/// transaction and sqlx's idea of it apart: SQLite may have rolled back on its
/// own, so sqlx's ROLLBACK fails and sqlx keeps counting an open transaction,
/// whose next BEGIN becomes a SAVEPOINT that never commits — acknowledged work
/// that is never written. Queued commands (the dropped transaction's ROLLBACK)
/// run first; then both views must agree that no transaction is open, or the
/// connection is closed and the pool opens a fresh one.
async fn writer_is_clean(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    // Runs after whatever the last user left queued; a dirty SQLite refuses the BEGIN.
    let probe = sqlx::query("BEGIN").execute(&mut *conn).await;
    if probe.is_err() {
        tracing::warn!("the SQLite writer was left inside a transaction: replacing it");
        return Ok(false);
    }
    sqlx::query("ROLLBACK").execute(&mut *conn).await?;
    if conn.is_in_transaction() {
        tracing::warn!("the SQLite writer lost track of a transaction: replacing it");
        return Ok(false);
    }
    Ok(true)
}

/// Reserve `n` consecutive sequence numbers; returns the first.
async fn reserve_seq(tx: &mut sqlx::SqliteConnection, n: usize) -> StoreResult<i64> {
    let n = i64::try_from(n).map_err(|_| StoreError::Corrupt("sequence overflow".into()))?;
    let end: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + ? WHERE name = 'seq' RETURNING value",
    )
    .bind(n)
    .fetch_one(&mut *tx)
    .await?;
    Ok(end - n + 1)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait::async_trait]
impl super::Accounts for SqliteStore {
    async fn count_projects(&self) -> StoreResult<i64> {
        self.count_projects_().await
    }
    async fn ensure_project(&self, id: &str, name: &str, now_ms: i64) -> StoreResult<()> {
        self.ensure_project_(id, name, now_ms).await
    }
    async fn project_exists(&self, id: &str) -> StoreResult<bool> {
        self.project_exists_(id).await
    }
    async fn insert_credential(&self, c: &CredentialRow) -> StoreResult<()> {
        self.insert_credential_(c).await
    }
    async fn get_credential(&self, access_key: &str) -> StoreResult<Option<CredentialRow>> {
        self.get_credential_(access_key).await
    }
    async fn list_credentials(&self, project_id: Option<&str>) -> StoreResult<Vec<CredentialRow>> {
        self.list_credentials_(project_id).await
    }
    async fn delete_credential(&self, access_key: &str) -> StoreResult<bool> {
        self.delete_credential_(access_key).await
    }
}

#[async_trait::async_trait]
impl super::Users for SqliteStore {
    async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        self.insert_user_(u).await
    }
    async fn get_user(&self, project_id: &str, user_id: &str) -> StoreResult<Option<UserRow>> {
        self.get_user_(project_id, user_id).await
    }
    async fn list_users(
        &self,
        project_id: &str,
        filter: &UserFilter,
    ) -> StoreResult<(Vec<UserRow>, i64)> {
        self.list_users_(project_id, filter).await
    }
    async fn delete_user(&self, project_id: &str, user_id: &str) -> StoreResult<bool> {
        self.delete_user_(project_id, user_id).await
    }
    async fn count_user_desktops(&self, project_id: &str, user_name: &str) -> StoreResult<i64> {
        self.count_user_desktops_(project_id, user_name).await
    }
    async fn insert_notifications(&self, n: &[NotificationRow]) -> StoreResult<()> {
        self.insert_notifications_(n).await
    }
    async fn list_notifications(
        &self,
        project_id: &str,
        filter: &NotificationFilter,
    ) -> StoreResult<(Vec<NotificationRow>, i64)> {
        self.list_notifications_(project_id, filter).await
    }
}

#[async_trait::async_trait]
impl super::Desktops for SqliteStore {
    async fn get_desktops(&self, ids: &[String]) -> StoreResult<Vec<DesktopRow>> {
        self.get_desktops_(ids).await
    }
    async fn get_desktop(&self, project_id: &str, id: &str) -> StoreResult<Option<DesktopRow>> {
        self.get_desktop_(project_id, id).await
    }
    async fn list_desktops(
        &self,
        project_id: &str,
        filter: &DesktopFilter,
    ) -> StoreResult<(Vec<DesktopRow>, i64)> {
        self.list_desktops_(project_id, filter).await
    }
    async fn existing_computer_names(
        &self,
        project_id: &str,
        names: &[String],
    ) -> StoreResult<Vec<String>> {
        self.existing_computer_names_(project_id, names).await
    }
    async fn set_login_status(
        &self,
        project_id: &str,
        id: &str,
        login: &str,
        now_ms: i64,
    ) -> StoreResult<bool> {
        self.set_login_status_(project_id, id, login, now_ms).await
    }
    async fn placed_idle_desktops(&self) -> StoreResult<Vec<(String, String, DesktopStatus)>> {
        self.placed_idle_desktops_().await
    }
    async fn reconcile_desktops(
        &self,
        changes: &[(String, DesktopStatus, DesktopStatus, LoginStatus)],
    ) -> StoreResult<u64> {
        self.reconcile_desktops_(changes).await
    }
}

#[async_trait::async_trait]
impl super::Jobs for SqliteStore {
    async fn submit_create(
        &self,
        job: &NewJob,
        desktops: &[NewDesktop],
        users: &[UserRow],
    ) -> StoreResult<()> {
        self.submit_create_(job, desktops, users).await
    }
    async fn submit_batch(
        &self,
        job: &NewJob,
        op: Operation,
        force: bool,
        atomic: bool,
        desktop_ids: &[String],
    ) -> StoreResult<BatchOutcome> {
        self.submit_batch_(job, op, force, atomic, desktop_ids)
            .await
    }
    async fn retry_job(
        &self,
        project_id: &str,
        job_id: &str,
        now_ms: i64,
    ) -> StoreResult<RetryOutcome> {
        self.retry_job_(project_id, job_id, now_ms).await
    }
    async fn get_job(&self, project_id: &str, job_id: &str) -> StoreResult<Option<JobRow>> {
        self.get_job_(project_id, job_id).await
    }
    async fn list_sub_jobs(&self, filter: &SubJobFilter) -> StoreResult<(Vec<SubJobRow>, i64)> {
        self.list_sub_jobs_(filter).await
    }
}

#[async_trait::async_trait]
impl super::Queue for SqliteStore {
    async fn claim(
        &self,
        holder: &Holder,
        limit: i64,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<Vec<Claimed>> {
        self.claim_(holder, limit, now_ms, lease_until_ms).await
    }
    async fn complete(
        &self,
        holder: &Holder,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<usize> {
        self.complete_(holder, done, now_ms).await
    }
    async fn renew_leases(
        &self,
        holder: &Holder,
        sub_job_ids: &[String],
        lease_until_ms: i64,
    ) -> StoreResult<u64> {
        self.renew_leases_(holder, sub_job_ids, lease_until_ms)
            .await
    }
    async fn requeue_orphans(
        &self,
        holder: &Holder,
        now_ms: i64,
        scope: OrphanScope,
        max_attempts: i64,
        lease_until_ms: i64,
    ) -> StoreResult<(u64, Vec<Claimed>)> {
        self.requeue_orphans_(holder, now_ms, scope, max_attempts, lease_until_ms)
            .await
    }
    async fn next_lease_end(&self, holder: &Holder) -> StoreResult<Option<i64>> {
        self.next_lease_end_(holder).await
    }
    async fn next_due_ms(&self) -> StoreResult<Option<i64>> {
        self.next_due_ms_().await
    }
}

#[async_trait::async_trait]
impl super::SimState for SqliteStore {
    async fn put_sim_fault(&self, f: &SimFault) -> StoreResult<()> {
        self.put_sim_fault_(f).await
    }
    async fn clear_sim_fault(&self, desktop_id: &str) -> StoreResult<bool> {
        self.clear_sim_fault_(desktop_id).await
    }
    async fn get_sim_fault(&self, desktop_id: &str) -> StoreResult<Option<SimFault>> {
        self.get_sim_fault_(desktop_id).await
    }
    async fn take_sim_failure(
        &self,
        desktop_id: &str,
        op: &str,
    ) -> StoreResult<Option<(String, String)>> {
        self.take_sim_failure_(desktop_id, op).await
    }
    async fn any_sim_faults(&self) -> StoreResult<bool> {
        self.any_sim_faults_().await
    }
    async fn sim_applied(&self, op_id: &str) -> StoreResult<bool> {
        self.sim_applied_(op_id).await
    }
    async fn record_sim_applied(&self, a: &SimApplied) -> StoreResult<()> {
        self.record_sim_applied_(a).await
    }
    async fn list_sim_applied(
        &self,
        desktop_id: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<SimApplied>, i64)> {
        self.list_sim_applied_(desktop_id, offset, limit).await
    }
}

#[async_trait::async_trait]
impl super::Pools for SqliteStore {
    async fn create_pool(
        &self,
        pool: &PoolRow,
        members: &[PoolMember],
        job: &NewJob,
        desktops: &[NewDesktop],
    ) -> StoreResult<()> {
        self.create_pool_(pool, members, job, desktops).await
    }
    async fn get_pool(&self, project_id: &str, pool_id: &str) -> StoreResult<Option<PoolRow>> {
        self.get_pool_(project_id, pool_id).await
    }
    async fn pool_project(&self, pool_id: &str) -> StoreResult<Option<String>> {
        self.pool_project_(pool_id).await
    }
    async fn list_pools(
        &self,
        project_id: &str,
        filter: &PoolFilter,
    ) -> StoreResult<(Vec<PoolRow>, i64)> {
        self.list_pools_(project_id, filter).await
    }
    async fn update_pool(
        &self,
        project_id: &str,
        pool_id: &str,
        update: &PoolUpdate,
    ) -> StoreResult<bool> {
        self.update_pool_(project_id, pool_id, update).await
    }
    async fn delete_pool(&self, project_id: &str, pool_id: &str) -> StoreResult<PoolDeletion> {
        self.delete_pool_(project_id, pool_id).await
    }
    async fn change_pool_members(
        &self,
        pool_id: &str,
        add: &[PoolMember],
        remove: &[PoolMember],
    ) -> StoreResult<()> {
        self.change_pool_members_(pool_id, add, remove).await
    }
    async fn list_pool_members(
        &self,
        pool_id: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<PoolMember>, i64)> {
        self.list_pool_members_(pool_id, offset, limit).await
    }
    async fn submit_pool_action(
        &self,
        job: &NewJob,
        op: Operation,
        pool_id: &str,
    ) -> StoreResult<PoolActionOutcome> {
        self.submit_pool_action_(job, op, pool_id).await
    }
    async fn bind_pool_user(
        &self,
        pool_id: &str,
        user_name: &str,
    ) -> StoreResult<Option<DesktopRow>> {
        self.bind_pool_user_(pool_id, user_name).await
    }
    async fn unbind_expired(&self, now_ms: i64) -> StoreResult<u64> {
        self.unbind_expired_(now_ms).await
    }
    async fn autoscale_needs(&self) -> StoreResult<Vec<AutoscaleNeed>> {
        self.autoscale_needs_().await
    }
}

#[async_trait::async_trait]
impl super::Tokens for SqliteStore {
    async fn put_api_user(&self, u: &ApiUserRow) -> StoreResult<()> {
        self.put_api_user_(u).await
    }
    async fn get_api_user(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> StoreResult<Option<ApiUserRow>> {
        self.get_api_user_(project_id, user_name).await
    }
    async fn list_api_users(&self, project_id: Option<&str>) -> StoreResult<Vec<ApiUserRow>> {
        self.list_api_users_(project_id).await
    }
    async fn delete_api_user(&self, project_id: &str, user_name: &str) -> StoreResult<bool> {
        self.delete_api_user_(project_id, user_name).await
    }
    async fn insert_token(&self, t: &TokenRow) -> StoreResult<()> {
        self.insert_token_(t).await
    }
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        self.get_token_(token_hash).await
    }
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<bool> {
        self.revoke_token_(token_hash).await
    }
}

#[async_trait::async_trait]
impl super::Nodes for SqliteStore {
    async fn upsert_node(&self, n: &NodeRow) -> StoreResult<()> {
        self.upsert_node_(n).await
    }
    async fn list_nodes(&self) -> StoreResult<Vec<NodeRow>> {
        self.list_nodes_().await
    }
    async fn take_task_lease(
        &self,
        name: &str,
        holder: &Holder,
        now_ms: i64,
        until_ms: i64,
        at_start: bool,
    ) -> StoreResult<bool> {
        self.take_task_lease_(name, holder, now_ms, until_ms, at_start)
            .await
    }
}
