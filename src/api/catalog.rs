//! The catalog, read-only: products, images, availability zones.

use super::error::ApiResult;
use super::extract::QueryParams;
use super::state::AppState;
use crate::wire::catalog::{
    AvailabilityZoneInfo, ImageInfo, ListAvailabilityZonesResponse, ListImagesResponse,
    ListProductsResponse, Product,
};
use crate::wire::params::{IMAGE_TYPES, ListImagesQuery, ListProductsQuery, Page, ProjectPath};
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(products))
        .routes(routes!(images))
        .routes(routes!(zones))
}

fn page<T: Clone>(all: &[T], q: &QueryParams) -> ApiResult<(Vec<T>, i64)> {
    let offset = usize::try_from(q.int("offset", 0, 0, i64::from(i32::MAX))?).unwrap_or(0);
    let limit = usize::try_from(q.int("limit", 100, 0, 1000)?).unwrap_or(100);
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    Ok((
        all.iter().skip(offset).take(limit).cloned().collect(),
        total,
    ))
}

/// List the products (desktop sizes).
#[utoipa::path(
    get,
    path = "/v2/{project_id}/products",
    tag = "catalog",
    operation_id = "ListProducts",
    params(ProjectPath, ListProductsQuery, Page),
    responses((status = 200, description = "A page of products.", body = ListProductsResponse)),
)]
async fn products(
    State(st): State<AppState>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListProductsResponse>> {
    let all: Vec<Product> = st
        .catalog
        .products
        .iter()
        .filter(|p| q.get("product_id").is_none_or(|id| id == p.product_id))
        .filter(|p| q.get("architecture").is_none_or(|a| a == p.architecture))
        .filter(|p| q.get("package_type").is_none_or(|t| t == p.package_type))
        .map(|p| Product {
            product_id: p.product_id.clone(),
            kind: "BASE".into(),
            architecture: p.architecture.clone(),
            cpu: p.cpu.to_string(),
            memory: (p.memory_mb / 1024).to_string(),
            is_gpu: false,
            system_disk_type: p.system_disk_type.clone(),
            system_disk_size: p.system_disk_size.to_string(),
            descriptions: p.descriptions.clone(),
            charge_mode: "1".into(),
            status: "normal".into(),
            package_type: p.package_type.clone(),
        })
        .collect();
    let (products, total_count) = page(&all, &q)?;
    Ok(axum::Json(ListProductsResponse {
        products,
        total_count,
    }))
}

/// List the images.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/images",
    tag = "catalog",
    operation_id = "ListImages",
    params(ProjectPath, ListImagesQuery, Page),
    responses((status = 200, description = "A page of images.", body = ListImagesResponse)),
)]
async fn images(
    State(st): State<AppState>,
    q: QueryParams,
) -> ApiResult<axum::Json<ListImagesResponse>> {
    let image_type = q.one_of("image_type", IMAGE_TYPES)?;
    let all: Vec<ImageInfo> = st
        .catalog
        .images
        .iter()
        .filter(|i| image_type.as_deref().is_none_or(|t| t == i.image_type))
        .filter(|i| {
            q.get("os_type")
                .is_none_or(|o| o.eq_ignore_ascii_case(&i.os_type))
        })
        .filter(|i| q.get("image_id").is_none_or(|id| id == i.id))
        .map(|i| ImageInfo {
            id: i.id.clone(),
            image_type: i.image_type.clone(),
            os_type: i.os_type.clone(),
            architecture: i.architecture.clone(),
            os_version: i.os_version.clone(),
            disk_format: "qcow2".into(),
            name: i.name.clone(),
            min_ram: 0,
            min_disk: i64::from(i.min_disk),
        })
        .collect();
    let (images, total_count) = page(&all, &q)?;
    Ok(axum::Json(ListImagesResponse {
        images,
        total_count,
    }))
}

/// List the availability zones.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/availability-zones",
    tag = "catalog",
    operation_id = "ListAvailabilityZones",
    params(ProjectPath),
    responses((status = 200, description = "Every zone.", body = ListAvailabilityZonesResponse)),
)]
async fn zones(State(st): State<AppState>) -> axum::Json<ListAvailabilityZonesResponse> {
    let availability_zones: Vec<AvailabilityZoneInfo> = st
        .catalog
        .availability_zones
        .iter()
        .map(|z| AvailabilityZoneInfo {
            availability_zone: z.availability_zone.clone(),
            display_name: z.display_name.clone(),
            visible: true,
            default_availability_zone: z.default,
        })
        .collect();
    let total_count = i64::try_from(availability_zones.len()).unwrap_or(0);
    axum::Json(ListAvailabilityZonesResponse {
        availability_zones,
        total_count,
    })
}
