//! The four desktop batch operations of the seeds: action (000), rebuild (002),
//! logoff (003), batch-delete (004).
//!
//! Partial refusal: `action` queues what it can and lists the rest in
//! `failed_operation_list` (200); when nothing can be queued it answers one
//! error (404/403/409, reasons in `error_detail`). `rebuild` queues what it can
//! and names the rest in the 200 body's `error_code`/`error_msg` (the seed's
//! response has those fields). `logoff` and `batch-delete` have no place to
//! report per-desktop refusals, so they are all-or-nothing.

use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::state::{AppState, Caller};
use super::submit;
use crate::domain::admission::Scope;
use crate::domain::desktop::{DesktopActionType, PowerMode};
use crate::domain::error_code::Code;
use crate::domain::ids::JobId;
use crate::domain::job::JobType;
use crate::domain::machine::Operation;
use crate::domain::time::now_ms;
use crate::jobs::JobParams;
use crate::store::{BatchOutcome, DesktopRow, NotificationRow};
use crate::wire::batch::{
    BatchActionDesktopsReq, BatchRunDesktopsResponse, DeleteDesktopsReq, JobIdResponse,
    LogoffDesktopsReq, RebuildDesktopsReq, RebuildDesktopsResponse,
};
use crate::wire::error_body::ErrorBody;
use crate::wire::params::{IMAGE_TYPES, ProjectPath};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(action))
        .routes(routes!(rebuild))
        .routes(routes!(logoff))
        .routes(routes!(batch_delete))
}

/// The operation of an `op_type` + `type` pair.
pub fn operation(op_type: DesktopActionType, mode: PowerMode) -> Operation {
    match op_type {
        DesktopActionType::Start => Operation::Start,
        DesktopActionType::Stop => Operation::Stop(mode),
        DesktopActionType::Reboot => Operation::Reboot(mode),
        DesktopActionType::Hibernate => Operation::Hibernate,
    }
}

/// `type`: SOFT (default) or HARD.
pub fn power_mode(mode: Option<&str>) -> ApiResult<PowerMode> {
    mode.map_or(Ok(PowerMode::Soft), |m| {
        m.parse().map_err(|_| {
            ApiError::invalid(format!(
                "Invalid type {m:?}; allowed: {}.",
                PowerMode::allowed()
            ))
        })
    })
}

/// Start, stop, reboot or hibernate desktops (seed 000).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktops/action",
    tag = "batch",
    operation_id = "BatchActionDesktops",
    params(ProjectPath),
    request_body = BatchActionDesktopsReq,
    responses(
        (status = 200, description = "The job of the desktops queued; the others in `failed_operation_list`.", body = BatchRunDesktopsResponse),
        (status = 400, description = "A parameter is invalid, or too many ids.", body = ErrorBody),
        (status = 403, description = "None of the desktops is the caller's.", body = ErrorBody),
        (status = 404, description = "The project or none of the desktops exists.", body = ErrorBody),
        (status = 409, description = "The operation applies to none of the desktops (reasons in `error_detail`).", body = ErrorBody),
    ),
)]
async fn action(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<BatchActionDesktopsReq>,
) -> ApiResult<axum::Json<BatchRunDesktopsResponse>> {
    let op_type = req
        .op_type
        .as_deref()
        .ok_or_else(|| ApiError::invalid("Missing parameter op_type."))?;
    let op_type: DesktopActionType = op_type.parse().map_err(|_| {
        ApiError::invalid(format!(
            "Invalid op_type {op_type:?}; allowed: {}.",
            DesktopActionType::allowed()
        ))
    })?;
    let op = operation(op_type, power_mode(req.mode.as_deref())?);
    let ids = submit::desktop_ids(&st, req.desktop_ids)?;
    let job = submit::new_job(
        &caller,
        JobType::OperateDesktops,
        &JobParams::default(),
        None,
    );
    let out = submit::batch(&st, &job, op, false, Scope::Partial, &ids).await?;
    if out.accepted.is_empty() {
        return Err(submit::refused_whole(&out.refused, op_type.as_str()));
    }
    st.engine.wake();
    let failed_operation_list = out
        .refused
        .iter()
        .map(|r| submit::failed_entry(r, op_type.as_str()))
        .collect();
    Ok(axum::Json(BatchRunDesktopsResponse {
        job_id: job.id.to_string(),
        failed_operation_list,
    }))
}

/// Rebuild desktops on an image (seed 002).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktops/rebuild",
    tag = "batch",
    operation_id = "BatchRebuildDesktopsV2",
    params(ProjectPath),
    request_body = RebuildDesktopsReq,
    responses(
        (status = 200, description = "The job; desktops not rebuilt are named in `error_msg`.", body = RebuildDesktopsResponse),
        (status = 400, description = "A parameter is invalid, or the image is not in the catalog.", body = ErrorBody),
        (status = 403, description = "None of the desktops is the caller's.", body = ErrorBody),
        (status = 404, description = "The project or none of the desktops exists.", body = ErrorBody),
        (status = 409, description = "The rebuild applies to none of the desktops.", body = ErrorBody),
    ),
)]
async fn rebuild(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(mut req): Json<RebuildDesktopsReq>,
) -> ApiResult<Response> {
    let ids = submit::desktop_ids(&st, req.desktop_ids.take())?;
    let params = rebuild_params(&st, req)?;
    let job = submit::new_job(&caller, JobType::RebuildDesktops, &params, None);
    let out = submit::batch(&st, &job, Operation::Rebuild, false, Scope::Partial, &ids).await?;
    if out.accepted.is_empty() {
        return Err(submit::refused_whole(&out.refused, "rebuild"));
    }
    st.engine.wake();
    let text = rebuild_notice(params.message.as_deref(), params.delay_time);
    if !text.is_empty() {
        notify(&st, &caller, &job.id, &out, "MESSAGE", &text, |d| {
            d.user_name.is_some()
        })
        .await?;
    }
    let (error_code, error_msg) = match out.refused.first() {
        None => (None, None),
        Some(first) => {
            let (code, _) = submit::refusal(first, "rebuild");
            let reasons: Vec<String> = out
                .refused
                .iter()
                .map(|r| submit::refusal(r, "rebuild").1)
                .collect();
            let msg = format!(
                "{} desktops not rebuilt: {}",
                reasons.len(),
                reasons.join(" ")
            );
            (Some(code.wire().to_owned()), Some(msg))
        }
    };
    Ok(axum::Json(RebuildDesktopsResponse {
        job_id: job.id.to_string(),
        error_code,
        error_msg,
    })
    .into_response())
}

/// The parameters of a rebuild request, checked (the image against the catalog).
fn rebuild_params(st: &AppState, req: RebuildDesktopsReq) -> ApiResult<JobParams> {
    let image_type = req
        .image_type
        .ok_or_else(|| ApiError::invalid("Missing parameter image_type."))?;
    if !IMAGE_TYPES.contains(&image_type.as_str()) {
        return Err(ApiError::invalid(format!(
            "Invalid image_type {image_type:?}; allowed: gold, private, market."
        )));
    }
    let image_id = req
        .image_id
        .ok_or_else(|| ApiError::invalid("Missing parameter image_id."))?;
    let image = st.catalog.image(&image_id).ok_or_else(|| {
        ApiError::new(
            Code::ImageNotFound,
            format!("Image {image_id} does not exist in the catalog."),
        )
    })?;
    if image.image_type != image_type {
        return Err(ApiError::invalid(format!(
            "image_type {image_type} does not match image {image_id}, which is {}.",
            image.image_type
        )));
    }
    if let Some(os) = req
        .os_type
        .as_deref()
        .filter(|os| !os.eq_ignore_ascii_case(&image.os_type))
    {
        return Err(ApiError::invalid(format!(
            "os_type {os} does not match image {image_id}, which is {}.",
            image.os_type
        )));
    }
    let delay = match req.delay_time {
        None => None,
        Some(d) if (0..=1440).contains(&d) => u32::try_from(d).ok(),
        Some(d) => {
            return Err(ApiError::invalid(format!(
                "delay_time {d} must be 0 to 1440 minutes."
            )));
        }
    };
    if req
        .message
        .as_ref()
        .is_some_and(|m| m.chars().count() > 400)
    {
        return Err(ApiError::invalid("message must be at most 400 characters."));
    }
    check_encryption(req.encrypt_type.as_deref(), req.kms_id.is_some())?;
    Ok(JobParams {
        image_id: Some(image_id),
        image_type: Some(image_type),
        delay_time: delay,
        message: req.message,
        ..JobParams::default()
    })
}

fn check_encryption(encrypt_type: Option<&str>, has_kms_id: bool) -> ApiResult<()> {
    match encrypt_type {
        None | Some("KEEP" | "UNENCRYPTED") => Ok(()),
        Some("ENCRYPTED") if has_kms_id => Ok(()),
        Some("ENCRYPTED") => Err(ApiError::invalid(
            "kms_id is required with encrypt_type ENCRYPTED.",
        )),
        Some(e) => Err(ApiError::invalid(format!(
            "Invalid encrypt_type {e:?}; allowed: KEEP, UNENCRYPTED, ENCRYPTED."
        ))),
    }
}

/// What users of rebuilt desktops are told (nothing when empty).
fn rebuild_notice(message: Option<&str>, delay: Option<u32>) -> String {
    match (message, delay) {
        (Some(m), Some(d)) if d > 0 => format!("Your desktop will be rebuilt in {d} minutes: {m}"),
        (Some(m), _) => m.to_owned(),
        (None, Some(d)) if d > 0 => {
            format!("Your desktop will be rebuilt in {d} minutes; save your work.")
        }
        (None, _) => String::new(),
    }
}

/// Log the users off desktops, all or none (seed 003).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktops/logoff",
    tag = "batch",
    operation_id = "BatchLogoffDesktops",
    params(ProjectPath),
    request_body = LogoffDesktopsReq,
    responses(
        (status = 200, description = "Queued (an empty body)."),
        (status = 403, description = "A desktop is another project's.", body = ErrorBody),
        (status = 404, description = "The project or a desktop does not exist.", body = ErrorBody),
        (status = 409, description = "A desktop cannot be logged off now.", body = ErrorBody),
    ),
)]
async fn logoff(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<LogoffDesktopsReq>,
) -> ApiResult<StatusCode> {
    // An absent list never means "every desktop of the project".
    let ids = submit::desktop_ids(&st, req.desktop_ids)?;
    if req
        .message
        .as_ref()
        .is_some_and(|m| m.chars().count() > 400)
    {
        return Err(ApiError::invalid("message must be at most 400 characters."));
    }
    let params = JobParams {
        message: req.message.clone(),
        ..JobParams::default()
    };
    let job = submit::new_job(&caller, JobType::LogoffDesktops, &params, None);
    let out = submit::batch(&st, &job, Operation::Logoff, false, Scope::Whole, &ids).await?;
    if !out.refused.is_empty() {
        return Err(submit::refused_whole(&out.refused, "logoff"));
    }
    st.engine.wake();
    if let Some(m) = req.message.filter(|m| !m.is_empty()) {
        notify(&st, &caller, &job.id, &out, "MESSAGE", &m, |d| {
            d.login_status.has_session()
        })
        .await?;
    }
    Ok(StatusCode::OK)
}

/// Delete desktops, all or none (seed 004).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktops/batch-delete",
    tag = "batch",
    operation_id = "BatchDeleteDesktops",
    params(ProjectPath),
    request_body = DeleteDesktopsReq,
    responses(
        (status = 202, description = "The deleteDesktops job.", body = JobIdResponse),
        (status = 403, description = "A desktop is another project's.", body = ErrorBody),
        (status = 404, description = "The project or a desktop does not exist.", body = ErrorBody),
        (status = 409, description = "A desktop is under another operation (without is_force_delete).", body = ErrorBody),
    ),
)]
async fn batch_delete(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<DeleteDesktopsReq>,
) -> ApiResult<Response> {
    let ids = submit::desktop_ids(&st, req.desktop_ids)?;
    let params = JobParams {
        delete_users: req.delete_users.unwrap_or(false),
        email_notification: req.email_notification.unwrap_or(true),
        is_force_delete: req.is_force_delete.unwrap_or(false),
        ..JobParams::default()
    };
    let job_id = delete_desktops(&st, &caller, params, ids).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(JobIdResponse { job_id })).into_response())
}

/// Queue a deleteDesktops job for `ids`, all or nothing.
pub async fn delete_desktops(
    st: &AppState,
    caller: &Caller,
    params: JobParams,
    ids: Vec<String>,
) -> ApiResult<String> {
    let job = submit::new_job(caller, JobType::DeleteDesktops, &params, None);
    let out = submit::batch(
        st,
        &job,
        Operation::Delete,
        params.is_force_delete,
        Scope::Whole,
        &ids,
    )
    .await?;
    if !out.refused.is_empty() {
        return Err(submit::refused_whole(&out.refused, "delete"));
    }
    st.engine.cancel(&out.cancelled_sub_jobs);
    st.engine.wake();
    if params.email_notification {
        notify(
            st,
            caller,
            &job.id,
            &out,
            "EMAIL",
            "Your desktop has been deleted.",
            |d| d.user_name.is_some(),
        )
        .await?;
    }
    Ok(job.id.to_string())
}

/// Record a notification for each accepted desktop that `wants` one.
async fn notify(
    st: &AppState,
    caller: &Caller,
    job_id: &JobId,
    out: &BatchOutcome,
    kind: &str,
    text: &str,
    wants: impl Fn(&DesktopRow) -> bool,
) -> ApiResult<()> {
    let now = now_ms();
    let rows: Vec<NotificationRow> = out
        .accepted
        .iter()
        .filter(|d| wants(d))
        .map(|d| NotificationRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: caller.project_id.clone(),
            desktop_id: d.id,
            desktop_name: d.computer_name.clone(),
            user_name: d.user_name.clone(),
            user_email: d.user_email.clone(),
            kind: kind.to_owned(),
            message: text.to_owned(),
            job_id: Some(*job_id),
            created_ms: now,
        })
        .collect();
    st.store.insert_notifications(&rows).await?;
    Ok(())
}
