//! Desktop pools: CreateDesktopPoolReq, ShowDesktopPoolDetailResponse,
//! ListDesktopPoolsResponse (SimpleDesktopPoolInfo), UpdateDesktopPoolAttributesReq,
//! ExpandDesktopPoolReq, DesktopPoolActionReq, ListPoolDesktopsDetailResponse,
//! AuthorizedObjects.

use super::desktops::{DesktopDetailInfo, ProductInfo, Tag, Volume};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// AutoscalePolicy (the fields deskplane models; others are accepted and kept).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, ToSchema)]
pub struct AutoscalePolicy {
    /// ACCESS_CREATED or AUTO_CREATED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::values::autoscale_type_field)]
    pub autoscale_type: Option<String>,
    /// Most desktops autoscale may create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auto_created: Option<i64>,
    /// Free desktops to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_idle: Option<i64>,
    /// Kept, not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub once_auto_created: Option<i64>,
    /// Kept, not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retention: Option<i64>,
    /// Kept, not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_retention_duration: Option<i64>,
}

impl From<AutoscalePolicy> for crate::domain::pool::AutoscalePolicy {
    fn from(p: AutoscalePolicy) -> Self {
        Self {
            autoscale_type: p.autoscale_type,
            max_auto_created: p.max_auto_created,
            min_idle: p.min_idle,
            once_auto_created: p.once_auto_created,
            min_retention: p.min_retention,
            idle_retention_duration: p.idle_retention_duration,
        }
    }
}

impl From<&crate::domain::pool::AutoscalePolicy> for AutoscalePolicy {
    fn from(p: &crate::domain::pool::AutoscalePolicy) -> Self {
        Self {
            autoscale_type: p.autoscale_type.clone(),
            max_auto_created: p.max_auto_created,
            min_idle: p.min_idle,
            once_auto_created: p.once_auto_created,
            min_retention: p.min_retention,
            idle_retention_duration: p.idle_retention_duration,
        }
    }
}

/// AuthorizedObjects — a user or group allowed to use a pool.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthorizedObjects {
    /// USER or USER_GROUP.
    #[schema(schema_with = super::values::object_type_field)]
    pub object_type: Option<String>,
    /// Id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// Name.
    pub object_name: Option<String>,
    /// Privilege group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_group: Option<String>,
    /// When authorized (responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// CreateDesktopPoolReq — `POST /desktop-pools`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateDesktopPoolReq {
    /// Unique name (required).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 60)]
    pub name: Option<String>,
    /// DYNAMIC or STATIC (required).
    #[serde(rename = "type")]
    #[schema(schema_with = super::values::pool_type_field, required = true)]
    pub pool_type: Option<String>,
    /// Desktops to create (required).
    #[schema(required = true, nullable = false, minimum = 1)]
    pub size: Option<i64>,
    /// Description.
    pub description: Option<String>,
    /// Zone.
    pub availability_zone: Option<String>,
    /// Product (required).
    #[schema(required = true, nullable = false)]
    pub product_id: Option<String>,
    /// Image type.
    pub image_type: Option<String>,
    /// Image (required).
    #[schema(required = true, nullable = false)]
    pub image_id: Option<String>,
    /// System disk.
    pub root_volume: Option<Volume>,
    /// Data disks.
    pub data_volumes: Option<Vec<Volume>>,
    /// Users/groups allowed.
    pub authorized_objects: Option<Vec<AuthorizedObjects>>,
    /// Tags.
    pub tags: Option<Vec<Tag>>,
    /// Minutes a DYNAMIC pool keeps a disconnected user's binding.
    pub disconnected_retention_period: Option<i64>,
    /// Autoscale on.
    pub enable_autoscale: Option<bool>,
    /// Autoscale policy.
    pub autoscale_policy: Option<AutoscalePolicy>,
}

/// CreateDesktopPoolResponse (plus `pool_id`, ours, so callers need not search by name).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateDesktopPoolResponse {
    /// The createDesktopPool job.
    pub job_id: String,
    /// The new pool.
    pub pool_id: String,
}

/// ShowDesktopPoolDetailResponse / SimpleDesktopPoolInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DesktopPoolInfo {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// DYNAMIC / STATIC.
    #[serde(rename = "type")]
    #[schema(schema_with = super::values::pool_type_out)]
    pub pool_type: String,
    /// Description.
    pub description: String,
    /// Creation (`2022-05-11T11:45:42.000Z`).
    pub created_time: String,
    /// 1: on demand.
    pub charging_mode: String,
    /// Desktops in the pool.
    pub desktop_count: i64,
    /// Desktops bound to a user.
    pub desktop_used: i64,
    /// Zone.
    pub availability_zone: String,
    /// Product.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductInfo>,
    /// Image.
    pub image_id: String,
    /// Image name.
    pub image_name: String,
    /// Image OS type.
    pub image_os_type: String,
    /// Image OS version.
    pub image_os_version: String,
    /// System disk.
    pub root_volume: Volume,
    /// Data disks.
    pub data_volumes: Vec<Volume>,
    /// Retention in minutes.
    pub disconnected_retention_period: i64,
    /// Autoscale on.
    pub enable_autoscale: bool,
    /// Autoscale policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale_policy: Option<AutoscalePolicy>,
    /// STEADY when no desktop has an operation running, else TEMPORARY.
    #[schema(schema_with = super::values::pool_status_field)]
    pub status: String,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// ListDesktopPoolsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListDesktopPoolsResponse {
    /// Matches before paging.
    pub total_count: i64,
    /// The page.
    pub desktop_pools: Vec<DesktopPoolInfo>,
}

/// UpdateDesktopPoolAttributesReq — `PUT /desktop-pools/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateDesktopPoolAttributesReq {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags.
    pub tags: Option<Vec<Tag>>,
    /// New retention.
    pub disconnected_retention_period: Option<i64>,
    /// Autoscale on/off.
    pub enable_autoscale: Option<bool>,
    /// New policy.
    pub autoscale_policy: Option<AutoscalePolicy>,
}

/// ExpandDesktopPoolReq.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ExpandDesktopPoolReq {
    /// Desktops to add.
    #[schema(required = true, nullable = false, minimum = 1)]
    pub size: Option<i64>,
}

/// DesktopPoolActionReq — seed 001.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DesktopPoolActionReq {
    /// os-start, os-stop, reboot, hibernate.
    #[schema(schema_with = super::values::pool_action_op, required = true)]
    pub op_type: Option<String>,
    /// SOFT (default) or HARD.
    #[serde(rename = "type")]
    #[schema(schema_with = super::values::power_mode)]
    pub mode: Option<String>,
}

/// ListPoolDesktopsDetailResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListPoolDesktopsDetailResponse {
    /// The page.
    pub pool_desktops: Vec<DesktopDetailInfo>,
    /// Matches before paging.
    pub total_count: i64,
    /// All on demand.
    pub on_demand_desktops_num: i64,
    /// None yearly/monthly.
    pub period_desktops_num: i64,
}

/// Body of `POST /desktop-pools/{id}/users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PoolAuthorizedObjectsReq {
    /// Users/groups.
    #[schema(required = true, nullable = false)]
    pub objects: Option<Vec<AuthorizedObjects>>,
    /// ADD or REMOVE.
    #[schema(schema_with = super::values::member_action_field, required = true)]
    pub action: Option<String>,
}

/// ListDesktopPoolAuthorizedObjectsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListDesktopPoolAuthorizedObjectsResponse {
    /// The page.
    pub objects: Vec<AuthorizedObjects>,
    /// Matches before paging.
    pub total_count: i64,
}
