//! Jobs and sub-jobs: ShowJobResponse, JobDetailInfo, ListItaSubJobsResponse, JobActionsReq.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// JobEntities — what a sub-job acts on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobEntities {
    /// Desktop id.
    pub desktop_id: String,
    /// Product id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Desktop name.
    pub desktop_name: String,
    /// IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// JobDetailInfo — one sub-job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobDetailInfo {
    /// Sub-job id.
    pub id: String,
    /// Job type.
    #[schema(schema_with = super::values::job_type_field)]
    pub job_type: String,
    /// What it acts on.
    pub entities: JobEntities,
    /// Creation time (`2020-04-10 06:45:14`).
    pub begin_time: String,
    /// End time, when finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// WAITING, RUNNING, SUCCESS, FAILED.
    #[schema(schema_with = super::values::sub_job_status_field)]
    pub status: String,
    /// Error code when FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Reason when FAILED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// Node that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Project.
    pub project_id: String,
    /// Parent job.
    pub job_id: String,
    /// Progress, 0..=100.
    pub process: i64,
    /// The desktop's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_user: Option<String>,
    /// Desktop id.
    pub entity: String,
    /// IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// ShowJobResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowJobResponse {
    /// Job id.
    pub id: String,
    /// Job type.
    #[schema(schema_with = super::values::job_type_field)]
    pub job_type: String,
    /// Creation time.
    pub begin_time: String,
    /// End time, when finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// WAITING, RUNNING, SUCCESS, FAIL.
    #[schema(schema_with = super::values::job_status_field)]
    pub status: String,
    /// First failed sub-job's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_error_code: Option<String>,
    /// `k of n sub-jobs failed; first: ...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// Sub-jobs in all.
    pub sub_jobs_total: i64,
    /// The sub-jobs.
    pub sub_jobs: Vec<JobDetailInfo>,
}

/// ListItaSubJobsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListItaSubJobsResponse {
    /// Matches before paging.
    pub total_count: i64,
    /// The page.
    pub jobs: Vec<JobDetailInfo>,
}

/// JobActionsReq — `POST /workspace-jobs/{job_id}/actions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct JobActionsReq {
    /// `retry`.
    #[schema(schema_with = super::values::job_action_field, required = true)]
    pub op_type: Option<String>,
}

/// DesktopAction — one entry of a desktop's action history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DesktopAction {
    /// `os-stop (SOFT)`, `rebuild`, ...
    pub action: String,
    /// Who asked, and the job.
    pub message: String,
    /// When it was requested.
    pub start_time: String,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// WAITING, RUNNING, SUCCESS, FAILED.
    #[schema(schema_with = super::values::sub_job_status_field)]
    pub result: String,
    /// Failure reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

/// ListDesktopActionsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListDesktopActionsResponse {
    /// Newest first.
    pub desktop_actions: Vec<DesktopAction>,
    /// Entries before paging.
    pub total_count: i64,
}
