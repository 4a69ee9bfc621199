//! Desktops: CreateDesktopReq, DesktopDetailInfo, SimpleDesktopInfo and list responses.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Volume — a disk in requests (and, with ids, in responses).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Volume {
    /// SAS, SSD, GPSSD ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in GiB.
    pub size: i64,
}

/// Tag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl From<&crate::domain::desktop::Disk> for Volume {
    fn from(d: &crate::domain::desktop::Disk) -> Self {
        Self {
            kind: d.kind.clone(),
            size: d.size,
        }
    }
}

impl From<Volume> for crate::domain::desktop::Disk {
    fn from(v: Volume) -> Self {
        Self {
            kind: v.kind,
            size: v.size,
        }
    }
}

impl From<&crate::domain::desktop::Tag> for Tag {
    fn from(t: &crate::domain::desktop::Tag) -> Self {
        Self {
            key: t.key.clone(),
            value: t.value.clone(),
        }
    }
}

impl From<Tag> for crate::domain::desktop::Tag {
    fn from(t: Tag) -> Self {
        Self {
            key: t.key,
            value: t.value,
        }
    }
}

/// Desktop — one desktop of a create request with its user.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DesktopUser {
    /// The desktop's user.
    pub user_name: Option<String>,
    /// User e-mail.
    pub user_email: Option<String>,
    /// Desktop name (unique in the project).
    pub computer_name: Option<String>,
    /// Prefix when no computer_name.
    pub desktop_name_prefix: Option<String>,
    /// User group (recorded only).
    pub user_group: Option<String>,
}

/// CreateDesktopReq — `POST /desktops`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateDesktopReq {
    /// DEDICATED (default).
    pub desktop_type: Option<String>,
    /// Zone; the default zone when absent.
    pub availability_zone: Option<String>,
    /// Product (required).
    #[schema(required = true, nullable = false)]
    pub product_id: Option<String>,
    /// Image type (default private).
    pub image_type: Option<String>,
    /// Image (required).
    #[schema(required = true, nullable = false)]
    pub image_id: Option<String>,
    /// System disk.
    pub root_volume: Option<Volume>,
    /// Data disks.
    pub data_volumes: Option<Vec<Volume>>,
    /// Desktops with users, 1..=100; or `size` + `desktop_name`.
    pub desktops: Option<Vec<DesktopUser>>,
    /// Name (size 1) or prefix (size > 1) of user-less desktops.
    pub desktop_name: Option<String>,
    /// Number of user-less desktops.
    pub size: Option<i64>,
    /// Notify users (default true).
    pub email_notification: Option<bool>,
    /// Tags.
    pub tags: Option<Vec<Tag>>,
}

/// CreateDesktopResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateDesktopResponse {
    /// The createDesktops job.
    pub job_id: String,
}

/// AttachInstancesUserInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachInstancesUserInfo {
    /// User id, when the user exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// User name.
    pub user_name: String,
    /// USER.
    #[serde(rename = "type")]
    pub kind: String,
}

/// FlavorInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlavorInfo {
    /// Flavor id.
    pub id: String,
}

/// ProductInfo (in a desktop).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductInfo {
    /// Product id.
    pub product_id: String,
    /// Flavor id.
    pub flavor_id: String,
    /// BASE.
    #[serde(rename = "type")]
    pub kind: String,
    /// vCPUs.
    pub cpu: String,
    /// Memory in GiB.
    pub memory: String,
    /// Description.
    pub descriptions: String,
    /// x86 / arm.
    pub architecture: String,
    /// Series.
    pub package_type: String,
}

/// VolumeDetail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeDetail {
    /// Disk type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in GiB.
    pub size: i64,
    /// Device path in the guest.
    pub device: String,
    /// Disk id.
    pub id: String,
    /// Disk id.
    pub volume_id: String,
    /// Name.
    pub display_name: String,
    /// Creation time.
    pub create_time: String,
}

/// AddressInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddressInfo {
    /// IP.
    pub addr: String,
    /// `"4"`: a string in the SDK's model (AddressInfo.version: str, 3.1.219),
    /// which the statically typed SDKs cannot read from a number.
    pub version: String,
}

/// DesktopDetailInfo — `GET /desktops/{id}` (wrapped) and `/desktops/detail` items.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DesktopDetailInfo {
    /// Id.
    pub desktop_id: String,
    /// Name.
    pub computer_name: String,
    /// IP addresses by network.
    pub addresses: BTreeMap<String, Vec<AddressInfo>>,
    /// IP addresses.
    pub ip_addresses: Vec<String>,
    /// IPv4.
    pub ipv4: String,
    /// Users.
    pub user_list: Vec<String>,
    /// DEDICATED / POOLED.
    #[schema(schema_with = super::values::desktop_type_field)]
    pub desktop_type: String,
    /// image_name, metering.image_id, ...
    pub metadata: BTreeMap<String, String>,
    /// Flavor.
    pub flavor: FlavorInfo,
    /// ACTIVE / SHUTOFF / HIBERNATED / ERROR (BUILD while created).
    #[schema(schema_with = super::values::desktop_status_field)]
    pub status: String,
    /// The operation in progress; empty when idle.
    #[schema(schema_with = super::values::task_status_field)]
    pub task_status: String,
    /// Creation time.
    pub created: String,
    /// UNREGISTER / REGISTERED / CONNECTED / DISCONNECTED.
    #[schema(schema_with = super::values::login_status_field)]
    pub login_status: String,
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Assigned users.
    pub attach_user_infos: Vec<AttachInstancesUserInfo>,
    /// Product id.
    pub product_id: String,
    /// System disk.
    pub root_volume: VolumeDetail,
    /// Data disks.
    pub data_volumes: Vec<VolumeDetail>,
    /// Zone.
    pub availability_zone: String,
    /// Product.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductInfo>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Progress of the running operation (0..=100), absent when idle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<i64>,
    /// Assignment state.
    pub attach_state: String,
    /// Pool, for pooled desktops (ours: the SDK has no such field on this model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
    /// Image id (ours, for convenience; also in metadata).
    pub image_id: String,
}

/// ShowDesktopDetailResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowDesktopDetailResponse {
    /// The desktop.
    pub desktop: DesktopDetailInfo,
}

/// ListDesktopsDetailResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListDesktopsDetailResponse {
    /// The page.
    pub desktops: Vec<DesktopDetailInfo>,
    /// Matches before paging.
    pub total_count: i64,
}

/// SimpleDesktopInfo — `GET /desktops` items.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SimpleDesktopInfo {
    /// Id.
    pub desktop_id: String,
    /// Project.
    pub project_id: String,
    /// Name.
    pub computer_name: String,
    /// Creation time.
    pub created: String,
    /// IP.
    pub ip_address: String,
    /// User.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Assigned users.
    pub attach_user_infos: Vec<AttachInstancesUserInfo>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// DEDICATED / POOLED.
    #[schema(schema_with = super::values::desktop_type_field)]
    pub desktop_type: String,
    /// Status.
    #[schema(schema_with = super::values::desktop_status_field)]
    pub status: String,
    /// Task status (empty when idle).
    #[schema(schema_with = super::values::task_status_field)]
    pub task_status: String,
    /// Zone.
    pub availability_zone: String,
    /// Login status (`connect_status` in this model).
    #[schema(schema_with = super::values::login_status_field)]
    pub connect_status: String,
    /// Pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
}

/// ListDesktopsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListDesktopsResponse {
    /// Matches before paging.
    pub total_count: i64,
    /// The page.
    pub desktops: Vec<SimpleDesktopInfo>,
}
