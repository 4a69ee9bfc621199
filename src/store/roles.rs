//! The store's interface, one trait per role. Callers hold a `dyn Store`, which
//! is every role at once; each role is implemented where its code lives (written
//! once over [`super::sql::Db`], or in a backend's own files where it differs).

use super::{
    ApiUserRow, AutoscaleNeed, BatchOutcome, Claimed, Completion, CredentialRow, DesktopFilter,
    DesktopRow, Holder, JobRow, NewDesktop, NewJob, NodeRow, NotificationFilter, NotificationRow,
    OrphanScope, PoolActionOutcome, PoolDeletion, PoolFilter, PoolMember, PoolRow, PoolUpdate,
    RetryOutcome, SimApplied, SimFault, StoreResult, SubJobFilter, SubJobRow, TokenRow, UserFilter,
    UserRow,
};
use crate::domain::admission::Scope;
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::ids::{DesktopId, JobId, PoolId, ProjectId, SubJobId, UserId};
use crate::domain::machine::Operation;
use async_trait::async_trait;

/// Everything the API and the job engine need from persistence.
pub trait Store:
    Lifecycle
    + Accounts
    + Users
    + Desktops
    + Jobs
    + Queue
    + SimState
    + Pools
    + Tokens
    + Nodes
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Lifecycle
        + Accounts
        + Users
        + Desktops
        + Jobs
        + Queue
        + SimState
        + Pools
        + Tokens
        + Nodes
        + Send
        + Sync
        + 'static
{
}

/// The connection to the database itself.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Whether the database answers a read.
    async fn ping(&self) -> StoreResult<()>;
    /// Stops background work and closes connections (waiting for those in use).
    async fn close(&self);
}

/// Projects and the AK/SK credentials that act on them.
#[async_trait]
pub trait Accounts: Send + Sync {
    // ---- projects and credentials ----
    /// Number of projects (zero on a fresh database).
    async fn count_projects(&self) -> StoreResult<i64>;
    /// Create a project if it does not exist.
    async fn ensure_project(&self, id: &ProjectId, name: &str, now_ms: i64) -> StoreResult<()>;
    /// Whether a project exists.
    async fn project_exists(&self, id: &ProjectId) -> StoreResult<bool>;
    /// Store a new credential.
    async fn insert_credential(&self, c: &CredentialRow) -> StoreResult<()>;
    /// One credential by access key.
    async fn get_credential(&self, access_key: &str) -> StoreResult<Option<CredentialRow>>;
    /// Credentials, optionally of one project.
    async fn list_credentials(
        &self,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<CredentialRow>>;
    /// Remove a credential; `false` if it did not exist.
    async fn delete_credential(&self, access_key: &str) -> StoreResult<bool>;
}

/// Desktop users (who a desktop belongs to) and the notifications sent to them.
#[async_trait]
pub trait Users: Send + Sync {
    // ---- desktop users ----
    /// Create a user; `Conflict` if the name is taken in the project.
    async fn insert_user(&self, u: &UserRow) -> StoreResult<()>;
    /// One user of a project.
    async fn get_user(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
    ) -> StoreResult<Option<UserRow>>;
    /// Users of a project matching `filter`, with the total before paging.
    async fn list_users(
        &self,
        project_id: &ProjectId,
        filter: &UserFilter,
    ) -> StoreResult<(Vec<UserRow>, i64)>;
    /// Delete a user; `false` if absent.
    async fn delete_user(&self, project_id: &ProjectId, user_id: &UserId) -> StoreResult<bool>;
    /// Desktops assigned to a user name.
    async fn count_user_desktops(
        &self,
        project_id: &ProjectId,
        user_name: &str,
    ) -> StoreResult<i64>;

    // ---- notifications ----
    /// Record notifications sent (or that would be sent) to users.
    async fn insert_notifications(&self, n: &[NotificationRow]) -> StoreResult<()>;
    /// Notifications of a project matching `filter`, newest first unless asked otherwise.
    async fn list_notifications(
        &self,
        project_id: &ProjectId,
        filter: &NotificationFilter,
    ) -> StoreResult<(Vec<NotificationRow>, i64)>;
}

/// Desktops: reads, simulated sessions, and reconciliation with the compute driver.
#[async_trait]
pub trait Desktops: Send + Sync {
    // ---- desktops ----
    /// Desktops by id in any project (callers check ownership to tell 403 from 404).
    async fn get_desktops(&self, ids: &[DesktopId]) -> StoreResult<Vec<DesktopRow>>;
    /// One desktop of a project.
    async fn get_desktop(
        &self,
        project_id: &ProjectId,
        id: &DesktopId,
    ) -> StoreResult<Option<DesktopRow>>;
    /// Desktops of a project matching `filter`, with the total before paging.
    async fn list_desktops(
        &self,
        project_id: &ProjectId,
        filter: &DesktopFilter,
    ) -> StoreResult<(Vec<DesktopRow>, i64)>;
    /// Change a desktop's login status (simulated sessions); only on an idle ACTIVE
    /// desktop. `now_ms` stamps a disconnection (pool bindings expire from it).
    async fn set_login_status(
        &self,
        project_id: &ProjectId,
        id: &DesktopId,
        login: LoginStatus,
        now_ms: i64,
    ) -> StoreResult<bool>;

    // ---- reconciliation with the compute driver ----
    /// Idle desktops placed on a host: (id, host, status), for reconciliation.
    async fn placed_idle_desktops(&self) -> StoreResult<Vec<(DesktopId, String, DesktopStatus)>>;
    /// Apply observed states: each `(id, expected_status, status, login)` only
    /// if the desktop is still idle and still in `expected_status`.
    async fn reconcile_desktops(
        &self,
        changes: &[(DesktopId, DesktopStatus, DesktopStatus, LoginStatus)],
    ) -> StoreResult<u64>;
}

/// Submitting jobs (each request one transaction) and reading them back.
#[async_trait]
pub trait Jobs: Send + Sync {
    // ---- jobs: submission ----
    /// Create a job that creates desktops: missing users, desktops, job and
    /// sub-jobs in one transaction.
    async fn submit_create(
        &self,
        job: &NewJob,
        desktops: &[NewDesktop],
        users: &[UserRow],
    ) -> StoreResult<()>;
    /// Create a job that applies `op` to existing desktops. Each desktop is checked
    /// with the state machine and locked in the same transaction; refused ones are
    /// returned and get no sub-job. No job is written when none is accepted, nor
    /// when the `scope` is whole and any is refused, nor for `Scope::Check`.
    async fn submit_batch(
        &self,
        job: &NewJob,
        op: Operation,
        force: bool,
        scope: Scope,
        desktop_ids: &[DesktopId],
    ) -> StoreResult<BatchOutcome>;
    /// Re-run the FAILED sub-jobs of a finished job as a new attempt.
    async fn retry_job(
        &self,
        project_id: &ProjectId,
        job_id: &JobId,
        now_ms: i64,
    ) -> StoreResult<RetryOutcome>;

    // ---- jobs: reading ----
    /// One job of a project.
    async fn get_job(&self, project_id: &ProjectId, job_id: &JobId) -> StoreResult<Option<JobRow>>;
    /// Sub-jobs matching `filter`, with the total before paging.
    async fn list_sub_jobs(&self, filter: &SubJobFilter) -> StoreResult<(Vec<SubJobRow>, i64)>;
}

/// The job queue of the workers: claims with leases, completions fenced by the lease holder, recovery.
#[async_trait]
pub trait Queue: Send + Sync {
    // ---- jobs: workers ----
    /// Claim up to `limit` runnable sub-jobs for `holder` with a lease until `lease_until_ms`.
    async fn claim(
        &self,
        holder: &Holder,
        limit: i64,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> StoreResult<Vec<Claimed>>;
    /// Record finished sub-jobs (fenced by the holder's incarnation) and settle their desktops and jobs.
    async fn complete(
        &self,
        holder: &Holder,
        done: &[Completion],
        now_ms: i64,
    ) -> StoreResult<usize>;
    /// Extend the leases of the given sub-jobs, those `holder` still holds.
    async fn renew_leases(
        &self,
        holder: &Holder,
        sub_job_ids: &[SubJobId],
        lease_until_ms: i64,
    ) -> StoreResult<u64>;
    /// Put RUNNING sub-jobs that lost their worker (lease expired, or held by a
    /// process `scope` declares dead) back in the queue with attempt + 1; those
    /// past `max_attempts` are claimed by `holder` and returned so the caller
    /// fails them cleanly.
    async fn requeue_orphans(
        &self,
        holder: &Holder,
        now_ms: i64,
        scope: OrphanScope,
        max_attempts: i64,
        lease_until_ms: i64,
    ) -> StoreResult<(u64, Vec<Claimed>)>;
    /// When the first lease held by another incarnation ends (the next moment an
    /// orphan can appear), if any sub-job is running elsewhere.
    async fn next_lease_end(&self, holder: &Holder) -> StoreResult<Option<i64>>;
    /// Whether any sub-job is WAITING and due (for workers deciding to sleep).
    async fn next_due_ms(&self) -> StoreResult<Option<i64>>;
}

/// The simulator's state, kept in the store so every node sees it.
#[async_trait]
pub trait SimState: Send + Sync {
    // ---- simulator state shared by every node ----
    /// Set or replace a desktop's injected fault.
    async fn put_sim_fault(&self, f: &SimFault) -> StoreResult<()>;
    /// Remove a desktop's injected fault.
    async fn clear_sim_fault(&self, desktop_id: &DesktopId) -> StoreResult<bool>;
    /// A desktop's injected fault, if any.
    async fn get_sim_fault(&self, desktop_id: &DesktopId) -> StoreResult<Option<SimFault>>;
    /// Consume one injected failure for `op` if one is armed: `(code, message)`.
    async fn take_sim_failure(
        &self,
        desktop_id: &DesktopId,
        op: &str,
    ) -> StoreResult<Option<(String, String)>>;
    /// Whether any fault is injected at all (lets the simulator skip lookups).
    async fn any_sim_faults(&self) -> StoreResult<bool>;
    /// Whether the simulator already carried out sub-job `op_id` (it is being
    /// re-run after its worker died).
    async fn sim_applied(&self, op_id: &SubJobId) -> StoreResult<bool>;
    /// Record that the simulator carried out an operation.
    async fn record_sim_applied(&self, a: &SimApplied) -> StoreResult<()>;
    /// What the simulator carried out, oldest first (of one desktop, if given),
    /// with the total before paging.
    async fn list_sim_applied(
        &self,
        desktop_id: Option<&DesktopId>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<SimApplied>, i64)>;
}

/// Desktop pools, their members, their actions, bindings and autoscale.
#[async_trait]
pub trait Pools: Send + Sync {
    // ---- desktop pools ----
    /// Create a pool, its authorized members and its desktops (one createDesktopPool job), atomically;
    /// `Conflict` if the name is taken.
    async fn create_pool(
        &self,
        pool: &PoolRow,
        members: &[PoolMember],
        job: &NewJob,
        desktops: &[NewDesktop],
    ) -> StoreResult<()>;
    /// One pool of a project, with counts.
    async fn get_pool(
        &self,
        project_id: &ProjectId,
        pool_id: &PoolId,
    ) -> StoreResult<Option<PoolRow>>;
    /// The project of a pool, in any project (to tell 403 from 404).
    async fn pool_project(&self, pool_id: &PoolId) -> StoreResult<Option<ProjectId>>;
    /// Pools of a project, with counts and the total before paging.
    async fn list_pools(
        &self,
        project_id: &ProjectId,
        filter: &PoolFilter,
    ) -> StoreResult<(Vec<PoolRow>, i64)>;
    /// Change a pool; `false` if absent, `Conflict` if the new name is taken.
    async fn update_pool(
        &self,
        project_id: &ProjectId,
        pool_id: &PoolId,
        update: &PoolUpdate,
    ) -> StoreResult<bool>;
    /// Delete an empty pool.
    async fn delete_pool(
        &self,
        project_id: &ProjectId,
        pool_id: &PoolId,
    ) -> StoreResult<PoolDeletion>;
    /// Add and remove authorized members.
    async fn change_pool_members(
        &self,
        pool_id: &PoolId,
        add: &[PoolMember],
        remove: &[PoolMember],
    ) -> StoreResult<()>;
    /// Authorized members, with the total before paging.
    async fn list_pool_members(
        &self,
        pool_id: &PoolId,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<PoolMember>, i64)>;
    /// Apply `op` to every desktop of the pool as one job: a sub-job per desktop it
    /// applies to, a FAILED sub-job (with the refusal) per desktop it does not.
    /// Nothing is written when the pool has no desktops.
    async fn submit_pool_action(
        &self,
        job: &NewJob,
        op: Operation,
        pool_id: &PoolId,
    ) -> StoreResult<PoolActionOutcome>;
    /// Bind `user_name` to a desktop of the pool (their existing one, else a free idle
    /// ACTIVE one) and mark it CONNECTED; `None` when no desktop is free.
    async fn bind_pool_user(
        &self,
        pool_id: &PoolId,
        user_name: &str,
    ) -> StoreResult<Option<DesktopRow>>;
    /// Unbind users of DYNAMIC pools disconnected for longer than the pool's retention.
    async fn unbind_expired(&self, now_ms: i64) -> StoreResult<u64>;
    /// Pools whose autoscale policy asks for more idle desktops, and how many to create.
    async fn autoscale_needs(&self) -> StoreResult<Vec<AutoscaleNeed>>;
}

/// API users (password auth) and the tokens issued to them.
#[async_trait]
pub trait Tokens: Send + Sync {
    // ---- API users and tokens ----
    /// Create or replace an API user's password.
    async fn put_api_user(&self, u: &ApiUserRow) -> StoreResult<()>;
    /// One API user.
    async fn get_api_user(
        &self,
        project_id: &ProjectId,
        user_name: &str,
    ) -> StoreResult<Option<ApiUserRow>>;
    /// API users, optionally of one project.
    async fn list_api_users(&self, project_id: Option<&ProjectId>) -> StoreResult<Vec<ApiUserRow>>;
    /// Delete an API user and revoke their tokens; `false` if absent.
    async fn delete_api_user(&self, project_id: &ProjectId, user_name: &str) -> StoreResult<bool>;
    /// Store an issued token.
    async fn insert_token(&self, t: &TokenRow) -> StoreResult<()>;
    /// A token by hash.
    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>>;
    /// Revoke a token; `false` if absent.
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<bool>;
}

/// The nodes sharing the store and the cluster-wide task leases.
#[async_trait]
pub trait Nodes: Send + Sync {
    // ---- nodes ----
    /// Register a node or record its heartbeat.
    async fn upsert_node(&self, n: &NodeRow) -> StoreResult<()>;
    /// Every registered node, most recently seen first.
    async fn list_nodes(&self) -> StoreResult<Vec<NodeRow>>;
    /// Take or renew the cluster-wide lease `name` (one holder runs that task at
    /// a time) until `until_ms`; `true` when `holder` has it. A lease is taken
    /// over when it expired, or `at_start` when an earlier process of the same
    /// node held it.
    async fn take_task_lease(
        &self,
        name: &str,
        holder: &Holder,
        now_ms: i64,
        until_ms: i64,
        at_start: bool,
    ) -> StoreResult<bool>;
}
