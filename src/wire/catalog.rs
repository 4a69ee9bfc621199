//! ListProductsResponse (Product), ListImagesResponse (ImageInfo), ListAvailabilityZonesResponse.

use serde::Serialize;
use utoipa::ToSchema;

/// Product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    /// Id.
    pub product_id: String,
    /// BASE.
    #[serde(rename = "type")]
    pub kind: String,
    /// x86 / arm.
    pub architecture: String,
    /// vCPUs, as text (the SDK's type).
    pub cpu: String,
    /// Memory in GiB, as text.
    pub memory: String,
    /// Whether it has a GPU.
    pub is_gpu: bool,
    /// System disk type.
    pub system_disk_type: String,
    /// System disk size in GiB, as text.
    pub system_disk_size: String,
    /// Description.
    pub descriptions: String,
    /// 1: on demand.
    pub charge_mode: String,
    /// normal.
    pub status: String,
    /// Series.
    pub package_type: String,
}

/// ListProductsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListProductsResponse {
    /// Products.
    pub products: Vec<Product>,
    /// Matches before paging.
    pub total_count: i64,
}

/// ImageInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImageInfo {
    /// Id.
    pub id: String,
    /// gold / private / market.
    pub image_type: String,
    /// Windows / Linux / Other.
    pub os_type: String,
    /// x86 / arm.
    pub architecture: String,
    /// Version.
    pub os_version: String,
    /// qcow2.
    pub disk_format: String,
    /// Name.
    pub name: String,
    /// Minimum memory (0: none).
    pub min_ram: i64,
    /// Minimum disk in GiB.
    pub min_disk: i64,
}

/// ListImagesResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListImagesResponse {
    /// Images.
    pub images: Vec<ImageInfo>,
    /// Matches before paging.
    pub total_count: i64,
}

/// AvailabilityZoneInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AvailabilityZoneInfo {
    /// Code.
    pub availability_zone: String,
    /// Name.
    pub display_name: String,
    /// Visible.
    pub visible: bool,
    /// Default zone.
    pub default_availability_zone: bool,
}

/// ListAvailabilityZonesResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListAvailabilityZonesResponse {
    /// Zones.
    pub availability_zones: Vec<AvailabilityZoneInfo>,
    /// How many.
    pub total_count: i64,
}
