//! State truth: compare idle desktops with what the compute driver sees and
//! correct the store (a guest that shut itself down becomes SHUTOFF, a machine
//! removed behind our back becomes ERROR). Desktops with an operation running
//! are left to that operation.

use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::drivers::{ComputeDriver, Observed};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The status and login a desktop should have for what the driver observed.
#[must_use]
pub fn target(observed: Option<Observed>) -> (DesktopStatus, LoginStatus) {
    match observed {
        Some(Observed::Running) => (DesktopStatus::Active, LoginStatus::Registered),
        Some(Observed::Off) => (DesktopStatus::Shutoff, LoginStatus::Unregister),
        Some(Observed::Saved) => (DesktopStatus::Hibernated, LoginStatus::Unregister),
        Some(Observed::Missing) | None => (DesktopStatus::Error, LoginStatus::Unregister),
    }
}

/// One pass; returns how many desktops changed.
pub async fn once(
    store: &dyn Store,
    driver: &dyn ComputeDriver,
) -> Result<u64, crate::store::StoreError> {
    // The store is read before the driver is asked. The other way round, an
    // operation that ends between the two reads (an os-stop settling SHUTOFF)
    // would be judged by the older inventory (still running) and undone. This
    // way such a desktop's status no longer matches the one read here, and the
    // guarded update (`WHERE status = from AND idle`) leaves it alone.
    let idle = store.placed_idle_desktops().await?;
    let Some(inv) = driver.inventory().await else {
        return Ok(0);
    };
    let mut changes = Vec::new();
    for (id, host, status) in idle {
        let observed = inv.machines.get(&id.to_string()).copied();
        if observed.is_none() && !inv.complete_hosts.contains(&host) {
            continue; // host unreachable: no verdict
        }
        let (to, login) = target(observed);
        if to != status {
            tracing::warn!(desktop = %id, from = %status, to = %to, "reconciled with the compute driver");
            changes.push((id, status, to, login));
        }
    }
    store.reconcile_desktops(&changes).await
}

/// Reconcile every `every` until shutdown, on the one node holding `lease`
/// (does nothing for the simulator).
pub async fn run(
    store: Arc<dyn Store>,
    driver: Arc<dyn ComputeDriver>,
    every: Duration,
    lease: super::TaskLease,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if !lease.hold().await {
            continue;
        }
        if let Err(e) = once(store.as_ref(), driver.as_ref()).await {
            tracing::error!(error = %e, "reconciliation failed");
        }
    }
}
