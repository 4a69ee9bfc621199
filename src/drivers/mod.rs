//! Compute drivers: what turns a sub-job into a machine operation. `sim` is the
//! embedded default; `libvirt` (feature `libvirt`) runs real KVM domains.
//!
//! Drivers are idempotent where they can be: an operation re-run after a crash
//! (the job engine resumes interrupted sub-jobs) finds the machine already in the
//! target state and succeeds.

#[cfg(feature = "libvirt")]
pub mod libvirt;
pub mod sim;

use crate::domain::desktop::{DesktopStatus, PowerMode};
use crate::domain::error_code::Code;
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;

/// What a driver needs to build a machine.
#[derive(Debug, Clone)]
pub struct MachineSpec {
    /// The sub-job asking (an idempotency key: the same id is the same request).
    pub op_id: String,
    /// The desktop id (also the machine's name).
    pub desktop_id: String,
    /// `computer_name`.
    pub computer_name: String,
    /// vCPUs, from the product.
    pub vcpus: u32,
    /// Memory in MiB, from the product.
    pub memory_mib: u64,
    /// The image of the system disk.
    pub image: ImageSpec,
    /// System disk size in GiB.
    pub root_gib: u32,
    /// Data volume sizes in GiB, in order.
    pub data_gib: Vec<u32>,
}

/// An image of the catalog, as a driver sees it.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// `image_id`.
    pub image_id: String,
    /// Display name.
    pub name: String,
    /// Base disk file (qcow2) for drivers that use one.
    pub disk_path: Option<PathBuf>,
}

/// A machine a driver already knows.
#[derive(Debug, Clone)]
pub struct MachineRef {
    /// The sub-job asking (an idempotency key: the same id is the same request;
    /// empty outside a sub-job).
    pub op_id: String,
    /// The desktop id.
    pub desktop_id: String,
    /// Where it lives (`None` for the simulator).
    pub host: Option<String>,
    /// Its status before the operation began.
    pub status: DesktopStatus,
}

/// What a driver reports about a machine, for reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Running.
    Running,
    /// Powered off.
    Off,
    /// Powered off with a saved memory image.
    Saved,
    /// The machine does not exist.
    Missing,
}

/// What a driver sees, for reconciliation.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Machines by desktop id.
    pub machines: std::collections::HashMap<String, Observed>,
    /// Hosts listed completely: a desktop placed on one of these and absent from
    /// `machines` is missing. Desktops on other (unreachable) hosts are left alone.
    pub complete_hosts: Vec<String>,
}

/// Where a new machine was placed.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// The host (libvirt URI) it lives on.
    pub host: Option<String>,
    /// Its IP address, if the driver knows one.
    pub ip_address: Option<String>,
}

/// A failed driver operation; its `code` becomes the sub-job's `error_code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    /// The error code recorded on the sub-job.
    pub code: String,
    /// A message for `fail_reason`: no internal details beyond what helps an operator.
    pub message: String,
}

impl DriverError {
    /// An error with one of our codes.
    #[must_use]
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code.wire().to_owned(),
            message: message.into(),
        }
    }

    /// An error with a code given by the user (fault injection).
    #[must_use]
    pub fn custom(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The operations of a compute driver, one machine each.
#[async_trait]
pub trait ComputeDriver: Send + Sync + 'static {
    /// `sim`, `libvirt`.
    fn name(&self) -> &'static str;
    /// Build the machine and power it on.
    async fn create(&self, spec: &MachineSpec) -> Result<Placement, DriverError>;
    /// Boot, or resume from a saved memory image.
    async fn start(&self, m: &MachineRef) -> Result<(), DriverError>;
    /// SOFT: ask the guest and fail after the timeout; HARD: power off.
    async fn stop(&self, m: &MachineRef, mode: PowerMode) -> Result<(), DriverError>;
    /// SOFT: guest reboot; HARD: reset. Boots a powered-off machine (HARD).
    async fn reboot(&self, m: &MachineRef, mode: PowerMode) -> Result<(), DriverError>;
    /// Save memory to disk and power off.
    async fn hibernate(&self, m: &MachineRef) -> Result<(), DriverError>;
    /// Replace the system disk with a fresh one from `image`; keep data volumes;
    /// leave the machine running if `m.status` was ACTIVE or ERROR, off otherwise.
    async fn rebuild(&self, m: &MachineRef, image: &ImageSpec) -> Result<(), DriverError>;
    /// Log every user off, showing `message` first.
    async fn logoff(&self, m: &MachineRef, message: Option<&str>) -> Result<(), DriverError>;
    /// Power off, remove the machine and its disks. Succeeds if it is already gone.
    async fn delete(&self, m: &MachineRef) -> Result<(), DriverError>;
    /// The machine's real state, for reconciliation.
    async fn observe(&self, m: &MachineRef) -> Result<Observed, DriverError>;
    /// Every machine the driver can see, for reconciliation with the store; `None`
    /// when the driver keeps no state of its own (the simulator).
    async fn inventory(&self) -> Option<Inventory> {
        None
    }
    /// Whether the store's `login_status` is the truth about user sessions on
    /// this driver's machines. The simulator's is (sessions are set through
    /// `/sim/v1`), so a logoff with nobody in session skips the machine. A real
    /// guest's sessions are invisible to the control plane: its logoff always
    /// reaches the guest.
    fn tracks_sessions(&self) -> bool {
        false
    }
    /// Wait `d` on the driver's clock (the simulator's clock may run faster).
    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}
