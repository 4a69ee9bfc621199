//! Desktop users, and the notification records sent to them.

use super::create_plan::check_user_name;
use super::error::{ApiError, ApiResult};
use super::extract::{Id, Json, QueryParams};
use super::state::{AppState, Caller};
use crate::domain::error_code::Code;
use crate::domain::ids::UserId;
use crate::domain::time::{job_time, now_ms, rfc3339};
use crate::store::{NotificationFilter, StoreError, UserFilter, UserRow};
use crate::wire::error_body::ErrorBody;
use crate::wire::params::{
    ListNotificationRecordsQuery, ListUsersQuery, NOTIFICATION_SORT_FIELDS, NOTIFICATION_TYPES,
    Page, ProjectPath, SORT_TYPES, UserPath,
};
use crate::wire::users::{
    CreateDesktopUserResponse, CreateUserRequest, ListNotificationRecordsResponse,
    ListUserDetailResponse, ListUsersResponse, NotificationRecordInfo, User, UserDetail,
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
        .routes(routes!(notifications))
        .routes(routes!(show, delete))
}

/// Create a desktop user.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/users",
    tag = "users",
    operation_id = "CreateUser",
    params(ProjectPath),
    request_body = CreateUserRequest,
    responses(
        (status = 200, description = "Created.", body = CreateDesktopUserResponse),
        (status = 409, description = "A user with this name exists.", body = ErrorBody),
    ),
)]
async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateUserRequest>,
) -> ApiResult<axum::Json<CreateDesktopUserResponse>> {
    let name = req
        .user_name
        .ok_or_else(|| ApiError::invalid("Missing parameter user_name."))?;
    check_user_name(&name)?;
    if let Some(e) = req
        .user_email
        .as_deref()
        .filter(|e| !e.contains('@') || e.len() > 254)
    {
        return Err(ApiError::invalid(format!("Invalid user_email {e:?}.")));
    }
    let description = req.description.unwrap_or_default();
    if description.chars().count() > 255 {
        return Err(ApiError::invalid(
            "description must be at most 255 characters.",
        ));
    }
    let user = UserRow {
        id: UserId::new(),
        project_id: caller.project_id.clone(),
        user_name: name.clone(),
        user_email: req.user_email,
        user_phone: req.user_phone,
        description,
        created_ms: now_ms(),
        total_desktops: 0,
    };
    match st.store.insert_user(&user).await {
        Ok(()) => Ok(axum::Json(CreateDesktopUserResponse {
            id: user.id.to_string(),
        })),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            Code::UserExists,
            format!("A user named {name} already exists."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// List desktop users.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/users",
    tag = "users",
    operation_id = "ListUsers",
    params(ProjectPath, ListUsersQuery, Page),
    responses((status = 200, description = "A page of users.", body = ListUsersResponse)),
)]
async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListUsersResponse>> {
    let f = UserFilter {
        user_name: q.get("user_name").map(str::to_owned),
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", st.limits.max_page, 0, st.limits.max_page)?,
    };
    let (rows, total) = st.store.list_users(&caller.project_id, &f).await?;
    let users = rows
        .into_iter()
        .map(|u| User {
            id: u.id.to_string(),
            user_name: u.user_name,
            user_email: u.user_email,
            user_phone: u.user_phone,
            description: u.description,
            total_desktops: u.total_desktops,
        })
        .collect();
    Ok(axum::Json(ListUsersResponse {
        total_count: total,
        users,
    }))
}

/// Show a user.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/users/{user_id}",
    tag = "users",
    operation_id = "ListUserDetail",
    params(ProjectPath, UserPath),
    responses(
        (status = 200, description = "The user.", body = ListUserDetailResponse),
        (status = 404, description = "The project or the user does not exist.", body = ErrorBody),
    ),
)]
async fn show(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(user_id): Id<UserId>,
) -> ApiResult<axum::Json<ListUserDetailResponse>> {
    let u = st
        .store
        .get_user(&caller.project_id, &user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::UserNotFound,
                format!("User {user_id} does not exist."),
            )
        })?;
    Ok(axum::Json(ListUserDetailResponse {
        user_detail: UserDetail {
            id: u.id.to_string(),
            user_name: u.user_name,
            user_email: u.user_email,
            user_phone: u.user_phone,
            description: u.description,
            when_created: rfc3339(u.created_ms),
            total_desktops: u.total_desktops,
            account_type: 0,
        },
    }))
}

/// Delete a user who has no desktops.
#[utoipa::path(
    delete,
    path = "/v2/{project_id}/users/{user_id}",
    tag = "users",
    operation_id = "DeleteUser",
    params(ProjectPath, UserPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "The project or the user does not exist.", body = ErrorBody),
        (status = 409, description = "The user still has desktops.", body = ErrorBody),
    ),
)]
async fn delete(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Id(user_id): Id<UserId>,
) -> ApiResult<StatusCode> {
    let u = st
        .store
        .get_user(&caller.project_id, &user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::UserNotFound,
                format!("User {user_id} does not exist."),
            )
        })?;
    if u.total_desktops > 0 {
        return Err(ApiError::new(
            Code::UserHasDesktops,
            format!(
                "User {} still has {} desktops; delete them first.",
                u.user_name, u.total_desktops
            ),
        ));
    }
    st.store.delete_user(&caller.project_id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the notifications sent to users (e-mails and in-desktop messages).
#[utoipa::path(
    get,
    path = "/v2/{project_id}/users/notification-records",
    tag = "users",
    operation_id = "ListNotificationRecords",
    params(ProjectPath, ListNotificationRecordsQuery, Page),
    responses((status = 200, description = "A page of records.", body = ListNotificationRecordsResponse)),
)]
async fn notifications(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListNotificationRecordsResponse>> {
    let f = NotificationFilter {
        desktop_id: q.get("desktop_id").map(str::to_owned),
        desktop_name: q.get("desktop_name").map(str::to_owned),
        user_name: q.get("user_name").map(str::to_owned),
        kind: q.one_of("type", NOTIFICATION_TYPES)?,
        oldest_first: q
            .one_of("sort_type", SORT_TYPES)?
            .is_some_and(|s| s.eq_ignore_ascii_case("ASC")),
        offset: q.int("offset", 0, 0, i64::from(i32::MAX))?,
        limit: q.int("limit", 1000, 0, st.limits.max_page)?,
    };
    q.one_of("sort_field", NOTIFICATION_SORT_FIELDS)?;
    let (rows, total) = st.store.list_notifications(&caller.project_id, &f).await?;
    let notification_records = rows
        .into_iter()
        .map(|n| NotificationRecordInfo {
            project_id: n.project_id.to_string(),
            kind: n.kind,
            user_name: n.user_name,
            desktop_name: n.desktop_name,
            result: "success".into(),
            error_message: n.message,
            operate_time: job_time(n.created_ms),
        })
        .collect();
    Ok(axum::Json(ListNotificationRecordsResponse {
        total_count: total,
        notification_records,
    }))
}
