//! Keystone-style tokens: `POST /v3/auth/tokens` (password method, project
//! scope) answers 201 with the token in `X-Subject-Token`; any `/v2` request may
//! then send it as `X-Auth-Token`. `GET` checks a token, `DELETE` revokes one.
//! Only a SHA-256 of each token is stored.

use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::state::AppState;
use crate::auth::passwords::{new_token, token_hash, verify_password};
use crate::domain::error_code::Code;
use crate::domain::ids::ProjectId;
use crate::domain::time::{now_ms, rfc3339};
use crate::store::TokenRow;
use crate::wire::error_body::ErrorBody;
use crate::wire::tokens::{KeystoneAuthRequest, KeystoneRef, KeystoneToken, KeystoneTokenResponse};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue, inspect, revoke))
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::new(Code::TokenInvalid, msg)
}

/// Issue a token for an API user (password method, project scope).
#[utoipa::path(
    post,
    path = "/v3/auth/tokens",
    tag = "tokens",
    operation_id = "KeystoneCreateUserTokenByPassword",
    request_body = KeystoneAuthRequest,
    responses(
        (status = 201, description = "The token is in `X-Subject-Token`.", body = KeystoneTokenResponse,
            headers(("X-Subject-Token" = String, description = "The token, for `X-Auth-Token`."))),
        (status = 400, description = "The body lacks the password method or the project scope.", body = ErrorBody),
        (status = 401, description = "Wrong user name, password or project.", body = ErrorBody),
    ),
)]
async fn issue(
    State(st): State<AppState>,
    Json(req): Json<KeystoneAuthRequest>,
) -> ApiResult<Response> {
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
    // The same answer for a project that cannot exist, an unknown user and a wrong password.
    let stored = match project.parse::<ProjectId>() {
        Ok(project) => st.store.get_api_user(&project, &user.name).await?,
        Err(_) => None,
    };
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
        project_id: stored.project_id.clone(),
        user_name: stored.user_name.clone(),
        created_ms: now,
        expires_ms: now.saturating_add(ttl),
        revoked: false,
    };
    st.store.insert_token(&row).await?;
    let mut body = token_view(&row);
    body.token.catalog = Some(Vec::new());
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    let header = HeaderValue::from_str(&token).map_err(|_| ApiError::code(Code::Internal))?;
    resp.headers_mut().insert("x-subject-token", header);
    Ok(resp)
}

fn token_view(row: &TokenRow) -> KeystoneTokenResponse {
    let named = |s: &str| KeystoneRef {
        id: s.to_owned(),
        name: s.to_owned(),
    };
    KeystoneTokenResponse {
        token: KeystoneToken {
            methods: vec!["password".into()],
            issued_at: rfc3339(row.created_ms),
            expires_at: rfc3339(row.expires_ms),
            project: named(row.project_id.as_str()),
            user: named(&row.user_name),
            catalog: None,
        },
    }
}

/// The user a valid, unexpired, unrevoked token of `project` belongs to.
pub async fn verify(st: &AppState, token: &str, project: &ProjectId) -> ApiResult<String> {
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
    if &row.project_id != project {
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

/// The caller's and the subject's token headers of `GET`/`DELETE`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "documents headers the handlers read from the HeaderMap"
)]
struct TokenHeaders {
    /// The caller's own valid token.
    #[param(rename = "X-Auth-Token")]
    x_auth_token: String,
    /// The token to check or revoke (of the caller's project).
    #[param(rename = "X-Subject-Token")]
    x_subject_token: String,
}

/// Check a token.
#[utoipa::path(
    get,
    path = "/v3/auth/tokens",
    tag = "tokens",
    operation_id = "KeystoneValidateToken",
    params(TokenHeaders),
    responses(
        (status = 200, description = "The subject token is valid.", body = KeystoneTokenResponse),
        (status = 400, description = "A token header is missing.", body = ErrorBody),
        (status = 401, description = "The caller's or the subject token is not valid.", body = ErrorBody),
    ),
)]
async fn inspect(
    State(st): State<AppState>,
    h: HeaderMap,
) -> ApiResult<axum::Json<KeystoneTokenResponse>> {
    let me = caller_token(&st, &h).await?;
    let subject = st
        .store
        .get_token(&token_hash(header(&h, "x-subject-token")?))
        .await?;
    let row = subject
        .filter(|r| r.project_id == me.project_id && !r.revoked && r.expires_ms > now_ms())
        .ok_or_else(|| ApiError::new(Code::TokenInvalid, "The subject token is not valid."))?;
    Ok(axum::Json(token_view(&row)))
}

/// Revoke a token.
#[utoipa::path(
    delete,
    path = "/v3/auth/tokens",
    tag = "tokens",
    operation_id = "KeystoneDeleteToken",
    params(TokenHeaders),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "A token header is missing.", body = ErrorBody),
        (status = 401, description = "The caller's or the subject token is not valid.", body = ErrorBody),
    ),
)]
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
