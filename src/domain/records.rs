//! The records deskplane keeps, as the store loads and writes them. Plain data:
//! the rules that read them are beside them in `domain`; wire shapes live in `wire`.

use super::desktop::{DesktopStatus, DesktopType, LoginStatus, TaskStatus};
use super::desktop::{Disk, Tag};
use super::ids::{ClaimId, DesktopId, JobId, PoolId, ProjectId, SubJobId, UserId};
use super::job::JobParams;
use super::job::{JobStatus, JobType, SubJobStatus};
use super::machine::Operation;

/// An AK/SK pair; the secret is sealed (encrypted) at rest.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    /// Access key id.
    pub access_key: String,
    /// The project it may act on.
    pub project_id: ProjectId,
    /// AES-GCM sealed secret key.
    pub secret_sealed: Vec<u8>,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_ms: i64,
}

/// A desktop user.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// User id (UUID).
    pub id: UserId,
    /// Owning project.
    pub project_id: ProjectId,
    /// Unique name in the project.
    pub user_name: String,
    /// E-mail.
    pub user_email: Option<String>,
    /// Phone.
    pub user_phone: Option<String>,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_ms: i64,
    /// Desktops assigned to the user (filled by list/get).
    pub total_desktops: i64,
}

/// Filters of `GET /users`.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Substring of the name.
    pub user_name: Option<String>,
    /// Paging.
    pub offset: i64,
    /// Paging.
    pub limit: i64,
}

/// A stored desktop.
#[derive(Debug, Clone)]
pub struct DesktopRow {
    /// Desktop id.
    pub id: DesktopId,
    /// Owning project.
    pub project_id: ProjectId,
    /// `computer_name`.
    pub computer_name: String,
    /// `status`.
    pub status: DesktopStatus,
    /// `task_status`.
    pub task_status: Option<TaskStatus>,
    /// `login_status`.
    pub login_status: LoginStatus,
    /// The sub-job holding the desktop.
    pub busy_sub_job: Option<SubJobId>,
    /// Assigned user.
    pub user_name: Option<String>,
    /// Assigned user's e-mail.
    pub user_email: Option<String>,
    /// DEDICATED or POOLED.
    pub desktop_type: DesktopType,
    /// Pool, for pooled desktops.
    pub pool_id: Option<PoolId>,
    /// Product (flavor).
    pub product_id: String,
    /// Image of the system disk.
    pub image_id: String,
    /// gold / private / market.
    pub image_type: String,
    /// Availability zone.
    pub availability_zone: String,
    /// IPv4 address.
    pub ip_address: String,
    /// Compute host (libvirt URI), if placed.
    pub host: Option<String>,
    /// JSON of the SDK's Volume.
    pub root_volume: Disk,
    /// JSON array of the SDK's Volume.
    pub data_volumes: Vec<Disk>,
    /// JSON array of the SDK's Tag.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created_ms: i64,
}

/// A desktop to create.
#[derive(Debug, Clone)]
pub struct NewDesktop {
    /// Fields as stored; status/task/login are set by the store (BUILD, spawning).
    pub row: DesktopRow,
}

/// Filters and paging of `GET /desktops` and `/desktops/detail`.
#[derive(Debug, Clone, Default)]
pub struct DesktopFilter {
    /// Exact status.
    pub status: Option<String>,
    /// User name (substring).
    pub user_name: Option<String>,
    /// Computer name (substring).
    pub computer_name: Option<String>,
    /// Any of these user names (exact).
    pub user_names: Vec<String>,
    /// Any of these computer names (exact).
    pub computer_names: Vec<String>,
    /// Exact IP.
    pub desktop_ip: Option<String>,
    /// Any of these ids.
    pub desktop_ids: Vec<String>,
    /// Any of these pools.
    pub pool_ids: Vec<String>,
    /// Exact type.
    pub desktop_type: Option<String>,
    /// Exact image.
    pub image_id: Option<String>,
    /// Every `key=value` must be among the tags.
    pub tags: Vec<(String, String)>,
    /// Exact availability zone.
    pub availability_zone: Option<String>,
    /// `created` or `computer_name`.
    pub sort_field: Option<String>,
    /// Descending order.
    pub sort_desc: bool,
    /// Paging.
    pub offset: i64,
    /// Paging.
    pub limit: i64,
}

/// A job about to be written.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Job id.
    pub id: JobId,
    /// Owning project.
    pub project_id: ProjectId,
    /// `job_type`.
    pub job_type: JobType,
    /// Operation parameters as JSON (image for rebuild, message, delete options ...).
    pub params: JobParams,
    /// Who asked (access key or token user).
    pub requested_by: String,
    /// Pool the job acts on, if any.
    pub pool_id: Option<PoolId>,
    /// Sub-jobs do not start before this time (rebuild `delay_time`).
    pub run_after_ms: i64,
    /// Submission time.
    pub now_ms: i64,
}

/// Why a desktop of a batch got no sub-job (decided by `domain::admission`).
pub type BatchRefusal = crate::domain::admission::Rejection;

/// One refused desktop.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Requested id.
    pub desktop_id: String,
    /// Its name, when known and visible.
    pub desktop_name: Option<String>,
    /// Its status, when known and visible.
    pub status: Option<DesktopStatus>,
    /// Why.
    pub reason: BatchRefusal,
}

/// The result of `submit_batch`.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Desktops that got a sub-job, as they were before it.
    pub accepted: Vec<DesktopRow>,
    /// Desktops that did not.
    pub refused: Vec<Refused>,
    /// Sub-jobs cancelled by a forced delete (to stop their running work).
    pub cancelled_sub_jobs: Vec<SubJobId>,
}

/// The result of `retry_job`.
#[derive(Debug, Clone)]
pub enum RetryOutcome {
    /// No such job in the project.
    NotFound,
    /// The job is still running.
    NotFinished,
    /// Failed sub-jobs re-queued, and those that could not be (with the refusal).
    Retried {
        /// Re-queued sub-jobs.
        requeued: usize,
        /// Failed sub-jobs whose desktop refused the operation now.
        refused: Vec<Refused>,
    },
}

/// A claimed sub-job with what the worker needs to run it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Sub-job id.
    pub sub_job_id: SubJobId,
    /// Job id.
    pub job_id: JobId,
    /// Project.
    pub project_id: ProjectId,
    /// The desktop it acts on.
    pub desktop_id: DesktopId,
    /// Operation.
    pub operation: Operation,
    /// Desktop status before the operation began.
    pub prev_status: DesktopStatus,
    /// Login status before the operation began.
    pub prev_login: LoginStatus,
    /// Job parameters (JSON).
    pub params: JobParams,
    /// Attempt number (1 = first).
    pub attempt: i64,
    /// This claim of it; its completion must name it.
    pub claim: ClaimId,
    /// The desktop, if it still exists and this sub-job still holds it.
    pub desktop: Option<DesktopRow>,
}

/// A stored job with its counters.
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Job id.
    pub id: JobId,
    /// Project.
    pub project_id: ProjectId,
    /// `job_type`.
    pub job_type: JobType,
    /// `status`.
    pub status: JobStatus,
    /// Parameters.
    pub params: JobParams,
    /// Who asked.
    pub requested_by: String,
    /// Sub-jobs in all.
    pub total: i64,
    /// Sub-jobs succeeded.
    pub succeeded: i64,
    /// Sub-jobs failed.
    pub failed: i64,
    /// `job_error_code`.
    pub error_code: Option<String>,
    /// `fail_reason`.
    pub fail_reason: Option<String>,
    /// Creation.
    pub created_ms: i64,
    /// First sub-job start.
    pub begin_ms: Option<i64>,
    /// Last sub-job end.
    pub end_ms: Option<i64>,
}

/// A stored sub-job.
#[derive(Debug, Clone)]
pub struct SubJobRow {
    /// Sub-job id.
    pub id: SubJobId,
    /// Job id.
    pub job_id: JobId,
    /// Project.
    pub project_id: ProjectId,
    /// `job_type`.
    pub job_type: JobType,
    /// Desktop.
    pub desktop_id: DesktopId,
    /// Desktop name at submission.
    pub desktop_name: String,
    /// User at submission.
    pub user_name: Option<String>,
    /// Product at submission.
    pub product_id: Option<String>,
    /// IP at submission.
    pub ip_address: Option<String>,
    /// Operation.
    pub operation: Operation,
    /// Status.
    pub status: SubJobStatus,
    /// Attempt number.
    pub attempt: i64,
    /// 0..=100.
    pub progress: i64,
    /// Node that ran it.
    pub host: Option<String>,
    /// `error_code` when FAILED.
    pub error_code: Option<String>,
    /// `fail_reason` when FAILED.
    pub fail_reason: Option<String>,
    /// Who asked (from the job).
    pub requested_by: String,
    /// Creation.
    pub created_ms: i64,
    /// Start.
    pub begin_ms: Option<i64>,
    /// End.
    pub end_ms: Option<i64>,
}

/// Filters of `GET /workspace-sub-jobs` and action history.
#[derive(Debug, Clone, Default)]
pub struct SubJobFilter {
    /// Project (always set by the API).
    pub project_id: ProjectId,
    /// One job.
    pub job_id: Option<String>,
    /// One type.
    pub job_type: Option<String>,
    /// One status.
    pub status: Option<String>,
    /// One desktop.
    pub desktop_id: Option<String>,
    /// One pool's jobs.
    pub pool_id: Option<String>,
    /// Newest first (action history) instead of submission order.
    pub newest_first: bool,
    /// Paging.
    pub offset: i64,
    /// Paging.
    pub limit: i64,
}

/// Filters of `GET /users/notification-records`.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// One desktop.
    pub desktop_id: Option<String>,
    /// Desktop name (substring).
    pub desktop_name: Option<String>,
    /// User name (substring).
    pub user_name: Option<String>,
    /// EMAIL, MESSAGE.
    pub kind: Option<String>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
    /// Paging.
    pub offset: i64,
    /// Paging.
    pub limit: i64,
}

/// A notification sent (or that would be sent) to a desktop's user.
#[derive(Debug, Clone)]
pub struct NotificationRow {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: ProjectId,
    /// Desktop concerned.
    pub desktop_id: DesktopId,
    /// Its name.
    pub desktop_name: String,
    /// Recipient.
    pub user_name: Option<String>,
    /// Recipient's e-mail.
    pub user_email: Option<String>,
    /// `email`, `rebuild-warning`, `logoff-message` ...
    pub kind: String,
    /// Text.
    pub message: String,
    /// The job that caused it.
    pub job_id: Option<JobId>,
    /// When.
    pub created_ms: i64,
}

/// A simulated fault on one desktop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimFault {
    /// Desktop id.
    pub desktop_id: DesktopId,
    /// How many of the next operations fail.
    pub fail_remaining: i64,
    /// Which operations (wire names, comma separated); `None` = all.
    pub fail_ops: Option<String>,
    /// Error code of the failures.
    pub error_code: Option<String>,
    /// Error message of the failures.
    pub error_msg: Option<String>,
    /// Whether the guest ignores SOFT stop/reboot.
    pub ignore_soft: bool,
}

/// An operation the simulator carried out (recorded when `[sim] record_applied` is on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApplied {
    /// The sub-job it carried out.
    pub op_id: SubJobId,
    /// The desktop.
    pub desktop_id: DesktopId,
    /// Its wire name (`os-stop` ...).
    pub operation: String,
    /// The node whose simulator did it.
    pub node: String,
    /// When it completed.
    pub at_ms: i64,
}

/// A user of the API itself (password auth for tokens), not a desktop user.
#[derive(Debug, Clone)]
pub struct ApiUserRow {
    /// Project the user may act on.
    pub project_id: ProjectId,
    /// Name.
    pub user_name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Creation.
    pub created_ms: i64,
}

/// An issued token (only its hash is stored).
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Project it is scoped to.
    pub project_id: ProjectId,
    /// Who it was issued to.
    pub user_name: String,
    /// Issued.
    pub created_ms: i64,
    /// Expires.
    pub expires_ms: i64,
    /// Revoked.
    pub revoked: bool,
}

/// Who holds a lease: a node, in one process incarnation. Leases are fenced by
/// the incarnation (a fresh id per start), so a restarted node never renews or
/// acknowledges the work of the process it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The configured node id (shown as the sub-jobs' `host`).
    pub node: String,
    /// This process's incarnation.
    pub incarnation: String,
}

impl Holder {
    /// `node` in a fresh incarnation.
    #[must_use]
    pub fn fresh(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            incarnation: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// A deskplane node sharing the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Node id (the sub-jobs' `host`).
    pub id: String,
    /// The incarnation of its current (or last) process.
    pub incarnation: String,
    /// Its HTTP address.
    pub address: String,
    /// When it started.
    pub started_ms: i64,
    /// Its last heartbeat.
    pub heartbeat_ms: i64,
}
