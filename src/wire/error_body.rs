//! The error body of every 4xx/5xx: `{"error_code", "error_msg"}` plus, where the
//! seeds list it, `error_detail` (seed 001). The gateway's 401 also carries `request_id`.

use serde::Serialize;
use utoipa::ToSchema;

/// Huawei's error body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `WKS.xxxx` or `APIGW.xxxx`.
    pub error_code: String,
    /// Human-readable reason.
    pub error_msg: String,
    /// More detail (per-desktop reasons as JSON text, when a batch applies to none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// The request id, as the API gateway puts it in its own bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
