//! The OpenAPI 3.1 document served at `GET /openapi.json` (issue 5).
//!
//! It is not written by hand: every route is registered through
//! `utoipa_axum::OpenApiRouter` with `routes!`, which takes the path and method
//! from the handler's `#[utoipa::path]`, so registering a route and documenting
//! it are one act. Schemas come from the `ToSchema`/`IntoParams` derives of
//! `crate::wire`. What middleware and extractors add to every operation they
//! guard is documented here, next to where they are applied:
//! [`authenticated`] for the `/v2` authentication layer and [`finish`] for the
//! JSON-body extractor.

use super::state::AppState;
use crate::wire::error_body::ErrorBody;
use axum::Extension;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, Response};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

/// Security scheme: the `Authorization: SDK-HMAC-SHA256 ...` header.
pub const SDK_HMAC: &str = "sdk_hmac";
/// Security scheme: the `X-Sdk-Date` header signed with it.
pub const SDK_DATE: &str = "x_sdk_date";
/// Security scheme: a Keystone-style `X-Auth-Token`.
pub const AUTH_TOKEN: &str = "x_auth_token";

/// The document's fixed parts; `paths` come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "deskplane",
        description = "A self-hostable cloud-desktop control plane whose `/v2` API is wire-compatible \
with the Huawei Cloud Workspace v2 API (huaweicloudsdkworkspace 3.1.219). Every `/v2` request is \
authenticated either by an SDK-HMAC-SHA256 signature (the `Authorization` and `X-Sdk-Date` headers, \
exactly as the official SDKs sign) or by an `X-Auth-Token` from `POST /v3/auth/tokens`. Every \
response carries `X-Request-Id`; every failure has the body `ErrorBody`. `/sim/v1` exists only \
while the simulator is the compute driver.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "catalog", description = "Products, images and availability zones (read-only)."),
        (name = "users", description = "Desktop users and the notifications sent to them."),
        (name = "desktops", description = "Desktops: create, list, show, delete, action history."),
        (name = "batch", description = "Operations on many desktops, each queued as one job."),
        (name = "jobs", description = "Jobs and their sub-jobs (one per desktop)."),
        (name = "pools", description = "Desktop pools."),
        (name = "tokens", description = "Keystone-style tokens for `X-Auth-Token`."),
        (name = "service", description = "Liveness, readiness and this document."),
        (name = "sim", description = "The simulator's extension: faults, user sessions, clock."),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            SDK_HMAC,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`SDK-HMAC-SHA256 Access={AK}, SignedHeaders={a;b;c}, Signature={hex}`: HMAC-SHA256, \
keyed by the secret key, of the canonical request (method, path, sorted query, the signed headers, \
SHA-256 of the body), as huaweicloudsdkcore's signer computes it. Sent together with `X-Sdk-Date`.",
            ))),
        );
        c.add_security_scheme(
            SDK_DATE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Sdk-Date",
                "The signing time, UTC `%Y%m%dT%H%M%SZ`; at most 15 minutes off the server's clock.",
            ))),
        );
        c.add_security_scheme(
            AUTH_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A token from `POST /v3/auth/tokens` (the `X-Subject-Token` header of its answer), \
scoped to the project of the path. Used only when `Authorization` is absent.",
            ))),
        );
    }
}

/// An empty router carrying the document's fixed parts.
#[must_use]
pub fn base() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}

/// `ErrorBody` as a response.
fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

/// Add `status` to `op` unless the handler documented it more precisely.
fn ensure(op: &mut Operation, status: &str, response: impl FnOnce() -> Response) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(response()));
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The `(METHOD, path)` of every operation of `doc`.
#[must_use]
pub fn operations(doc: &Document) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ] {
            if op.is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// Apply the `/v2` authentication layer to `routes`, and document what it does
/// to each of their operations: the two ways to authenticate, and the answers
/// the layer gives before any handler runs.
pub fn authenticated(routes: OpenApiRouter<AppState>, st: &AppState) -> OpenApiRouter<AppState> {
    let mut routes = routes.route_layer(axum::middleware::from_fn_with_state(
        st.clone(),
        super::auth::authenticate,
    ));
    let signed = SecurityRequirement::new(SDK_HMAC, Vec::<String>::new())
        .add(SDK_DATE, Vec::<String>::new());
    let token = SecurityRequirement::new(AUTH_TOKEN, Vec::<String>::new());
    for item in routes.get_openapi_mut().paths.paths.values_mut() {
        for op in operations_mut(item) {
            op.security = Some(vec![signed.clone(), token.clone()]);
            ensure(op, "400", || {
                error("A parameter is invalid, or the path's project id is malformed.")
            });
            ensure(op, "401", || {
                error(
                    "The signature or token is missing, wrong, or expired (`APIGW.0301`, with \
`request_id`), or the token is invalid.",
                )
            });
            ensure(op, "403", || {
                error("The credential belongs to another project.")
            });
            ensure(op, "404", || error("The project does not exist."));
            ensure(op, "413", || error("The request body is too large."));
            ensure(op, "429", || {
                let mut r = error("The credential's rate limit is exceeded.");
                r.headers.insert(
                    "Retry-After".into(),
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::Integer))
                        .description(Some("Seconds to wait."))
                        .build(),
                );
                r
            });
        }
    }
    routes
}

/// Document what the JSON-body extractor (`extract::Json`) answers for every
/// operation that takes a body.
#[must_use]
pub fn finish(mut doc: Document) -> Document {
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            if let Some(RequestBody { .. }) = &op.request_body {
                ensure(op, "400", || {
                    error(
                        "The body is empty, not JSON, or has a wrong field (named in `error_msg`).",
                    )
                });
                ensure(op, "413", || error("The request body is too large."));
                ensure(op, "415", || {
                    error("The body is not sent as `application/json`.")
                });
            }
        }
    }
    doc
}

/// The document, rendered once at start.
#[derive(Clone)]
pub struct Rendered(pub bytes::Bytes);

/// The OpenAPI document of this server (unauthenticated).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    operation_id = "GetOpenApi",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object)),
)]
pub async fn document(Extension(doc): Extension<Rendered>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(http::header::CONTENT_TYPE, "application/json")], doc.0).into_response()
}
