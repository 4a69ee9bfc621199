//! The catalog: products (flavors), images and availability zones. Read-only
//! over the API, from configuration, with built-in defaults that look like
//! Huawei's so that scripts written against the cloud find familiar ids.

use crate::drivers::ImageSpec;
use serde::Deserialize;
use std::path::PathBuf;

/// A product (desktop flavor).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// `product_id`.
    pub product_id: String,
    /// `flavor_id` (defaults to the product id).
    #[serde(default)]
    pub flavor_id: Option<String>,
    /// vCPUs.
    pub cpu: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// System disk type.
    #[serde(default = "default_disk_type")]
    pub system_disk_type: String,
    /// System disk size in GiB.
    #[serde(default = "default_disk_size")]
    pub system_disk_size: u32,
    /// Free text.
    #[serde(default)]
    pub descriptions: String,
    /// x86 / arm.
    #[serde(default = "default_arch")]
    pub architecture: String,
    /// Series (general, enterprise, ...).
    #[serde(default = "default_package")]
    pub package_type: String,
}

/// An image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// `image_id`.
    pub id: String,
    /// Display name (becomes the desktop's `metadata.image_name`).
    pub name: String,
    /// gold / private / market.
    pub image_type: String,
    /// Windows / Linux / Other.
    pub os_type: String,
    /// Version text.
    #[serde(default)]
    pub os_version: String,
    /// x86 / arm.
    #[serde(default = "default_arch")]
    pub architecture: String,
    /// Minimum disk in GiB.
    #[serde(default = "default_min_disk")]
    pub min_disk: u32,
    /// Base disk file for drivers that use one (libvirt).
    #[serde(default)]
    pub disk_path: Option<PathBuf>,
}

/// An availability zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Zone code.
    pub availability_zone: String,
    /// Display name.
    pub display_name: String,
    /// The zone used when a request names none.
    #[serde(default)]
    pub default: bool,
}

/// The whole catalog (`[catalog]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Catalog {
    /// Products.
    pub products: Vec<Product>,
    /// Images.
    pub images: Vec<Image>,
    /// Availability zones.
    pub availability_zones: Vec<Zone>,
}

fn default_disk_type() -> String {
    "SAS".into()
}
fn default_disk_size() -> u32 {
    80
}
fn default_arch() -> String {
    "x86".into()
}
fn default_package() -> String {
    "general".into()
}
fn default_min_disk() -> u32 {
    40
}

impl Default for Catalog {
    fn default() -> Self {
        let product = |id: &str, cpu: u32, gib: u64, pkg: &str| Product {
            product_id: id.into(),
            flavor_id: None,
            cpu,
            memory_mb: gib * 1024,
            system_disk_type: default_disk_type(),
            system_disk_size: default_disk_size(),
            descriptions: format!("{cpu} vCPUs | {gib} GiB"),
            architecture: default_arch(),
            package_type: pkg.into(),
        };
        let image = |id: &str, name: &str, kind: &str, os: &str, ver: &str| Image {
            id: id.into(),
            name: name.into(),
            image_type: kind.into(),
            os_type: os.into(),
            os_version: ver.into(),
            architecture: default_arch(),
            min_disk: default_min_disk(),
            disk_path: None,
        };
        Self {
            products: vec![
                product("workspace.x86.general.xlarge2", 2, 4, "general"),
                product("workspace.x86.general.xlarge4", 4, 8, "general"),
                product("workspace.x86.enterprise.2xlarge4", 8, 16, "enterprise"),
            ],
            images: vec![
                image(
                    "63aa8670-27ad-4747-8c44-6d8919e785a7",
                    "Windows 10 Enterprise 64bit",
                    "gold",
                    "Windows",
                    "Windows 10",
                ),
                image(
                    "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11",
                    "Ubuntu 22.04 Desktop",
                    "gold",
                    "Linux",
                    "Ubuntu 22.04",
                ),
                image(
                    "d7c0a5b4-7b60-4a4e-8a43-1f0b6e2f9c3d",
                    "Corporate Windows 11",
                    "private",
                    "Windows",
                    "Windows 11",
                ),
            ],
            availability_zones: vec![
                Zone {
                    availability_zone: "cn-north-4a".into(),
                    display_name: "AZ1".into(),
                    default: true,
                },
                Zone {
                    availability_zone: "cn-north-4b".into(),
                    display_name: "AZ2".into(),
                    default: false,
                },
            ],
        }
    }
}

impl Catalog {
    /// A product by id.
    #[must_use]
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.product_id == id)
    }

    /// An image by id.
    #[must_use]
    pub fn image(&self, id: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.id == id)
    }

    /// A zone by code.
    #[must_use]
    pub fn zone(&self, code: &str) -> Option<&Zone> {
        self.availability_zones
            .iter()
            .find(|z| z.availability_zone == code)
    }

    /// The zone used when a request names none.
    #[must_use]
    pub fn default_zone(&self) -> Option<&Zone> {
        self.availability_zones
            .iter()
            .find(|z| z.default)
            .or_else(|| self.availability_zones.first())
    }
}

impl Image {
    /// What a driver needs of this image.
    #[must_use]
    pub fn spec(&self) -> ImageSpec {
        ImageSpec {
            image_id: self.id.clone(),
            name: self.name.clone(),
            disk_path: self.disk_path.clone(),
        }
    }
}
