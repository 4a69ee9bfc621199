//! The one place failures become responses: `{"error_code", "error_msg"}` with the
//! status the code table owns. 5xx are logged at error with their source; 4xx at debug.

use crate::domain::error_code::Code;
use crate::domain::names::NameError;
use crate::jobs::pools::GrowError;
use crate::jobs::provision::CreateError;
use crate::store::StoreError;
use crate::wire::error_body::ErrorBody;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API failure.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code (and so the HTTP status).
    pub code: Code,
    /// `error_msg`.
    pub message: String,
    /// `error_detail`.
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with a specific message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// An error with the code's default message.
    #[must_use]
    pub fn code(code: Code) -> Self {
        Self::new(code, code.default_message())
    }

    /// A 400 naming the parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidParameter, message)
    }

    /// Attach `error_detail`.
    #[must_use]
    pub fn with_detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The body, with the request id for gateway (`APIGW.*`) errors.
    #[must_use]
    pub fn body(&self, request_id: Option<&str>) -> ErrorBody {
        let gateway = self.code.wire().starts_with("APIGW.");
        ErrorBody {
            error_code: self.code.wire().to_owned(),
            error_msg: self.message.clone(),
            error_detail: self.detail.clone(),
            request_id: if gateway {
                request_id.map(str::to_owned)
            } else {
                None
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let Some(fault) = e.fault() {
            // The environment's failure, not the request's: a 503 naming it, and
            // the write it interrupted was rolled back whole.
            tracing::warn!(error = %e, fault = fault.name(), "store unavailable");
            return Self::code(fault.code());
        }
        match e {
            StoreError::Conflict(what) => {
                Self::new(Code::Conflict, format!("already exists: {what}"))
            }
            StoreError::NamesTaken(names) => {
                NameError::Taken(names.first().cloned().unwrap_or_default()).into()
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::code(Code::Internal)
            }
        }
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::PrefixTooLong(_) => Self::invalid(e.to_string()),
            NameError::Taken(_) => Self::new(Code::ComputerNameExists, e.to_string()),
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Names(n) => n.into(),
            CreateError::Store(s) => s.into(),
        }
    }
}

impl From<GrowError> for ApiError {
    fn from(e: GrowError) -> Self {
        match e {
            GrowError::Catalog(what) => Self::new(
                Code::ImageNotFound,
                format!("The pool's desktops cannot be made: {what}."),
            ),
            GrowError::Create(c) => c.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.response(None)
    }
}

impl ApiError {
    /// The response of every failure, handlers' and the auth layer's alike
    /// (`request_id` for the body of gateway errors).
    #[must_use]
    pub fn response(self, request_id: Option<&str>) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = self.code.wire(), msg = %self.message, "request failed");
        } else {
            tracing::debug!(code = self.code.wire(), msg = %self.message, "request refused");
        }
        let mut response = (status, Json(self.body(request_id))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Storage faults clear by themselves or not at all: a few seconds apart.
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

impl super::extract::PathId for crate::domain::ids::DesktopId {
    const PARAM: &'static str = "desktop_id";
    fn not_found(raw: &str) -> ApiError {
        ApiError::new(
            Code::DesktopNotFound,
            format!("Desktop {raw} does not exist."),
        )
    }
}

impl super::extract::PathId for crate::domain::ids::JobId {
    const PARAM: &'static str = "job_id";
    fn not_found(raw: &str) -> ApiError {
        ApiError::new(Code::JobNotFound, format!("Job {raw} does not exist."))
    }
}

impl super::extract::PathId for crate::domain::ids::PoolId {
    const PARAM: &'static str = "pool_id";
    fn not_found(raw: &str) -> ApiError {
        ApiError::new(
            Code::PoolNotFound,
            format!("Desktop pool {raw} does not exist."),
        )
    }
}

impl super::extract::PathId for crate::domain::ids::UserId {
    const PARAM: &'static str = "user_id";
    fn not_found(raw: &str) -> ApiError {
        ApiError::new(Code::UserNotFound, format!("User {raw} does not exist."))
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
