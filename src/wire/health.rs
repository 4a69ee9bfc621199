//! `GET /health` and `GET /ready` (ours: not in the Huawei API).

use serde::Serialize;
use utoipa::ToSchema;

/// The service's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` (`/health`) or `ready` (`/ready`).
    pub status: String,
}
