//! Store rows rendered as SDK wire shapes.

use crate::catalog::Catalog;
use crate::domain::time::{job_time, rfc3339};
use crate::store::{DesktopRow, JobRow, SubJobRow};
use crate::wire::desktops::{
    AddressInfo, AttachInstancesUserInfo, DesktopDetailInfo, FlavorInfo, ProductInfo,
    SimpleDesktopInfo, Tag, Volume, VolumeDetail,
};
use crate::wire::jobs::{DesktopAction, JobDetailInfo, JobEntities, ShowJobResponse};
use std::collections::BTreeMap;

fn tags(d: &DesktopRow) -> Vec<Tag> {
    d.tags.iter().map(Tag::from).collect()
}

fn users(d: &DesktopRow) -> Vec<AttachInstancesUserInfo> {
    d.user_name
        .iter()
        .map(|u| AttachInstancesUserInfo {
            user_id: None,
            user_name: u.clone(),
            kind: "USER".into(),
        })
        .collect()
}

fn volume(d: &DesktopRow, v: &Volume, n: usize) -> VolumeDetail {
    // Stable ids derived from the desktop id, so repeated reads agree.
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{}/{n}", d.id).as_bytes(),
    )
    .to_string();
    let device = format!(
        "/dev/vd{}",
        char::from(b'a' + u8::try_from(n.min(25)).unwrap_or(25))
    );
    VolumeDetail {
        kind: v.kind.clone(),
        size: v.size,
        device,
        volume_id: id.clone(),
        id,
        display_name: format!(
            "{}-{}",
            d.computer_name,
            if n == 0 {
                "system".to_owned()
            } else {
                format!("data-{n}")
            }
        ),
        create_time: rfc3339(d.created_ms),
    }
}

/// DesktopDetailInfo of a stored desktop.
#[must_use]
pub fn desktop_detail(
    d: &DesktopRow,
    catalog: &Catalog,
    progress: Option<i64>,
) -> DesktopDetailInfo {
    let root = Volume::from(&d.root_volume);
    let data: Vec<Volume> = d.data_volumes.iter().map(Volume::from).collect();
    let image = catalog.image(&d.image_id);
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "image_name".to_owned(),
        image.map_or_else(|| d.image_id.clone(), |i| i.name.clone()),
    );
    metadata.insert("metering.image_id".to_owned(), d.image_id.clone());
    metadata.insert("metering.imagetype".to_owned(), d.image_type.clone());
    if let Some(i) = image {
        metadata.insert("os_type".to_owned(), i.os_type.clone());
    }
    let product = catalog.product(&d.product_id).map(|p| ProductInfo {
        product_id: p.product_id.clone(),
        flavor_id: p.flavor_id.clone().unwrap_or_else(|| p.product_id.clone()),
        kind: "BASE".into(),
        cpu: p.cpu.to_string(),
        memory: (p.memory_mb / 1024).to_string(),
        descriptions: p.descriptions.clone(),
        architecture: p.architecture.clone(),
        package_type: p.package_type.clone(),
    });
    let mut addresses = BTreeMap::new();
    addresses.insert(
        "deskplane-net".to_owned(),
        vec![AddressInfo {
            addr: d.ip_address.clone(),
            version: "4".into(),
        }],
    );
    DesktopDetailInfo {
        desktop_id: d.id.to_string(),
        computer_name: d.computer_name.clone(),
        addresses,
        ip_addresses: vec![d.ip_address.clone()],
        ipv4: d.ip_address.clone(),
        user_list: d.user_name.iter().cloned().collect(),
        desktop_type: d.desktop_type.as_str().to_owned(),
        metadata,
        flavor: FlavorInfo {
            id: product
                .as_ref()
                .map_or_else(|| d.product_id.clone(), |p| p.flavor_id.clone()),
        },
        status: d.status.as_str().to_owned(),
        task_status: d
            .task_status
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        created: rfc3339(d.created_ms),
        login_status: d.login_status.as_str().to_owned(),
        user_name: d.user_name.clone(),
        attach_user_infos: users(d),
        product_id: d.product_id.clone(),
        root_volume: volume(d, &root, 0),
        data_volumes: data
            .iter()
            .enumerate()
            .map(|(i, v)| volume(d, v, i + 1))
            .collect(),
        availability_zone: d.availability_zone.clone(),
        product,
        tags: tags(d),
        process: d.task_status.map(|_| progress.unwrap_or(0)),
        attach_state: if d.user_name.is_some() {
            "ATTACHED".into()
        } else {
            "UNATTACH".into()
        },
        pool_id: d.pool_id.map(|p| p.to_string()),
        image_id: d.image_id.clone(),
    }
}

/// SimpleDesktopInfo of a stored desktop.
#[must_use]
pub fn desktop_simple(d: &DesktopRow) -> SimpleDesktopInfo {
    SimpleDesktopInfo {
        desktop_id: d.id.to_string(),
        project_id: d.project_id.to_string(),
        computer_name: d.computer_name.clone(),
        created: rfc3339(d.created_ms),
        ip_address: d.ip_address.clone(),
        user_name: d.user_name.clone(),
        attach_user_infos: users(d),
        tags: tags(d),
        desktop_type: d.desktop_type.as_str().to_owned(),
        status: d.status.as_str().to_owned(),
        task_status: d
            .task_status
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        availability_zone: d.availability_zone.clone(),
        connect_status: d.login_status.as_str().to_owned(),
        pool_id: d.pool_id.map(|p| p.to_string()),
    }
}

/// JobDetailInfo of a stored sub-job.
#[must_use]
pub fn sub_job(s: &SubJobRow) -> JobDetailInfo {
    JobDetailInfo {
        id: s.id.to_string(),
        job_type: s.job_type.as_str().to_owned(),
        entities: JobEntities {
            desktop_id: s.desktop_id.to_string(),
            product_id: s.product_id.clone(),
            user_name: s.user_name.clone(),
            desktop_name: s.desktop_name.clone(),
            ip_address: s.ip_address.clone(),
        },
        begin_time: job_time(s.begin_ms.unwrap_or(s.created_ms)),
        end_time: s.end_ms.map(job_time),
        status: s.status.as_str().to_owned(),
        error_code: s.error_code.clone(),
        fail_reason: s.fail_reason.clone(),
        host: s.host.clone(),
        project_id: s.project_id.to_string(),
        job_id: s.job_id.to_string(),
        process: s.progress,
        attach_user: s.user_name.clone(),
        entity: s.desktop_id.to_string(),
        ip_address: s.ip_address.clone(),
    }
}

/// ShowJobResponse of a stored job and (a page of) its sub-jobs.
#[must_use]
pub fn job(j: &JobRow, subs: &[SubJobRow]) -> ShowJobResponse {
    ShowJobResponse {
        id: j.id.to_string(),
        job_type: j.job_type.as_str().to_owned(),
        begin_time: job_time(j.begin_ms.unwrap_or(j.created_ms)),
        end_time: j.end_ms.map(job_time),
        status: j.status.as_str().to_owned(),
        job_error_code: j.error_code.clone(),
        fail_reason: j.fail_reason.clone(),
        sub_jobs_total: j.total,
        sub_jobs: subs.iter().map(sub_job).collect(),
    }
}

/// DesktopAction (action history entry) of a stored sub-job.
#[must_use]
pub fn action(s: &SubJobRow) -> DesktopAction {
    let action = match s.operation.mode() {
        Some(m) => format!("{} ({m})", s.operation.wire_name()),
        None => s.operation.wire_name().to_owned(),
    };
    DesktopAction {
        action,
        message: format!(
            "requested by {} in job {} ({}), attempt {}",
            s.requested_by, s.job_id, s.job_type, s.attempt
        ),
        start_time: job_time(s.created_ms),
        finish_time: s.end_ms.map(job_time),
        result: s.status.as_str().to_owned(),
        traceback: s.fail_reason.clone(),
    }
}
