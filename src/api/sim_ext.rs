//! `/sim/v1`: the simulator's extension API, outside the Huawei paths and
//! served only when the simulator is the driver. Fault injection per desktop,
//! simulated user sessions, and the simulated clock. Unauthenticated: it only
//! ever touches simulated machines (see README).

use super::error::{ApiError, ApiResult};
use super::extract::{Id, Json};
use super::state::AppState;
use crate::domain::desktop::LoginStatus;
use crate::domain::error_code::Code;
use crate::domain::ids::{DesktopId, PoolId};
use crate::store::{DesktopRow, SimFault};
use crate::wire::error_body::ErrorBody;
use crate::wire::params::{DesktopPath, PoolPath};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_fault, get_fault, clear_fault))
        .routes(routes!(session))
        .routes(routes!(pool_connect))
        .routes(routes!(clock))
        .routes(routes!(advance))
}

/// A fault to inject.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimFaultRequest {
    /// How many of the next operations fail.
    #[serde(default)]
    fail_next: i64,
    /// Only these operations (`os-start`, `os-stop`, `reboot`, `os-hibernate`, `rebuild`,
    /// `logoff`, `delete`, `create`); absent: every operation; empty: none.
    #[schema(schema_with = sim_ops)]
    ops: Option<Vec<String>>,
    /// Error code of the failures.
    error_code: Option<String>,
    /// Error message of the failures.
    error_msg: Option<String>,
    /// Whether the guest ignores SOFT stop/reboot (they time out).
    #[serde(default)]
    ignore_soft: bool,
}

/// A desktop's injected fault.
#[derive(Debug, Serialize, ToSchema)]
struct SimFaultView {
    /// The desktop.
    desktop_id: String,
    /// How many of the next operations fail.
    fail_next: i64,
    /// Only these operations (absent: every operation; empty: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = sim_ops)]
    ops: Option<Vec<String>>,
    /// Error code of the failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    /// Error message of the failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_msg: Option<String>,
    /// Whether the guest ignores SOFT stop/reboot.
    ignore_soft: bool,
}

fn sim_ops() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::Array,
            utoipa::openapi::schema::Type::Null,
        ]))
        .items(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .enum_values(Some(OPS.iter().copied())),
        )
        .build()
}

const OPS: &[&str] = &[
    "create",
    "os-start",
    "os-stop",
    "reboot",
    "os-hibernate",
    "rebuild",
    "logoff",
    "delete",
];

async fn desktop(st: &AppState, id: &DesktopId) -> ApiResult<DesktopRow> {
    st.store
        .get_desktops(std::slice::from_ref(id))
        .await?
        .pop()
        .ok_or_else(|| {
            ApiError::new(
                Code::DesktopNotFound,
                format!("Desktop {id} does not exist."),
            )
        })
}

fn view(f: SimFault) -> SimFaultView {
    SimFaultView {
        desktop_id: f.desktop_id.to_string(),
        fail_next: f.fail_remaining,
        // `ops: []` is stored as "" (no operation fails): shown as [], not [""].
        ops: f.fail_ops.map(|o| {
            o.split(',')
                .filter(|op| !op.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        error_code: f.error_code,
        error_msg: f.error_msg,
        ignore_soft: f.ignore_soft,
    }
}

/// Inject a fault into a simulated desktop.
#[utoipa::path(
    put,
    path = "/sim/v1/desktops/{desktop_id}/fault",
    tag = "sim",
    operation_id = "SimPutFault",
    params(DesktopPath),
    request_body = SimFaultRequest,
    responses(
        (status = 200, description = "The fault now in force.", body = SimFaultView),
        (status = 400, description = "A field is invalid.", body = ErrorBody),
        (status = 404, description = "The desktop does not exist.", body = ErrorBody),
    ),
)]
async fn put_fault(
    State(st): State<AppState>,
    Id(id): Id<DesktopId>,
    Json(req): Json<SimFaultRequest>,
) -> ApiResult<axum::Json<SimFaultView>> {
    desktop(&st, &id).await?;
    if req.fail_next < 0 {
        return Err(ApiError::invalid("fail_next must not be negative."));
    }
    if let Some(bad) = req
        .ops
        .iter()
        .flatten()
        .find(|o| !OPS.contains(&o.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "Invalid op {bad:?}; allowed: {}.",
            OPS.join(", ")
        )));
    }
    let fault = SimFault {
        desktop_id: id,
        fail_remaining: req.fail_next,
        fail_ops: req.ops.map(|o| o.join(",")),
        error_code: req.error_code,
        error_msg: req.error_msg,
        ignore_soft: req.ignore_soft,
    };
    st.store.put_sim_fault(&fault).await?;
    if let Some(sim) = &st.sim {
        sim.fault_injected();
    }
    Ok(axum::Json(view(fault)))
}

/// A simulated desktop's fault.
#[utoipa::path(
    get,
    path = "/sim/v1/desktops/{desktop_id}/fault",
    tag = "sim",
    operation_id = "SimGetFault",
    params(DesktopPath),
    responses(
        (status = 200, description = "The fault (none: `fail_next` 0).", body = SimFaultView),
        (status = 404, description = "The desktop does not exist.", body = ErrorBody),
    ),
)]
async fn get_fault(
    State(st): State<AppState>,
    Id(id): Id<DesktopId>,
) -> ApiResult<axum::Json<SimFaultView>> {
    desktop(&st, &id).await?;
    let f = st.store.get_sim_fault(&id).await?.unwrap_or(SimFault {
        desktop_id: id,
        ..SimFault::default()
    });
    Ok(axum::Json(view(f)))
}

/// Clear a simulated desktop's fault.
#[utoipa::path(
    delete,
    path = "/sim/v1/desktops/{desktop_id}/fault",
    tag = "sim",
    operation_id = "SimClearFault",
    params(DesktopPath),
    responses(
        (status = 204, description = "Cleared."),
        (status = 404, description = "The desktop does not exist.", body = ErrorBody),
    ),
)]
async fn clear_fault(State(st): State<AppState>, Id(id): Id<DesktopId>) -> ApiResult<StatusCode> {
    desktop(&st, &id).await?;
    st.store.clear_sim_fault(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A simulated user session change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimSessionRequest {
    /// CONNECTED, DISCONNECTED, or REGISTERED (the user left).
    #[schema(schema_with = login_statuses)]
    login_status: String,
}

fn login_statuses() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(SESSION_STATES.iter().copied()))
        .description(Some(
            "CONNECTED, DISCONNECTED, or REGISTERED (the user left).",
        ))
        .build()
}

/// The `login_status` values a simulated session may set.
const SESSION_STATES: &[&str] = &["CONNECTED", "DISCONNECTED", "REGISTERED"];

/// A simulated user connects to, disconnects from, or leaves a desktop.
#[utoipa::path(
    post,
    path = "/sim/v1/desktops/{desktop_id}/session",
    tag = "sim",
    operation_id = "SimSetSession",
    params(DesktopPath),
    request_body = SimSessionRequest,
    responses(
        (status = 204, description = "The desktop's login_status is set."),
        (status = 400, description = "login_status is invalid.", body = ErrorBody),
        (status = 404, description = "The desktop does not exist.", body = ErrorBody),
        (status = 409, description = "The desktop is not idle and ACTIVE.", body = ErrorBody),
    ),
)]
async fn session(
    State(st): State<AppState>,
    Id(id): Id<DesktopId>,
    Json(req): Json<SimSessionRequest>,
) -> ApiResult<StatusCode> {
    let d = desktop(&st, &id).await?;
    let login: LoginStatus = req
        .login_status
        .parse()
        .ok()
        .filter(|l| *l != LoginStatus::Unregister)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid login_status {:?}; allowed: CONNECTED, DISCONNECTED, REGISTERED.",
                req.login_status
            ))
        })?;
    if !st
        .store
        .set_login_status(&d.project_id, &id, login, crate::domain::time::now_ms())
        .await?
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "Desktop {id} is {} with task_status {:?}: users connect only to an idle ACTIVE desktop.",
                d.status,
                d.task_status
                    .map(super::super::domain::desktop::TaskStatus::as_str)
            ),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The simulated clock.
#[derive(Debug, Serialize, ToSchema)]
struct SimClock {
    /// Simulated milliseconds since the server started.
    elapsed_ms: u128,
}

/// The simulated clock.
#[utoipa::path(
    get,
    path = "/sim/v1/clock",
    tag = "sim",
    operation_id = "SimClock",
    responses((status = 200, description = "Simulated time elapsed.", body = SimClock)),
)]
async fn clock(State(st): State<AppState>) -> ApiResult<axum::Json<SimClock>> {
    let sim = st
        .sim
        .as_ref()
        .ok_or_else(|| ApiError::code(Code::RouteNotFound))?;
    Ok(axum::Json(SimClock {
        elapsed_ms: sim.clock().elapsed().as_millis(),
    }))
}

/// Move simulated time forward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimClockAdvance {
    /// Seconds to add, 0 to 1e9.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    seconds: f64,
}

/// Move the simulated clock forward.
#[utoipa::path(
    post,
    path = "/sim/v1/clock/advance",
    tag = "sim",
    operation_id = "SimAdvanceClock",
    request_body = SimClockAdvance,
    responses(
        (status = 200, description = "Simulated time elapsed.", body = SimClock),
        (status = 400, description = "seconds is out of range.", body = ErrorBody),
    ),
)]
async fn advance(
    State(st): State<AppState>,
    Json(req): Json<SimClockAdvance>,
) -> ApiResult<axum::Json<SimClock>> {
    let sim = st
        .sim
        .as_ref()
        .ok_or_else(|| ApiError::code(Code::RouteNotFound))?;
    if !(req.seconds.is_finite() && (0.0..=1e9).contains(&req.seconds)) {
        return Err(ApiError::invalid("seconds must be between 0 and 1e9."));
    }
    sim.clock().advance(Duration::from_secs_f64(req.seconds));
    Ok(axum::Json(SimClock {
        elapsed_ms: sim.clock().elapsed().as_millis(),
    }))
}

/// A user connecting to a pool.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimPoolConnectRequest {
    /// The user (a USER member of the pool, or anyone when a USER_GROUP is authorized).
    user_name: String,
}

/// Where the user landed.
#[derive(Debug, Serialize, ToSchema)]
struct SimPoolConnection {
    /// The desktop.
    desktop_id: String,
    /// Its name.
    computer_name: String,
}

/// A user of a pool connects: bound to their desktop (STATIC, or DYNAMIC within
/// the retention) or to a free idle ACTIVE one, which becomes CONNECTED. The user
/// must be authorized: named as a USER member, or any user when a USER_GROUP is
/// authorized (group membership is not modelled).
/// A user of a pool connects: bound to a desktop of the pool.
#[utoipa::path(
    post,
    path = "/sim/v1/desktop-pools/{pool_id}/connect",
    tag = "sim",
    operation_id = "SimPoolConnect",
    params(PoolPath),
    request_body = SimPoolConnectRequest,
    responses(
        (status = 200, description = "Where the user landed.", body = SimPoolConnection),
        (status = 403, description = "The user is not authorized for the pool.", body = ErrorBody),
        (status = 404, description = "The pool does not exist.", body = ErrorBody),
        (status = 409, description = "The pool has no free idle ACTIVE desktop.", body = ErrorBody),
    ),
)]
async fn pool_connect(
    State(st): State<AppState>,
    Id(pool_id): Id<PoolId>,
    Json(req): Json<SimPoolConnectRequest>,
) -> ApiResult<axum::Json<SimPoolConnection>> {
    st.store.pool_project(&pool_id).await?.ok_or_else(|| {
        ApiError::new(
            Code::PoolNotFound,
            format!("Desktop pool {pool_id} does not exist."),
        )
    })?;
    let (members, _) = st.store.list_pool_members(&pool_id, 0, i64::MAX).await?;
    let allowed = members.iter().any(|m| {
        m.object_type == "USER_GROUP" || (m.object_type == "USER" && m.object_name == req.user_name)
    });
    if !allowed {
        return Err(ApiError::new(
            Code::ForbiddenProject,
            format!(
                "User {} is not authorized for desktop pool {pool_id}.",
                req.user_name
            ),
        ));
    }
    let d = st
        .store
        .bind_pool_user(&pool_id, &req.user_name)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::NoFreeDesktop,
                format!(
                    "Desktop pool {pool_id} has no free idle ACTIVE desktop for {}.",
                    req.user_name
                ),
            )
        })?;
    Ok(axum::Json(SimPoolConnection {
        desktop_id: d.id.to_string(),
        computer_name: d.computer_name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(ops: Option<&str>) -> SimFault {
        SimFault {
            desktop_id: DesktopId::new(),
            fail_ops: ops.map(str::to_owned),
            ..SimFault::default()
        }
    }

    #[test]
    fn a_fault_shows_the_ops_it_was_given() {
        assert_eq!(view(fault(None)).ops, None);
        // `ops: []` is stored as "": it is shown as [], not [""].
        assert_eq!(view(fault(Some(""))).ops, Some(vec![]));
        assert_eq!(
            view(fault(Some("os-stop,reboot"))).ops,
            Some(vec!["os-stop".to_owned(), "reboot".to_owned()])
        );
    }
}
