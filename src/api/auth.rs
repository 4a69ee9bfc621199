//! Authentication of `/v2/...`: the request id, the body limit and the
//! `SDK-HMAC-SHA256` signature are checked before any handler runs, and the
//! path's project must be the credential's. Failures answer as Huawei's gateway does.

use super::error::ApiError;
use super::state::{AppState, CachedCredential, Caller, RequestId};
use crate::auth::sdk_hmac::{self, AuthError, RequestParts};
use crate::domain::error_code::Code;
use crate::domain::ids::ProjectId;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::{Duration, Instant};

const CACHE_TTL: Duration = Duration::from_secs(30);

/// Give every response an `X-Request-Id`, echoing a sane one the client sent.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Verify the signature (or token) and the project of a `/v2/{project_id}/...`
/// request, then apply the caller's rate limit.
pub async fn authenticate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let rid = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let refused = |e: ApiError| e.response(rid.as_deref());
    let req = match check(&st, req).await {
        Ok(req) => req,
        Err(e) if e.code == Code::RequestTooLarge => {
            // What is left of the body (past the drain bound) may still be on its
            // way: the connection is not reused, and the client is told so.
            let mut resp = refused(e);
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
        Err(e) => return refused(e),
    };
    let principal = req
        .extensions()
        .get::<Caller>()
        .map(|c| c.principal.clone())
        .unwrap_or_default();
    if let Err(wait) = st.rate.check(&principal) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let msg = format!("Too many requests: retry after {secs} s.");
        let mut resp = refused(ApiError::new(Code::RateLimited, msg));
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    next.run(req).await
}

/// How much of an oversized body is read and thrown away before the 413 goes out.
const DRAIN_BYTES: usize = 32 << 20;
/// How long that may take.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The body, up to `limit` bytes. The rest of an oversized one is still read
/// (within [`DRAIN_BYTES`] and [`DRAIN_TIME`]) before the 413 is answered: a
/// server that closes a connection with unread data in it makes the kernel reset
/// it, and the reset can destroy the answer before the client reads it.
async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use futures::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut kept = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::invalid(format!("The request body could not be read: {e}.")))?;
        if kept.len() + chunk.len() > limit {
            let mut seen = kept.len() + chunk.len();
            let drain = async {
                while seen <= DRAIN_BYTES {
                    match stream.next().await {
                        Some(Ok(more)) => seen += more.len(),
                        _ => break,
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
            let msg = format!("Request entity too large: the limit is {limit} bytes.");
            return Err(ApiError::new(Code::RequestTooLarge, msg));
        }
        kept.extend_from_slice(&chunk);
    }
    Ok(kept.freeze())
}

async fn check(st: &AppState, req: Request) -> Result<Request, ApiError> {
    let project = path_project(req.uri().path())?;
    let (mut parts, body) = req.into_parts();
    let body = read_body(body, st.limits.max_body_bytes).await?;
    if parts.headers.get("authorization").is_none()
        && let Some(token) = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
    {
        let user = super::tokens::verify(st, token, &project).await?;
        let principal = format!("token:{user}");
        parts.extensions.insert(Caller {
            project_id: project,
            principal,
        });
        return Ok(Request::from_parts(parts, Body::from(body)));
    }
    let header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| gateway(&AuthError::MissingAuthorization))?;
    let auth = sdk_hmac::parse_authorization(header).map_err(|e| gateway(&e))?;
    let cred = credential(st, &auth.access_key)
        .await?
        .ok_or_else(|| gateway(&AuthError::UnknownAccessKey))?;
    let request = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let skew = Duration::from_secs(st.auth.max_skew_secs);
    sdk_hmac::verify(
        &request,
        &auth,
        &cred.secret,
        time::OffsetDateTime::now_utc(),
        skew,
    )
    .map_err(|e| gateway(&e))?;
    if cred.project_id != project {
        return Err(wrong_project(st, &project).await);
    }
    parts.extensions.insert(Caller {
        project_id: project,
        principal: auth.access_key,
    });
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// 403 for another existing project, 404 for an unknown one.
pub async fn wrong_project(st: &AppState, project: &ProjectId) -> ApiError {
    match st.store.project_exists(project).await {
        Ok(true) => ApiError::new(
            Code::ForbiddenProject,
            format!("The credential is not allowed to act on project {project}."),
        ),
        Ok(false) => ApiError::new(
            Code::ProjectNotFound,
            format!("Project {project} does not exist."),
        ),
        Err(e) => e.into(),
    }
}

fn gateway(e: &AuthError) -> ApiError {
    tracing::debug!(reason = %e, "authentication refused");
    ApiError::new(Code::AuthFailed, e.gateway_message())
}

/// The `{project_id}` segment of `/v2/{project_id}/...`, validated.
fn path_project(path: &str) -> Result<ProjectId, ApiError> {
    let raw = path.split('/').nth(2).unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    if decoded.contains('{') {
        return Err(ApiError::new(
            Code::BadPathProject,
            "The path has no project id (it reads {project_id}): give the SDK credentials a project_id.",
        ));
    }
    decoded.parse::<ProjectId>().map_err(|_| {
        ApiError::new(
            Code::BadPathProject,
            format!("Invalid project id in path: {decoded:?}."),
        )
    })
}

async fn credential(st: &AppState, access_key: &str) -> Result<Option<CachedCredential>, ApiError> {
    {
        let cache = st
            .credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache
            .get(access_key)
            .filter(|c| c.loaded.elapsed() < CACHE_TTL)
        {
            return Ok(Some(c.clone()));
        }
    }
    let Some(row) = st.store.get_credential(access_key).await? else {
        return Ok(None);
    };
    let secret = st.sealer.open(&row.secret_sealed).map_err(|e| {
        tracing::error!(error = %e, access_key, "cannot open a sealed secret key: wrong server key?");
        ApiError::code(Code::Internal)
    })?;
    let c = CachedCredential {
        project_id: row.project_id,
        secret,
        loaded: Instant::now(),
    };
    let mut cache = st
        .credentials
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.insert(access_key.to_owned(), c.clone());
    Ok(Some(c))
}
