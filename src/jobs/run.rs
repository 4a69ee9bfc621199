//! Running one claimed sub-job through the compute driver.

use crate::catalog::Catalog;
use crate::domain::error_code::Code;
use crate::domain::job::JobParams;
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
    let params: JobParams = serde_json::from_str(&c.params).unwrap_or_default();
    let mut done = Completion {
        sub_job_id: c.sub_job_id.clone(),
        job_id: c.job_id.clone(),
        desktop_id: c
            .desktop
            .as_ref()
            .map_or_else(String::new, |d| d.id.clone()),
        error: None,
        settled: c.operation.failed(c.prev_status, c.prev_login),
        host: node.to_owned(),
        new_image: None,
        placement: None,
        delete_orphan_user: None,
    };
    let Some(desktop) = &c.desktop else {
        done.error = Some((
            Code::Interrupted.wire().to_owned(),
            "the desktop is no longer held by this sub-job".to_owned(),
        ));
        return done;
    };
    let m = MachineRef {
        op_id: c.sub_job_id.clone(),
        desktop_id: desktop.id.clone(),
        host: desktop.host.clone(),
        status: c.prev_status,
    };
    let outcome = apply(driver, catalog, &c, &params, desktop, &m, &mut done).await;
    match outcome {
        Ok(()) => done.settled = c.operation.succeeded(c.prev_status, c.prev_login),
        Err(e) => {
            done.error = Some((e.code, e.message));
            done.new_image = None;
            done.delete_orphan_user = None;
        }
    }
    done
}

async fn apply(
    driver: &Arc<dyn ComputeDriver>,
    catalog: &Catalog,
    c: &Claimed,
    params: &JobParams,
    desktop: &DesktopRow,
    m: &MachineRef,
    done: &mut Completion,
) -> Result<(), DriverError> {
    match c.operation {
        Operation::Create => {
            let spec = machine_spec(catalog, desktop, &c.sub_job_id)?;
            let placed = driver.create(&spec).await?;
            done.placement = Some((placed.host, placed.ip_address));
            Ok(())
        }
        Operation::Start => driver.start(m).await,
        Operation::Stop(mode) => driver.stop(m, mode).await,
        Operation::Reboot(mode) => driver.reboot(m, mode).await,
        Operation::Hibernate => driver.hibernate(m).await,
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
            done.new_image = Some((image.id.clone(), image.image_type.clone()));
            Ok(())
        }
        // Nobody in session: nothing to do, and no guest to bother. Only a
        // driver whose sessions the store tracks can know that.
        Operation::Logoff if driver.tracks_sessions() && !c.prev_login.has_session() => Ok(()),
        Operation::Logoff => driver.logoff(m, params.message.as_deref()).await,
        Operation::Delete => {
            driver.delete(m).await?;
            if params.delete_users
                && let Some(user) = &desktop.user_name
            {
                done.delete_orphan_user = Some((desktop.project_id.clone(), user.clone()));
            }
            Ok(())
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
    let size = |v: &serde_json::Value| {
        v.get("size")
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| u32::try_from(s).ok())
    };
    let root: serde_json::Value = serde_json::from_str(&d.root_volume).unwrap_or_default();
    let data: Vec<serde_json::Value> = serde_json::from_str(&d.data_volumes).unwrap_or_default();
    Ok(MachineSpec {
        op_id: op_id.to_owned(),
        desktop_id: d.id.clone(),
        computer_name: d.computer_name.clone(),
        vcpus: product.cpu,
        memory_mib: product.memory_mb,
        image: image.spec(),
        root_gib: size(&root).unwrap_or(80),
        data_gib: data.iter().filter_map(size).collect(),
    })
}
