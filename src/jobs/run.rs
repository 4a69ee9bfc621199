//! Running one claimed sub-job through the compute driver.

use crate::catalog::Catalog;
use crate::domain::completion::{Effect, Outcome};
use crate::domain::desktop::Disk;
use crate::domain::error_code::Code;
use crate::domain::machine::Operation;
use crate::drivers::{ComputeDriver, DriverError, MachineRef, MachineSpec};
use crate::store::{Claimed, Completion, DesktopRow};
use std::sync::Arc;
use std::time::Duration;

/// Run `c` and describe how it ended. Never fails: errors become a FAILED result.
pub async fn execute(
    driver: &Arc<dyn ComputeDriver>,
    catalog: &Catalog,
    node: &str,
    c: Claimed,
) -> Completion {
    let (settled, outcome) = match &c.desktop {
        None => (
            c.operation.failed(c.prev_status, c.prev_login),
            Outcome::Failed {
                code: Code::Interrupted.wire().to_owned(),
                reason: "the desktop is no longer held by this sub-job".to_owned(),
            },
        ),
        Some(desktop) => {
            let m = MachineRef {
                op_id: c.sub_job_id.to_string(),
                desktop_id: desktop.id.to_string(),
                host: desktop.host.clone(),
                status: c.prev_status,
            };
            match apply(driver, catalog, &c, desktop, &m).await {
                Ok(effect) => (
                    c.operation.succeeded(c.prev_status, c.prev_login),
                    Outcome::Done(effect),
                ),
                Err(e) => (
                    c.operation.failed(c.prev_status, c.prev_login),
                    Outcome::Failed {
                        code: e.code,
                        reason: e.message,
                    },
                ),
            }
        }
    };
    Completion {
        sub_job_id: c.sub_job_id,
        claim: c.claim,
        job_id: c.job_id,
        desktop_id: c.desktop_id,
        project_id: c.project_id,
        host: node.to_owned(),
        settled,
        outcome,
    }
}

async fn apply(
    driver: &Arc<dyn ComputeDriver>,
    catalog: &Catalog,
    c: &Claimed,
    desktop: &DesktopRow,
    m: &MachineRef,
) -> Result<Effect, DriverError> {
    let params = &c.params;
    match c.operation {
        Operation::Create => {
            let spec = machine_spec(catalog, desktop, &c.sub_job_id.to_string())?;
            let placed = driver.create(&spec).await?;
            Ok(Effect::Placed {
                host: placed.host,
                ip: placed.ip_address,
            })
        }
        Operation::Start => driver.start(m).await.map(|()| Effect::Nothing),
        Operation::Stop(mode) => driver.stop(m, mode).await.map(|()| Effect::Nothing),
        Operation::Reboot(mode) => driver.reboot(m, mode).await.map(|()| Effect::Nothing),
        Operation::Hibernate => driver.hibernate(m).await.map(|()| Effect::Nothing),
        Operation::Rebuild => {
            let image_id = params.image_id.as_deref().unwrap_or(&desktop.image_id);
            let image = catalog.image(image_id).ok_or_else(|| {
                DriverError::new(
                    Code::ImageNotFound,
                    format!("image {image_id} is no longer in the catalog"),
                )
            })?;
            // Users were warned when the job was accepted; the first attempt gives them their time.
            if c.attempt == 1
                && let Some(minutes) = params.delay_time.filter(|m| *m > 0)
            {
                driver
                    .wait(Duration::from_secs(u64::from(minutes) * 60))
                    .await;
            }
            driver.rebuild(m, &image.spec()).await?;
            Ok(Effect::Rebuilt {
                image_id: image.id.clone(),
                image_type: image.image_type.clone(),
            })
        }
        // Nobody in session: nothing to do, and no guest to bother. Only a
        // driver whose sessions the store tracks can know that.
        Operation::Logoff if driver.tracks_sessions() && !c.prev_login.has_session() => {
            Ok(Effect::Nothing)
        }
        Operation::Logoff => driver
            .logoff(m, params.message.as_deref())
            .await
            .map(|()| Effect::Nothing),
        Operation::Delete => {
            driver.delete(m).await?;
            let orphan_user = desktop.user_name.clone().filter(|_| params.delete_users);
            Ok(Effect::Removed { orphan_user })
        }
    }
}

fn machine_spec(
    catalog: &Catalog,
    d: &DesktopRow,
    op_id: &str,
) -> Result<MachineSpec, DriverError> {
    let product = catalog.product(&d.product_id).ok_or_else(|| {
        DriverError::new(
            Code::ProductNotFound,
            format!("product {} is no longer in the catalog", d.product_id),
        )
    })?;
    let image = catalog.image(&d.image_id).ok_or_else(|| {
        DriverError::new(
            Code::ImageNotFound,
            format!("image {} is no longer in the catalog", d.image_id),
        )
    })?;
    let gib = |disk: &Disk| u32::try_from(disk.size).unwrap_or(u32::MAX);
    Ok(MachineSpec {
        op_id: op_id.to_owned(),
        desktop_id: d.id.to_string(),
        computer_name: d.computer_name.clone(),
        vcpus: product.cpu,
        memory_mib: product.memory_mb,
        image: image.spec(),
        root_gib: gib(&d.root_volume),
        data_gib: d.data_volumes.iter().map(gib).collect(),
    })
}
