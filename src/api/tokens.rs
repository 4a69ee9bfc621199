//! Keystone-style tokens: `POST /v3/auth/tokens` (password method, project
//! scope) answers 201 with the token in `X-Subject-Token`; any `/v2` request may
//! then send it as `X-Auth-Token`. `GET` checks a token, `DELETE` revokes one.
//! Only a SHA-256 of each token is stored.

use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::state::AppState;
use crate::auth::passwords::{new_token, token_hash, verify_password};
use crate::domain::error_code::Code;
use crate::domain::time::{now_ms, rfc3339};
use crate::store::TokenRow;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v3/auth/tokens", post(issue).get(inspect).delete(revoke))
}

/// The Keystone request body (the parts deskplane reads).
#[derive(Debug, Deserialize)]
struct AuthReq {
    auth: Auth,
}

#[derive(Debug, Deserialize)]
struct Auth {
    identity: Identity,
    scope: Option<Scope>,
}

#[derive(Debug, Deserialize)]
struct Identity {
    methods: Vec<String>,
    password: Option<PasswordIdentity>,
}

#[derive(Debug, Deserialize)]
struct PasswordIdentity {
    user: PasswordUser,
}

#[derive(Debug, Deserialize)]
struct PasswordUser {
    name: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct Scope {
    project: Option<ProjectScope>,
}

#[derive(Debug, Deserialize)]
struct ProjectScope {
    id: Option<String>,
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::new(Code::TokenInvalid, msg)
}

async fn issue(State(st): State<AppState>, Json(req): Json<AuthReq>) -> ApiResult<Response> {
    let auth = req.auth;
    if !auth.identity.methods.iter().any(|m| m == "password") {
        return Err(ApiError::invalid(
            "auth.identity.methods must include \"password\".",
        ));
    }
    let user = auth
        .identity
        .password
        .ok_or_else(|| ApiError::invalid("Missing parameter auth.identity.password."))?
        .user;
    let project = auth
        .scope
        .and_then(|s| s.project)
        .and_then(|p| p.id)
        .ok_or_else(|| {
            ApiError::invalid(
                "Missing parameter auth.scope.project.id: tokens are scoped to a project.",
            )
        })?;
    let stored = st.store.get_api_user(&project, &user.name).await?;
    // The same answer for an unknown user and a wrong password.
    let Some(stored) = stored.filter(|u| verify_password(&user.password, &u.password_hash)) else {
        return Err(unauthorized(
            "User authorization error: wrong user name, password or project.",
        ));
    };
    let token = new_token();
    let now = now_ms();
    let ttl = i64::try_from(st.token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let row = TokenRow {
        token_hash: token_hash(&token),
        project_id: project.clone(),
        user_name: stored.user_name.clone(),
        created_ms: now,
        expires_ms: now.saturating_add(ttl),
        revoked: false,
    };
    st.store.insert_token(&row).await?;
    let body = json!({"token": {
        "methods": ["password"],
        "issued_at": rfc3339(now),
        "expires_at": rfc3339(row.expires_ms),
        "project": {"id": project, "name": project},
        "user": {"id": stored.user_name, "name": stored.user_name},
        "catalog": []
    }});
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    let header = HeaderValue::from_str(&token).map_err(|_| ApiError::code(Code::Internal))?;
    resp.headers_mut().insert("x-subject-token", header);
    Ok(resp)
}

/// The user a valid, unexpired, unrevoked token of `project` belongs to.
pub async fn verify(st: &AppState, token: &str, project: &str) -> ApiResult<String> {
    let gateway = |why: &str| {
        ApiError::new(
            Code::AuthFailed,
            format!("Incorrect IAM authentication information: {why}"),
        )
    };
    let row = st
        .store
        .get_token(&token_hash(token))
        .await?
        .ok_or_else(|| gateway("decrypt token fail"))?;
    if row.revoked {
        return Err(gateway("token has been revoked"));
    }
    if row.expires_ms <= now_ms() {
        return Err(gateway("token expired"));
    }
    if row.project_id != project {
        return Err(super::auth::wrong_project(st, project).await);
    }
    Ok(row.user_name)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::invalid(format!("Missing header {name}.")))
}

/// The caller's own token must be valid (any project) to inspect or revoke one.
async fn caller_token(st: &AppState, h: &HeaderMap) -> ApiResult<TokenRow> {
    let own = header(h, "x-auth-token")?;
    let row = st.store.get_token(&token_hash(own)).await?;
    row.filter(|r| !r.revoked && r.expires_ms > now_ms())
        .ok_or_else(|| {
            ApiError::new(
                Code::AuthFailed,
                "Incorrect IAM authentication information: decrypt token fail",
            )
        })
}

async fn inspect(
    State(st): State<AppState>,
    h: HeaderMap,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let me = caller_token(&st, &h).await?;
    let subject = st
        .store
        .get_token(&token_hash(header(&h, "x-subject-token")?))
        .await?;
    let row = subject
        .filter(|r| r.project_id == me.project_id && !r.revoked && r.expires_ms > now_ms())
        .ok_or_else(|| ApiError::new(Code::TokenInvalid, "The subject token is not valid."))?;
    Ok(axum::Json(json!({"token": {
        "methods": ["password"],
        "issued_at": rfc3339(row.created_ms),
        "expires_at": rfc3339(row.expires_ms),
        "project": {"id": row.project_id, "name": row.project_id},
        "user": {"id": row.user_name, "name": row.user_name}
    }})))
}

async fn revoke(State(st): State<AppState>, h: HeaderMap) -> ApiResult<StatusCode> {
    let me = caller_token(&st, &h).await?;
    let hash = token_hash(header(&h, "x-subject-token")?);
    match st.store.get_token(&hash).await? {
        Some(r) if r.project_id == me.project_id => {
            st.store.revoke_token(&hash).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::new(
            Code::TokenInvalid,
            "The subject token is not valid.",
        )),
    }
}
