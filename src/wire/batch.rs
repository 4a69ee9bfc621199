//! The four desktop batch operations (seeds 000, 002, 003, 004) and the pool action (seed 001).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// BatchActionDesktopsReq — `POST /desktops/action`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BatchActionDesktopsReq {
    /// Desktop ids (required, 1..=100).
    #[schema(required = true, nullable = false, min_items = 1, max_items = 100)]
    pub desktop_ids: Option<Vec<String>>,
    /// `os-start`, `os-stop`, `reboot`, `os-hibernate` (required).
    #[schema(schema_with = super::values::desktop_action_op, required = true)]
    pub op_type: Option<String>,
    /// `SOFT` (default) or `HARD`.
    #[serde(rename = "type")]
    #[schema(schema_with = super::values::power_mode)]
    pub mode: Option<String>,
}

/// VmOperateResult — one desktop the operation could not be queued for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VmOperateResult {
    /// Desktop id as requested.
    pub desktop_id: String,
    /// Desktop name, when the desktop is visible to the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desktop_name: Option<String>,
    /// Why, as a code.
    pub error_code: String,
    /// Why, in words.
    pub error_msg: String,
}

/// BatchRunDesktopsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchRunDesktopsResponse {
    /// The job of the desktops that were queued.
    pub job_id: String,
    /// Desktops that were not.
    pub failed_operation_list: Vec<VmOperateResult>,
}

/// RebuildDesktopsReq — `POST /desktops/rebuild`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RebuildDesktopsReq {
    /// Desktop ids (required).
    #[schema(required = true, nullable = false, min_items = 1, max_items = 100)]
    pub desktop_ids: Option<Vec<String>>,
    /// gold / private / market (required).
    #[schema(schema_with = super::values::image_type_field, required = true)]
    pub image_type: Option<String>,
    /// Image id (required, must be in the catalog).
    #[schema(required = true, nullable = false)]
    pub image_id: Option<String>,
    /// OS type (checked against the image when given).
    pub os_type: Option<String>,
    /// Minutes users get to save their work.
    pub delay_time: Option<i64>,
    /// Message to users (at most 400 characters).
    pub message: Option<String>,
    /// Order id (yearly/monthly desktops; recorded only).
    pub order_id: Option<String>,
    /// Enterprise project (recorded only).
    pub enterprise_project_id: Option<String>,
    /// KEEP (default) | UNENCRYPTED | ENCRYPTED.
    #[schema(schema_with = super::values::encrypt_type_field)]
    pub encrypt_type: Option<String>,
    /// KMS key, required with ENCRYPTED.
    pub kms_id: Option<String>,
    /// SDK field, accepted and ignored.
    pub handle_type: Option<String>,
}

/// BatchRebuildDesktopsV2Response — the job, and what was not rebuilt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RebuildDesktopsResponse {
    /// The rebuildDesktops job of the desktops queued.
    pub job_id: String,
    /// The first refusal's code, when some desktops were not rebuilt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Which desktops were not rebuilt, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
}

/// LogoffDesktopsReq — `POST /desktops/logoff`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LogoffDesktopsReq {
    /// Desktop ids (required by deskplane: an absent list never means "all").
    #[schema(required = true, nullable = false, min_items = 1, max_items = 100)]
    pub desktop_ids: Option<Vec<String>>,
    /// Message shown to the users before they are logged off.
    pub message: Option<String>,
}

/// DeleteDesktopsReq — `POST /desktops/batch-delete`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DeleteDesktopsReq {
    /// Desktop ids (required).
    #[schema(required = true, nullable = false, min_items = 1, max_items = 100)]
    pub desktop_ids: Option<Vec<String>>,
    /// Delete users left without desktops (default false).
    pub delete_users: Option<bool>,
    /// Notify users by e-mail (default true).
    pub email_notification: Option<bool>,
    /// Delete in any state, cancelling running operations.
    pub is_force_delete: Option<bool>,
}

/// `{"job_id": ...}` — responses of rebuild, batch-delete, pool action, create.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobIdResponse {
    /// The job.
    pub job_id: String,
}
