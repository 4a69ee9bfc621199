//! Jobs: show a job with its sub-jobs, list sub-jobs, retry a finished job.

use super::error::{ApiError, ApiResult};
use super::extract::{Id, Json, PathId as _, QueryParams};
use super::present;
use super::state::{AppState, Caller};
use super::submit;
use crate::domain::error_code::Code;
use crate::domain::ids::JobId;
use crate::domain::job::{JobType, SubJobStatus};
use crate::store::{RetryOutcome, SubJobFilter};
use crate::wire::batch::JobIdResponse;
use crate::wire::error_body::ErrorBody;
use crate::wire::jobs::{JobActionsReq, ListItaSubJobsResponse, ShowJobResponse};
use crate::wire::params::{JobPath, ListSubJobsQuery, Page, ProjectPath};
use axum::Extension;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show))
        .routes(routes!(actions))
        .routes(routes!(list_sub_jobs))
}

/// Show a job with its first page of sub-jobs.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/workspace-jobs/{job_id}",
    tag = "jobs",
    operation_id = "ShowJob",
    params(ProjectPath, JobPath),
    responses(
        (status = 200, description = "The job.", body = ShowJobResponse),
        (status = 404, description = "The project or the job does not exist.", body = ErrorBody),
    ),
)]
async fn show(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(job_id): Id<JobId>,
) -> ApiResult<axum::Json<ShowJobResponse>> {
    let job = st
        .store
        .get_job(&caller.project_id, &job_id)
        .await?
        .ok_or_else(|| JobId::not_found(&job_id.to_string()))?;
    // The first page of sub-jobs; `sub_jobs_total` tells when there are more
    // (page through them with GET /workspace-sub-jobs?job_id=).
    let f = SubJobFilter {
        project_id: caller.project_id.clone(),
        job_id: Some(job_id.to_string()),
        limit: st.limits.max_page,
        ..SubJobFilter::default()
    };
    let (subs, _) = st.store.list_sub_jobs(&f).await?;
    Ok(axum::Json(present::job(&job, &subs)))
}

/// List sub-jobs.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/workspace-sub-jobs",
    tag = "jobs",
    operation_id = "ListItaSubJobs",
    params(ProjectPath, ListSubJobsQuery, Page),
    responses((status = 200, description = "A page of sub-jobs (default 1000).", body = ListItaSubJobsResponse)),
)]
async fn list_sub_jobs(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListItaSubJobsResponse>> {
    let f = SubJobFilter {
        project_id: caller.project_id.clone(),
        job_id: q.get("job_id").map(str::to_owned),
        job_type: q.one_of("job_type", JobType::NAMES)?,
        status: q.one_of("status", SubJobStatus::NAMES)?,
        desktop_id: q.get("desktop_id").map(str::to_owned),
        pool_id: q.get("desktop_pool_id").map(str::to_owned),
        newest_first: false,
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", 1000, 0, st.limits.max_page)?,
    };
    let (rows, total) = st.store.list_sub_jobs(&f).await?;
    Ok(axum::Json(ListItaSubJobsResponse {
        total_count: total,
        jobs: rows.iter().map(present::sub_job).collect(),
    }))
}

/// Retry the failed sub-jobs of a finished job.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/workspace-jobs/{job_id}/actions",
    tag = "jobs",
    operation_id = "JobActions",
    params(ProjectPath, JobPath),
    request_body = JobActionsReq,
    responses(
        (status = 200, description = "The job, requeued.", body = JobIdResponse),
        (status = 403, description = "The job's desktops are another project's.", body = ErrorBody),
        (status = 404, description = "The project or the job does not exist.", body = ErrorBody),
        (status = 409, description = "The job has not finished, has nothing to retry, or its desktops refuse.", body = ErrorBody),
    ),
)]
async fn actions(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(job_id): Id<JobId>,
    Json(req): Json<JobActionsReq>,
) -> ApiResult<axum::Json<JobIdResponse>> {
    match req.op_type.as_deref() {
        Some("retry") => {}
        None => return Err(ApiError::invalid("Missing parameter op_type.")),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid op_type {other:?}; allowed: retry."
            )));
        }
    }
    match st
        .store
        .retry_job(&caller.project_id, &job_id, crate::domain::time::now_ms())
        .await?
    {
        RetryOutcome::NotFound => Err(JobId::not_found(&job_id.to_string())),
        RetryOutcome::NotFinished => Err(ApiError::new(
            Code::JobNotFinished,
            format!("Job {job_id} has not finished; retry it once it has."),
        )),
        RetryOutcome::Retried {
            requeued: 0,
            refused,
        } if refused.is_empty() => Err(ApiError::new(
            Code::Conflict,
            format!("Job {job_id} has no failed sub-jobs to retry."),
        )),
        RetryOutcome::Retried {
            requeued: 0,
            refused,
        } => Err(submit::refused_whole(&refused, "retry")),
        RetryOutcome::Retried { .. } => {
            st.engine.wake();
            Ok(axum::Json(JobIdResponse {
                job_id: job_id.to_string(),
            }))
        }
    }
}
