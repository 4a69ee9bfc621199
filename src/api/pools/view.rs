//! A pool as the API shows it (ShowDesktopPoolDetailResponse / SimpleDesktopPoolInfo).

use super::super::state::AppState;
use crate::domain::time::rfc3339;
use crate::store::PoolRow;
use crate::wire::pools::DesktopPoolInfo;

/// The wire view of `p`; `busy` when a desktop of it has an operation running.
pub(super) fn info(st: &AppState, p: &PoolRow, busy: bool) -> DesktopPoolInfo {
    let image = st.catalog.image(&p.image_id);
    let product = st
        .catalog
        .product(&p.product_id)
        .map(|pr| crate::wire::desktops::ProductInfo {
            product_id: pr.product_id.clone(),
            flavor_id: pr
                .flavor_id
                .clone()
                .unwrap_or_else(|| pr.product_id.clone()),
            kind: "BASE".into(),
            cpu: pr.cpu.to_string(),
            memory: (pr.memory_mb / 1024).to_string(),
            descriptions: pr.descriptions.clone(),
            architecture: pr.architecture.clone(),
            package_type: pr.package_type.clone(),
        });
    DesktopPoolInfo {
        id: p.id.to_string(),
        name: p.name.clone(),
        pool_type: p.pool_type.clone(),
        description: p.description.clone(),
        created_time: rfc3339(p.created_ms),
        charging_mode: "1".into(),
        desktop_count: p.desktop_count,
        desktop_used: p.desktop_used,
        availability_zone: p.availability_zone.clone(),
        product,
        image_id: p.image_id.clone(),
        image_name: image.map(|i| i.name.clone()).unwrap_or_default(),
        image_os_type: image.map(|i| i.os_type.clone()).unwrap_or_default(),
        image_os_version: image.map(|i| i.os_version.clone()).unwrap_or_default(),
        root_volume: (&p.root_volume).into(),
        data_volumes: p.data_volumes.iter().map(Into::into).collect(),
        disconnected_retention_period: p.disconnected_retention_period,
        enable_autoscale: p.enable_autoscale,
        autoscale_policy: p.autoscale_policy.as_ref().map(Into::into),
        status: if busy {
            "TEMPORARY".into()
        } else {
            "STEADY".into()
        },
        tags: p.tags.iter().map(Into::into).collect(),
    }
}
