//! `/sim/v1`: the simulator's extension API, outside the Huawei paths and
//! served only when the simulator is the driver. Fault injection per desktop,
//! simulated user sessions, and the simulated clock. Unauthenticated: it only
//! ever touches simulated machines (see README).

use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::state::AppState;
use crate::domain::desktop::LoginStatus;
use crate::domain::error_code::Code;
use crate::store::{DesktopRow, SimFault};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/sim/v1/desktops/{desktop_id}/fault",
            put(put_fault).get(get_fault).delete(clear_fault),
        )
        .route("/sim/v1/desktops/{desktop_id}/session", post(session))
        .route(
            "/sim/v1/desktop-pools/{pool_id}/connect",
            post(pool_connect),
        )
        .route("/sim/v1/clock", get(clock))
        .route("/sim/v1/clock/advance", post(advance))
}

/// A fault to inject.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultReq {
    /// How many of the next operations fail.
    #[serde(default)]
    fail_next: i64,
    /// Only these operations (`os-start`, `os-stop`, `reboot`, `os-hibernate`, `rebuild`, `logoff`, `delete`, `create`).
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
#[derive(Debug, Serialize)]
struct FaultView {
    desktop_id: String,
    fail_next: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_msg: Option<String>,
    ignore_soft: bool,
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

async fn desktop(st: &AppState, id: &str) -> ApiResult<DesktopRow> {
    st.store
        .get_desktops(&[id.to_owned()])
        .await?
        .pop()
        .ok_or_else(|| {
            ApiError::new(
                Code::DesktopNotFound,
                format!("Desktop {id} does not exist."),
            )
        })
}

fn view(f: SimFault) -> FaultView {
    FaultView {
        desktop_id: f.desktop_id,
        fail_next: f.fail_remaining,
        ops: f
            .fail_ops
            .map(|o| o.split(',').map(str::to_owned).collect()),
        error_code: f.error_code,
        error_msg: f.error_msg,
        ignore_soft: f.ignore_soft,
    }
}

async fn put_fault(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<FaultReq>,
) -> ApiResult<axum::Json<FaultView>> {
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

async fn get_fault(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<FaultView>> {
    desktop(&st, &id).await?;
    let f = st.store.get_sim_fault(&id).await?.unwrap_or(SimFault {
        desktop_id: id,
        ..SimFault::default()
    });
    Ok(axum::Json(view(f)))
}

async fn clear_fault(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    desktop(&st, &id).await?;
    st.store.clear_sim_fault(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A simulated user session change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionReq {
    /// CONNECTED, DISCONNECTED, or REGISTERED (the user left).
    login_status: String,
}

async fn session(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<SessionReq>,
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
        .set_login_status(
            &d.project_id,
            &id,
            login.as_str(),
            crate::domain::time::now_ms(),
        )
        .await?
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "Desktop {id} is {} with task_status {:?}: users connect only to an idle ACTIVE desktop.",
                d.status,
                d.task_status.map(|t| t.as_str())
            ),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The simulated clock.
#[derive(Debug, Serialize)]
struct ClockView {
    elapsed_ms: u128,
}

async fn clock(State(st): State<AppState>) -> ApiResult<axum::Json<ClockView>> {
    let sim = st
        .sim
        .as_ref()
        .ok_or_else(|| ApiError::code(Code::RouteNotFound))?;
    Ok(axum::Json(ClockView {
        elapsed_ms: sim.clock().elapsed().as_millis(),
    }))
}

/// Move simulated time forward.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceReq {
    seconds: f64,
}

async fn advance(
    State(st): State<AppState>,
    Json(req): Json<AdvanceReq>,
) -> ApiResult<axum::Json<ClockView>> {
    let sim = st
        .sim
        .as_ref()
        .ok_or_else(|| ApiError::code(Code::RouteNotFound))?;
    if !(req.seconds.is_finite() && (0.0..=1e9).contains(&req.seconds)) {
        return Err(ApiError::invalid("seconds must be between 0 and 1e9."));
    }
    sim.clock().advance(Duration::from_secs_f64(req.seconds));
    Ok(axum::Json(ClockView {
        elapsed_ms: sim.clock().elapsed().as_millis(),
    }))
}

/// A user connecting to a pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolConnectReq {
    user_name: String,
}

/// Where the user landed.
#[derive(Debug, Serialize)]
struct PoolConnectView {
    desktop_id: String,
    computer_name: String,
}

/// A user of a pool connects: bound to their desktop (STATIC, or DYNAMIC within
/// the retention) or to a free idle ACTIVE one, which becomes CONNECTED. The user
/// must be authorized: named as a USER member, or any user when a USER_GROUP is
/// authorized (group membership is not modelled).
async fn pool_connect(
    State(st): State<AppState>,
    Path(pool_id): Path<String>,
    Json(req): Json<PoolConnectReq>,
) -> ApiResult<axum::Json<PoolConnectView>> {
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
    Ok(axum::Json(PoolConnectView {
        desktop_id: d.id,
        computer_name: d.computer_name,
    }))
}
