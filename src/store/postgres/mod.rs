//! PostgreSQL store: what several deskplane nodes share. Semantics mirror the
//! SQLite store exactly; what differs is how atomicity is obtained when several
//! processes write at once:
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

mod decode;
mod desktops;
mod misc;
mod pools;
mod queue;
mod retry;
mod settle;
mod submit;
mod tokens;

use super::{ApiUserRow, Holder, NodeRow, NotificationFilter, OrphanScope, TokenRow};
use super::{
    AutoscaleNeed, PoolActionOutcome, PoolDeletion, PoolFilter, PoolMember, PoolRow, PoolUpdate,
};
use super::{
    BatchOutcome, Claimed, Completion, CredentialRow, DesktopFilter, DesktopRow, JobRow,
    NewDesktop, NewJob, NotificationRow, RetryOutcome, SimApplied, SimFault, StoreOptions,
    StoreResult, SubJobFilter, SubJobRow, UserFilter, UserRow,
};
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::machine::Operation;
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

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait::async_trait]
impl super::Store for PostgresStore {
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
    async fn get_job(&self, project_id: &str, job_id: &str) -> StoreResult<Option<JobRow>> {
        self.get_job_(project_id, job_id).await
    }
    async fn list_sub_jobs(&self, filter: &SubJobFilter) -> StoreResult<(Vec<SubJobRow>, i64)> {
        self.list_sub_jobs_(filter).await
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
