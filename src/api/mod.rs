//! The HTTP API: one module per resource (routes at the top, then handlers),
//! authentication and request ids as middleware, one error type.

mod auth;
mod batch;
mod catalog;
mod create_plan;
mod desktops;
pub mod error;
pub mod extract;
mod jobs;
pub mod openapi;
pub mod pools;
mod present;
pub mod ratelimit;
mod sim_applied;
mod sim_ext;
pub mod state;
mod submit;
mod tokens;
mod users;

use crate::domain::error_code::Code;
use crate::wire::health::HealthResponse;
use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn;
use error::ApiError;
use state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The route table: every route the server registers, each through `routes!`
/// so that it is documented. `v2` goes behind the authentication layer; `open`
/// is served as is. `/sim/v1` is in it only when the simulator is the driver.
struct Table {
    v2: OpenApiRouter<AppState>,
    open: OpenApiRouter<AppState>,
}

fn table(sim: bool) -> Table {
    let v2 = OpenApiRouter::new()
        .merge(catalog::routes())
        .merge(users::routes())
        .merge(desktops::routes())
        .merge(batch::routes())
        .merge(jobs::routes())
        .merge(pools::routes());
    let mut open = OpenApiRouter::new()
        .merge(tokens::routes())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(openapi::document));
    if sim {
        open = open.merge(sim_ext::routes()).merge(sim_applied::routes());
    }
    Table { v2, open }
}

/// Every `(METHOD, path)` the router of a server with (`sim`) or without the
/// simulator registers, read from the same route table that builds it.
#[must_use]
pub fn registered_routes(sim: bool) -> std::collections::BTreeSet<(String, String)> {
    let t = table(sim);
    let mut all = openapi::operations(t.v2.get_openapi());
    all.extend(openapi::operations(t.open.get_openapi()));
    all
}

/// The documented router of the server `st` configures.
fn routes(st: &AppState) -> OpenApiRouter<AppState> {
    let t = table(st.sim.is_some());
    openapi::base()
        .merge(openapi::authenticated(t.v2, st))
        .merge(t.open)
}

/// The whole application.
pub fn router(st: AppState) -> Router {
    let (app, doc) = routes(&st).split_for_parts();
    let rendered = openapi::finish(doc)
        .to_json()
        .expect("the OpenAPI document is plain data and serializes");
    app.layer(axum::Extension(openapi::Rendered(rendered.into())))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(auth::request_id))
        .with_state(st)
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    operation_id = "Health",
    responses((status = 200, description = "The server is up.", body = HealthResponse)),
)]
async fn health() -> axum::Json<HealthResponse> {
    axum::Json(HealthResponse {
        status: "ok".into(),
    })
}

/// Readiness: the database answers and takes writes.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "service",
    operation_id = "Ready",
    responses(
        (status = 200, description = "The database answers and takes writes.", body = HealthResponse),
        (status = 503, description = "The database does not answer, or cannot write (the code names why).", body = crate::wire::error_body::ErrorBody),
    ),
)]
async fn ready(State(st): State<AppState>) -> Result<axum::Json<HealthResponse>, ApiError> {
    if let Some(u) = st.health.unhealthy() {
        let since = crate::domain::time::rfc3339(u.since_ms);
        return Err(ApiError::new(
            u.fault.code(),
            format!(
                "{} Writes have failed since {since}.",
                u.fault.code().default_message()
            ),
        ));
    }
    st.store
        .ping()
        .await
        .map_err(|_| ApiError::new(Code::Unavailable, "The database does not answer."))?;
    Ok(axum::Json(HealthResponse {
        status: "ready".into(),
    }))
}

async fn not_found(uri: http::Uri) -> ApiError {
    ApiError::new(Code::RouteNotFound, format!("No such API: {}.", uri.path()))
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!("Method {method} is not allowed on {}.", uri.path()),
    )
}
