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
pub mod pools;
mod present;
pub mod ratelimit;
mod sim_ext;
pub mod state;
mod submit;
mod tokens;
mod users;

use crate::domain::error_code::Code;
use axum::Router;
use axum::extract::State;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use error::ApiError;
use state::AppState;

/// The whole application.
pub fn router(st: AppState) -> Router {
    let v2 = Router::new()
        .merge(catalog::routes())
        .merge(users::routes())
        .merge(desktops::routes())
        .merge(batch::routes())
        .merge(jobs::routes())
        .merge(pools::routes())
        .route_layer(from_fn_with_state(st.clone(), auth::authenticate));
    let mut app = Router::new()
        .merge(v2)
        .merge(tokens::routes())
        .route("/health", get(health))
        .route("/ready", get(ready));
    if st.sim.is_some() {
        app = app.merge(sim_ext::routes());
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(auth::request_id))
        .with_state(st)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn ready(State(st): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    st.store
        .project_exists("")
        .await
        .map_err(|_| ApiError::new(Code::Unavailable, "The database does not answer."))?;
    Ok(axum::Json(serde_json::json!({"status": "ready"})))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(Code::RouteNotFound, format!("No such API: {}.", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!("Method {method} is not allowed on {}.", uri.path()),
    )
}
