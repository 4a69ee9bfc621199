//! Desktop pools (issue 4) and the pool action (seed 001).
//!
//! The pool action applies to every desktop of the pool at the time of the
//! request, through the same state machine and job engine as `desktops/action`:
//! one `executeDesktopsAction` job with a sub-job per desktop. A desktop the
//! operation does not apply to (wrong state, in ERROR, or held by another
//! operation) gets a FAILED sub-job carrying the refusal's code and reason, so
//! the job honestly ends FAIL with "k of n sub-jobs failed" when any did not apply.

use super::create_plan::{self, TemplateReq};
use super::error::{ApiError, ApiResult};
use super::extract::{Id, Json, QueryParams};
use super::present;
use super::state::{AppState, Caller};
use super::submit;
use crate::domain::desktop::PoolActionType;
use crate::domain::error_code::Code;
use crate::domain::ids::PoolId;
use crate::domain::job::JobType;
use crate::domain::time::{now_ms, rfc3339};
use crate::jobs::JobParams;
use crate::store::{DesktopFilter, PoolDeletion, PoolFilter, PoolRow, PoolUpdate, StoreError};
use crate::wire::batch::JobIdResponse;
use crate::wire::error_body::ErrorBody;
use crate::wire::params::{
    DESKTOP_STATUSES, ListDesktopPoolsQuery, ListPoolDesktopsQuery, POOL_TYPES, Page, PoolPath,
    ProjectPath,
};
use crate::wire::pools::{
    AuthorizedObjects, CreateDesktopPoolReq, CreateDesktopPoolResponse, DesktopPoolActionReq,
    DesktopPoolInfo, ExpandDesktopPoolReq, ListDesktopPoolAuthorizedObjectsResponse,
    ListDesktopPoolsResponse, ListPoolDesktopsDetailResponse, PoolAuthorizedObjectsReq,
    UpdateDesktopPoolAttributesReq,
};
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod checks;
mod view;

use crate::jobs::pools::{grow, pool_desktops, pool_job};
use crate::jobs::provision::rename_if_taken;
use checks::{check_name, check_policy, members_of, retention, size};
use view::info;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(desktops))
        .routes(routes!(expand))
        .routes(routes!(action))
        .routes(routes!(members, change_members))
}

/// The caller's pool, or 404 (403 when it is another project's).
pub async fn pool_of(st: &AppState, caller: &Caller, pool_id: &PoolId) -> ApiResult<PoolRow> {
    if let Some(p) = st.store.get_pool(&caller.project_id, pool_id).await? {
        return Ok(p);
    }
    let detail = format!("pool_id={pool_id}");
    Err(match st.store.pool_project(pool_id).await? {
        Some(_) => ApiError::new(
            Code::ForbiddenProject,
            format!("Desktop pool {pool_id} belongs to another project."),
        ),
        None => ApiError::new(
            Code::PoolNotFound,
            format!("Desktop pool {pool_id} does not exist."),
        ),
    }
    .with_detail(detail))
}

/// Create a desktop pool and its desktops (one createDesktopPool job).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktop-pools",
    tag = "pools",
    operation_id = "CreateDesktopPool",
    params(ProjectPath),
    request_body = CreateDesktopPoolReq,
    responses(
        (status = 200, description = "The job and the new pool.", body = CreateDesktopPoolResponse),
        (status = 400, description = "A parameter is invalid, or the product, image or zone is not in the catalog.", body = ErrorBody),
        (status = 409, description = "A pool with this name exists.", body = ErrorBody),
    ),
)]
async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateDesktopPoolReq>,
) -> ApiResult<axum::Json<CreateDesktopPoolResponse>> {
    let name = req
        .name
        .ok_or_else(|| ApiError::invalid("Missing parameter name."))?;
    check_name(&name)?;
    let pool_type = req
        .pool_type
        .ok_or_else(|| ApiError::invalid("Missing parameter type."))?;
    if !POOL_TYPES.contains(&pool_type.as_str()) {
        return Err(ApiError::invalid(format!(
            "Invalid type {pool_type:?}; allowed: DYNAMIC, STATIC."
        )));
    }
    let n = size(&st, req.size)?;
    let tpl = create_plan::template(
        &st,
        TemplateReq {
            product_id: req.product_id,
            image_id: req.image_id,
            image_type: req.image_type,
            availability_zone: req.availability_zone,
            root_volume: req.root_volume,
            data_volumes: req.data_volumes,
            tags: req.tags,
        },
    )?;
    let members = members_of(req.authorized_objects.unwrap_or_default())?;
    let policy = req.autoscale_policy.map(check_policy).transpose()?;
    let pool = PoolRow {
        id: PoolId::new(),
        project_id: caller.project_id.clone(),
        name: name.clone(),
        pool_type,
        description: req.description.unwrap_or_default(),
        product_id: tpl.product_id.clone(),
        image_id: tpl.image.id.clone(),
        image_type: tpl.image.image_type.clone(),
        availability_zone: tpl.availability_zone.clone(),
        root_volume: tpl.root_volume.clone(),
        data_volumes: tpl.data_volumes.clone(),
        tags: tpl.tags.clone(),
        disconnected_retention_period: retention(req.disconnected_retention_period)?.unwrap_or(0),
        enable_autoscale: req.enable_autoscale.unwrap_or(false),
        autoscale_policy: policy,
        created_ms: now_ms(),
        desktop_count: 0,
        desktop_used: 0,
    };
    let (mut desktops, origins) = pool_desktops(&tpl, &pool, n)?;
    let job = pool_job(
        &caller.project_id,
        JobType::CreateDesktopPool,
        &pool,
        &caller.principal,
    );
    let mut writes = 0;
    while let Err(e) = st.store.create_pool(&pool, &members, &job, &desktops).await {
        if let StoreError::Conflict(_) = e {
            return Err(ApiError::new(
                Code::PoolExists,
                format!("A desktop pool named {name} already exists."),
            ));
        }
        rename_if_taken(e, &mut desktops, &origins, &mut writes)?;
    }
    st.engine.wake();
    Ok(axum::Json(CreateDesktopPoolResponse {
        job_id: job.id.to_string(),
        pool_id: pool.id.to_string(),
    }))
}

/// List desktop pools.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktop-pools",
    tag = "pools",
    operation_id = "ListDesktopPools",
    params(ProjectPath, ListDesktopPoolsQuery, Page),
    responses((status = 200, description = "A page of pools.", body = ListDesktopPoolsResponse)),
)]
async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListDesktopPoolsResponse>> {
    let f = PoolFilter {
        name: q.get("name").map(str::to_owned),
        pool_type: q.one_of("type", POOL_TYPES)?,
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", 1000, 0, st.limits.max_page)?,
    };
    let (rows, total) = st.store.list_pools(&caller.project_id, &f).await?;
    Ok(axum::Json(ListDesktopPoolsResponse {
        total_count: total,
        desktop_pools: rows.iter().map(|p| info(&st, p, false)).collect(),
    }))
}

/// Show a desktop pool.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktop-pools/{pool_id}",
    tag = "pools",
    operation_id = "ShowDesktopPoolDetail",
    params(ProjectPath, PoolPath),
    responses(
        (status = 200, description = "The pool.", body = DesktopPoolInfo),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
    ),
)]
async fn show(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
) -> ApiResult<axum::Json<DesktopPoolInfo>> {
    let p = pool_of(&st, &caller, &pool_id).await?;
    let f = DesktopFilter {
        pool_ids: vec![pool_id.to_string()],
        limit: 1,
        ..DesktopFilter::default()
    };
    let busy = st
        .store
        .list_desktops(&caller.project_id, &f)
        .await?
        .0
        .iter()
        .any(|d| d.task_status.is_some());
    Ok(axum::Json(info(&st, &p, busy)))
}

/// Change a pool's attributes.
#[utoipa::path(
    put,
    path = "/v2/{project_id}/desktop-pools/{pool_id}",
    tag = "pools",
    operation_id = "UpdateDesktopPoolAttributes",
    params(ProjectPath, PoolPath),
    request_body = UpdateDesktopPoolAttributesReq,
    responses(
        (status = 200, description = "Changed (an empty body)."),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
        (status = 409, description = "Another pool has this name.", body = ErrorBody),
    ),
)]
async fn update(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
    Json(req): Json<UpdateDesktopPoolAttributesReq>,
) -> ApiResult<StatusCode> {
    pool_of(&st, &caller, &pool_id).await?;
    if let Some(n) = &req.name {
        check_name(n)?;
    }
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 255)
    {
        return Err(ApiError::invalid(
            "description must be at most 255 characters.",
        ));
    }
    let u = PoolUpdate {
        name: req.name.clone(),
        description: req.description,
        tags: req.tags.map(|t| t.into_iter().map(Into::into).collect()),
        disconnected_retention_period: retention(req.disconnected_retention_period)?,
        enable_autoscale: req.enable_autoscale,
        autoscale_policy: req.autoscale_policy.map(check_policy).transpose()?,
    };
    match st.store.update_pool(&caller.project_id, &pool_id, &u).await {
        Ok(_) => Ok(StatusCode::OK),
        Err(StoreError::Conflict(n)) => Err(ApiError::new(
            Code::PoolExists,
            format!("A desktop pool named {n} already exists."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Delete an empty pool.
#[utoipa::path(
    delete,
    path = "/v2/{project_id}/desktop-pools/{pool_id}",
    tag = "pools",
    operation_id = "DeleteDesktopPool",
    params(ProjectPath, PoolPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
        (status = 409, description = "The pool still has desktops.", body = ErrorBody),
    ),
)]
async fn delete(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
) -> ApiResult<StatusCode> {
    match st.store.delete_pool(&caller.project_id, &pool_id).await? {
        PoolDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        PoolDeletion::NotEmpty(n) => Err(ApiError::new(
            Code::PoolNotEmpty,
            format!(
                "Desktop pool {pool_id} still has {n} desktops: delete them first (POST /desktops/batch-delete)."
            ),
        )),
        PoolDeletion::NotFound => pool_of(&st, &caller, &pool_id)
            .await
            .map(|_| StatusCode::NO_CONTENT),
    }
}

/// List a pool's desktops with their details.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktop-pools/{pool_id}/desktops",
    tag = "pools",
    operation_id = "ListPoolDesktopsDetail",
    params(ProjectPath, PoolPath, ListPoolDesktopsQuery, Page),
    responses(
        (status = 200, description = "A page of the pool's desktops (default 10).", body = ListPoolDesktopsDetailResponse),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
    ),
)]
async fn desktops(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListPoolDesktopsDetailResponse>> {
    pool_of(&st, &caller, &pool_id).await?;
    let f = DesktopFilter {
        pool_ids: vec![pool_id.to_string()],
        status: q
            .one_of("status", DESKTOP_STATUSES)?
            .map(|s| s.to_ascii_uppercase()),
        user_name: q.get("user_name").map(str::to_owned),
        computer_name: q.get("computer_name").map(str::to_owned),
        desktop_ids: q.all("desktop_id"),
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", 10, 0, st.limits.max_page)?,
        ..DesktopFilter::default()
    };
    let (rows, total) = st.store.list_desktops(&caller.project_id, &f).await?;
    Ok(axum::Json(ListPoolDesktopsDetailResponse {
        pool_desktops: rows
            .iter()
            .map(|d| present::desktop_detail(d, &st.catalog, None))
            .collect(),
        total_count: total,
        on_demand_desktops_num: total,
        period_desktops_num: 0,
    }))
}

/// Add desktops to a pool (one expandDesktopPool job).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktop-pools/{pool_id}/expand",
    tag = "pools",
    operation_id = "ExpandDesktopPool",
    params(ProjectPath, PoolPath),
    request_body = ExpandDesktopPoolReq,
    responses(
        (status = 200, description = "The job.", body = JobIdResponse),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
    ),
)]
async fn expand(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
    Json(req): Json<ExpandDesktopPoolReq>,
) -> ApiResult<axum::Json<JobIdResponse>> {
    let p = pool_of(&st, &caller, &pool_id).await?;
    let n = size(&st, req.size)?;
    let job_type = JobType::ExpandDesktopPool;
    let job_id = grow(&*st.store, &st.catalog, &p, n, job_type, &caller.principal).await?;
    st.engine.wake();
    Ok(axum::Json(JobIdResponse {
        job_id: job_id.to_string(),
    }))
}

/// Start, stop, reboot or hibernate every desktop of a pool (seed 001).
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktop-pools/{pool_id}/action",
    tag = "pools",
    operation_id = "ExecuteDesktopPoolAction",
    params(ProjectPath, PoolPath),
    request_body = DesktopPoolActionReq,
    responses(
        (status = 200, description = "The executeDesktopsAction job.", body = JobIdResponse),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
        (status = 409, description = "The pool has no desktops.", body = ErrorBody),
    ),
)]
async fn action(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
    Json(req): Json<DesktopPoolActionReq>,
) -> ApiResult<axum::Json<JobIdResponse>> {
    let detail = |e: ApiError| e.with_detail(format!("pool_id={pool_id}"));
    let op_type = req
        .op_type
        .as_deref()
        .ok_or_else(|| detail(ApiError::invalid("Missing parameter op_type.")))?;
    let op_type: PoolActionType = op_type.parse().map_err(|_| {
        detail(ApiError::invalid(format!(
            "Invalid op_type {op_type:?}; allowed: {}.",
            PoolActionType::allowed()
        )))
    })?;
    let mode = super::batch::power_mode(req.mode.as_deref()).map_err(detail)?;
    pool_of(&st, &caller, &pool_id).await?;
    let op = super::batch::operation(op_type.into(), mode);
    let job = submit::new_job(
        &caller,
        JobType::ExecuteDesktopsAction,
        &JobParams::default(),
        Some(pool_id),
    );
    let out = st.store.submit_pool_action(&job, op, &pool_id).await?;
    if out.desktops == 0 {
        return Err(detail(ApiError::new(
            Code::PoolHasNoDesktops,
            format!("Desktop pool {pool_id} has no desktops to {op_type}."),
        )));
    }
    st.engine.wake();
    Ok(axum::Json(JobIdResponse {
        job_id: job.id.to_string(),
    }))
}

/// List the users and groups authorized to use a pool.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/desktop-pools/{pool_id}/users",
    tag = "pools",
    operation_id = "ListDesktopPoolAuthorizedObjects",
    params(ProjectPath, PoolPath, Page),
    responses(
        (status = 200, description = "A page of members (default 10).", body = ListDesktopPoolAuthorizedObjectsResponse),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
    ),
)]
async fn members(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListDesktopPoolAuthorizedObjectsResponse>> {
    pool_of(&st, &caller, &pool_id).await?;
    let offset = q.int("offset", 0, 0, i64::from(i32::MAX))?;
    let limit = q.int("limit", 10, 0, st.limits.max_page)?;
    let (rows, total) = st.store.list_pool_members(&pool_id, offset, limit).await?;
    let objects = rows
        .into_iter()
        .map(|m| AuthorizedObjects {
            object_type: Some(m.object_type),
            object_id: Some(m.object_id),
            object_name: Some(m.object_name),
            user_group: m.user_group,
            created_at: Some(rfc3339(m.created_ms)),
        })
        .collect();
    Ok(axum::Json(ListDesktopPoolAuthorizedObjectsResponse {
        objects,
        total_count: total,
    }))
}

/// Authorize users or groups for a pool, or remove them.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/desktop-pools/{pool_id}/users",
    tag = "pools",
    operation_id = "UpdateDesktopPoolAuthorizedObjects",
    params(ProjectPath, PoolPath),
    request_body = PoolAuthorizedObjectsReq,
    responses(
        (status = 200, description = "Changed (an empty body)."),
        (status = 403, description = "The pool is another project's.", body = ErrorBody),
        (status = 404, description = "The project or the pool does not exist.", body = ErrorBody),
    ),
)]
async fn change_members(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(pool_id): Id<PoolId>,
    Json(req): Json<PoolAuthorizedObjectsReq>,
) -> ApiResult<StatusCode> {
    pool_of(&st, &caller, &pool_id).await?;
    let objects = members_of(
        req.objects
            .ok_or_else(|| ApiError::invalid("Missing parameter objects."))?,
    )?;
    match req.action.as_deref() {
        Some("ADD") => {
            st.store
                .change_pool_members(&pool_id, &objects, &[])
                .await?;
        }
        Some("REMOVE") => {
            st.store
                .change_pool_members(&pool_id, &[], &objects)
                .await?;
        }
        Some(a) => {
            return Err(ApiError::invalid(format!(
                "Invalid action {a:?}; allowed: ADD, REMOVE."
            )));
        }
        None => return Err(ApiError::invalid("Missing parameter action.")),
    }
    Ok(StatusCode::OK)
}
