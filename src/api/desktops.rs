//! Desktops: create (async), list, detail, show, delete (async), action history.

use super::error::{ApiError, ApiResult};
use super::extract::{Id, Json, PathId as _, QueryParams};
use super::present;
use super::state::{AppState, Caller};
use super::submit;
use crate::domain::ids::{DesktopId, ProjectId, UserId};
use crate::domain::job::JobType;
use crate::jobs::JobParams;
use crate::jobs::provision::rename_if_taken;
use crate::store::{DesktopFilter, SubJobFilter};
use crate::wire::desktops::{
    CreateDesktopReq, CreateDesktopResponse, ListDesktopsDetailResponse, ListDesktopsResponse,
    ShowDesktopDetailResponse,
};
use crate::wire::error_body::ErrorBody;
use crate::wire::jobs::ListDesktopActionsResponse;
use crate::wire::params::{
    DESKTOP_SORT_FIELDS, DESKTOP_STATUSES, DESKTOP_TYPES, DeleteDesktopQuery, DesktopPath,
    ListDesktopsQuery, Page, ProjectPath, SORT_TYPES,
};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(list_detail))
        .routes(routes!(show, delete))
        .routes(routes!(actions))
}

/// Create desktops (asynchronously: one job, a sub-job per desktop).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktops",
    tag = "desktops",
    operation_id = "CreateDesktop",
    params(ProjectPath),
    request_body = CreateDesktopReq,
    responses(
        (status = 200, description = "The createDesktops job.", body = CreateDesktopResponse),
        (status = 400, description = "A parameter is invalid, or the product, image or zone is not in the catalog.", body = ErrorBody),
        (status = 409, description = "A desktop with this computer_name exists.", body = ErrorBody),
    ),
)]
async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateDesktopReq>,
) -> ApiResult<axum::Json<CreateDesktopResponse>> {
    let mut plan = super::create_plan::plan(&st, &caller, req)?;
    let job = submit::new_job(
        &caller,
        JobType::CreateDesktops,
        &JobParams::default(),
        None,
    );
    let mut writes = 0;
    while let Err(e) = st
        .store
        .submit_create(&job, &plan.desktops, &plan.users)
        .await
    {
        rename_if_taken(e, &mut plan.desktops, &plan.origins, &mut writes)?;
    }
    st.engine.wake();
    Ok(axum::Json(CreateDesktopResponse {
        job_id: job.id.to_string(),
    }))
}

async fn filter(
    st: &AppState,
    project_id: &ProjectId,
    q: &QueryParams,
    default_limit: i64,
) -> ApiResult<DesktopFilter> {
    let tags = q
        .all("tag")
        .iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(ApiError::invalid(format!(
                "Invalid parameter tag: {t:?} is not key=value."
            ))),
        })
        .collect::<ApiResult<Vec<_>>>()?;
    // `user_name` is a substring match; `user_names` (and `user_id`) name users exactly.
    let mut user_names = q.all("user_names");
    if let Some(id) = q.get("user_id") {
        let user = match id.parse::<UserId>() {
            Ok(user_id) => st.store.get_user(project_id, &user_id).await?,
            Err(_) => None,
        };
        match user {
            Some(u) => user_names.push(u.user_name),
            // No such user: match nothing rather than everything.
            None => user_names.push(format!("\u{0}{id}")),
        }
    }
    let status = q.one_of("status", DESKTOP_STATUSES)?;
    Ok(DesktopFilter {
        status,
        user_name: q.get("user_name").map(str::to_owned),
        user_names,
        computer_names: q.all("computer_names"),
        computer_name: q.get("computer_name").map(str::to_owned),
        desktop_ip: q.get("desktop_ip").map(str::to_owned),
        desktop_ids: q.all("desktop_id"),
        pool_ids: q.all("pool_id"),
        desktop_type: q.one_of("desktop_type", DESKTOP_TYPES)?,
        image_id: q.get("image_id").map(str::to_owned),
        tags,
        availability_zone: q.get("availability_zone").map(str::to_owned),
        sort_field: q.one_of("sort_field", DESKTOP_SORT_FIELDS)?,
        sort_desc: q
            .one_of("sort_type", SORT_TYPES)?
            .is_some_and(|s| s.eq_ignore_ascii_case("DESC")),
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", default_limit, 0, st.limits.max_page)?,
    })
}

/// List desktops (summary).
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktops",
    tag = "desktops",
    operation_id = "ListDesktops",
    params(ProjectPath, ListDesktopsQuery, Page),
    responses((status = 200, description = "A page of desktops (default 1000).", body = ListDesktopsResponse)),
)]
async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListDesktopsResponse>> {
    let f = filter(&st, &caller.project_id, &q, 1000).await?;
    let (rows, total) = st.store.list_desktops(&caller.project_id, &f).await?;
    Ok(axum::Json(ListDesktopsResponse {
        total_count: total,
        desktops: rows.iter().map(present::desktop_simple).collect(),
    }))
}

/// List desktops with their details.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktops/detail",
    tag = "desktops",
    operation_id = "ListDesktopsDetail",
    params(ProjectPath, ListDesktopsQuery, Page),
    responses((status = 200, description = "A page of desktops (default 500).", body = ListDesktopsDetailResponse)),
)]
async fn list_detail(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListDesktopsDetailResponse>> {
    let f = filter(&st, &caller.project_id, &q, 500).await?;
    let (rows, total) = st.store.list_desktops(&caller.project_id, &f).await?;
    let desktops = rows
        .iter()
        .map(|d| present::desktop_detail(d, &st.catalog, None))
        .collect();
    Ok(axum::Json(ListDesktopsDetailResponse {
        desktops,
        total_count: total,
    }))
}

/// Show a desktop.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktops/{desktop_id}",
    tag = "desktops",
    operation_id = "ShowDesktopDetail",
    params(ProjectPath, DesktopPath),
    responses(
        (status = 200, description = "The desktop.", body = ShowDesktopDetailResponse),
        (status = 404, description = "The project or the desktop does not exist.", body = ErrorBody),
    ),
)]
async fn show(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(desktop_id): Id<DesktopId>,
) -> ApiResult<axum::Json<ShowDesktopDetailResponse>> {
    let d = st
        .store
        .get_desktop(&caller.project_id, &desktop_id)
        .await?
        .ok_or_else(|| DesktopId::not_found(&desktop_id.to_string()))?;
    Ok(axum::Json(ShowDesktopDetailResponse {
        desktop: present::desktop_detail(&d, &st.catalog, None),
    }))
}

/// Delete a desktop (asynchronously).
#[utoipa::path(
    delete,
    path = "/v2/{project_id}/desktops/{desktop_id}",
    tag = "desktops",
    operation_id = "DeleteDesktop",
    params(ProjectPath, DesktopPath, DeleteDesktopQuery),
    responses(
        (status = 204, description = "The deleteDesktops job is queued."),
        (status = 403, description = "The desktop belongs to another project.", body = ErrorBody),
        (status = 404, description = "The project or the desktop does not exist.", body = ErrorBody),
        (status = 409, description = "The desktop is under another operation (without is_force_delete).", body = ErrorBody),
    ),
)]
async fn delete(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(desktop_id): Id<DesktopId>,
    q: QueryParams,
) -> ApiResult<StatusCode> {
    let flag = |name: &str, default: bool| match q.get(name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(ApiError::invalid(format!(
            "Invalid parameter {name}: {v:?} is not true or false."
        ))),
    };
    let params = JobParams {
        delete_users: flag("delete_users", false)?,
        email_notification: flag("email_notification", true)?,
        is_force_delete: flag("is_force_delete", false)?,
        ..JobParams::default()
    };
    super::batch::delete_desktops(&st, &caller, params, vec![desktop_id.to_string()]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A desktop's action history, newest first.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktops/{desktop_id}/actions",
    tag = "desktops",
    operation_id = "ListDesktopActions",
    params(ProjectPath, DesktopPath, Page),
    responses(
        (status = 200, description = "A page of the history.", body = ListDesktopActionsResponse),
        (status = 404, description = "The project or the desktop does not exist.", body = ErrorBody),
    ),
)]
async fn actions(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(desktop_id): Id<DesktopId>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListDesktopActionsResponse>> {
    let f = SubJobFilter {
        project_id: caller.project_id.clone(),
        desktop_id: Some(desktop_id.to_string()),
        newest_first: true,
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", 100, 0, st.limits.max_page)?,
        ..SubJobFilter::default()
    };
    let (rows, total) = st.store.list_sub_jobs(&f).await?;
    if total == 0
        && st
            .store
            .get_desktop(&caller.project_id, &desktop_id)
            .await?
            .is_none()
    {
        return Err(DesktopId::not_found(&desktop_id.to_string()));
    }
    Ok(axum::Json(ListDesktopActionsResponse {
        desktop_actions: rows.iter().map(present::action).collect(),
        total_count: total,
    }))
}
