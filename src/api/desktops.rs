//! Desktops: create (async), list, detail, show, delete (async), action history.

use super::error::{ApiError, ApiResult};
use super::extract::{Json, QueryParams};
use super::present;
use super::state::{AppState, Caller};
use super::submit;
use crate::domain::error_code::Code;
use crate::domain::job::JobType;
use crate::jobs::JobParams;
use crate::store::{DesktopFilter, SubJobFilter};
use crate::wire::desktops::{
    CreateDesktopReq, CreateDesktopResponse, ListDesktopsDetailResponse, ListDesktopsResponse,
    ShowDesktopDetailResponse,
};
use crate::wire::jobs::ListDesktopActionsResponse;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/{project_id}/desktops", get(list).post(create))
        .route("/v2/{project_id}/desktops/detail", get(list_detail))
        .route(
            "/v2/{project_id}/desktops/{desktop_id}",
            get(show).delete(delete),
        )
        .route(
            "/v2/{project_id}/desktops/{desktop_id}/actions",
            get(actions),
        )
}

async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateDesktopReq>,
) -> ApiResult<axum::Json<CreateDesktopResponse>> {
    let plan = super::create_plan::plan(&st, &caller, req).await?;
    let job = submit::new_job(
        &caller,
        JobType::CreateDesktops,
        &JobParams::default(),
        None,
    );
    st.store
        .submit_create(&job, &plan.desktops, &plan.users)
        .await?;
    st.engine.wake();
    Ok(axum::Json(CreateDesktopResponse { job_id: job.id }))
}

async fn filter(
    st: &AppState,
    project_id: &str,
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
        match st.store.get_user(project_id, id).await? {
            Some(u) => user_names.push(u.user_name),
            // No such user: match nothing rather than everything.
            None => user_names.push(format!("\u{0}{id}")),
        }
    }
    let status = q.one_of(
        "status",
        &["ACTIVE", "SHUTOFF", "HIBERNATED", "ERROR", "BUILD"],
    )?;
    Ok(DesktopFilter {
        status: status.map(|s| s.to_ascii_uppercase()),
        user_name: q.get("user_name").map(str::to_owned),
        user_names,
        computer_names: q.all("computer_names"),
        computer_name: q.get("computer_name").map(str::to_owned),
        desktop_ip: q.get("desktop_ip").map(str::to_owned),
        desktop_ids: q.all("desktop_id"),
        pool_ids: q.all("pool_id"),
        desktop_type: q
            .one_of("desktop_type", &["DEDICATED", "POOLED"])?
            .map(|s| s.to_ascii_uppercase()),
        image_id: q.get("image_id").map(str::to_owned),
        tags,
        availability_zone: q.get("availability_zone").map(str::to_owned),
        sort_field: q.one_of("sort_field", &["created", "computer_name"])?,
        sort_desc: q
            .one_of("sort_type", &["ASC", "DESC"])?
            .is_some_and(|s| s.eq_ignore_ascii_case("DESC")),
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", default_limit, 0, st.limits.max_page)?,
    })
}

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

async fn show(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, desktop_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<ShowDesktopDetailResponse>> {
    let d = st
        .store
        .get_desktop(&caller.project_id, &desktop_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::DesktopNotFound,
                format!("Desktop {desktop_id} does not exist."),
            )
        })?;
    Ok(axum::Json(ShowDesktopDetailResponse {
        desktop: present::desktop_detail(&d, &st.catalog, None),
    }))
}

async fn delete(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, desktop_id)): Path<(String, String)>,
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
    super::batch::delete_desktops(&st, &caller, params, vec![desktop_id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn actions(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((_, desktop_id)): Path<(String, String)>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListDesktopActionsResponse>> {
    let f = SubJobFilter {
        project_id: caller.project_id.clone(),
        desktop_id: Some(desktop_id.clone()),
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
        return Err(ApiError::new(
            Code::DesktopNotFound,
            format!("Desktop {desktop_id} does not exist."),
        ));
    }
    Ok(axum::Json(ListDesktopActionsResponse {
        desktop_actions: rows.iter().map(present::action).collect(),
        total_count: total,
    }))
}
