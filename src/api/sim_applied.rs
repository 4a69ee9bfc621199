//! `GET /sim/v1/applied`: what the simulator carried out, when
//! `[sim] record_applied` is on. A sub-job re-run after its worker died is
//! carried out once; the fault campaign compares this record with the sub-jobs.

use super::error::ApiResult;
use super::extract::QueryParams;
use super::state::AppState;
use crate::domain::ids::DesktopId;
use crate::domain::time::rfc3339;
use crate::wire::params::{AppliedQuery, Page};
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_applied))
}

/// One operation the simulator carried out.
#[derive(Debug, Serialize, ToSchema)]
struct Applied {
    /// The sub-job it carried out.
    sub_job_id: String,
    /// The desktop.
    desktop_id: String,
    /// `create`, `os-start`, `os-stop`, `reboot`, `os-hibernate`, `rebuild`, `logoff`, `delete`.
    operation: String,
    /// The node whose simulator did it.
    node: String,
    /// When it completed (RFC 3339).
    at: String,
}

/// A page of what the simulator carried out.
#[derive(Debug, Serialize, ToSchema)]
struct AppliedList {
    /// Oldest first.
    applied: Vec<Applied>,
    /// Entries before paging.
    total_count: i64,
}

/// What the simulator carried out, oldest first.
#[utoipa::path(
    get,
    path = "/sim/v1/applied",
    tag = "sim",
    operation_id = "SimListApplied",
    params(AppliedQuery, Page),
    responses(
        (status = 200, description = "Operations carried out (empty unless `[sim] record_applied`).", body = AppliedList),
        (status = 400, description = "offset or limit is out of range.", body = crate::wire::error_body::ErrorBody),
    ),
)]
async fn list_applied(
    State(st): State<AppState>,
    q: QueryParams,
) -> ApiResult<axum::Json<AppliedList>> {
    let offset = q.int("offset", 0, 0, i64::from(i32::MAX))?;
    let limit = q.int("limit", st.limits.max_page, 0, st.limits.max_page)?;
    // A desktop id that cannot be one matches nothing.
    let desktop = match q.get("desktop_id").map(str::parse::<DesktopId>) {
        Some(Err(_)) => {
            return Ok(axum::Json(AppliedList {
                applied: Vec::new(),
                total_count: 0,
            }));
        }
        other => other.transpose().ok().flatten(),
    };
    let (rows, total_count) = st
        .store
        .list_sim_applied(desktop.as_ref(), offset, limit)
        .await?;
    let applied = rows
        .into_iter()
        .map(|a| Applied {
            sub_job_id: a.op_id.to_string(),
            desktop_id: a.desktop_id.to_string(),
            operation: a.operation,
            node: a.node,
            at: rfc3339(a.at_ms),
        })
        .collect();
    Ok(axum::Json(AppliedList {
        applied,
        total_count,
    }))
}
