//! The libvirt driver's own failures, each mapped onto one wire code.
//!
//! libvirt's messages ("Cannot access storage file ...", "Requested operation is
//! not valid: domain is not running") are kept in the text: they are what an
//! operator needs to act on a failed sub-job. The numeric libvirt codes and error
//! domains are not: they only go to the log.

use crate::domain::error_code::Code;
use crate::drivers::DriverError;

/// Why a libvirt driver operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LibvirtError {
    /// The host's libvirt could not be reached.
    #[error("cannot connect to libvirt at {uri}: {detail}")]
    Connect { uri: String, detail: String },
    /// A libvirt call on a desktop's domain failed.
    #[error("libvirt could not {action} desktop {desktop_id}: {detail}")]
    Domain {
        action: &'static str,
        desktop_id: String,
        detail: String,
    },
    /// A libvirt call about a host (not one domain) failed.
    #[error("libvirt at {uri} could not {action}: {detail}")]
    Host {
        uri: String,
        action: &'static str,
        detail: String,
    },
    /// A SOFT stop the guest ignored.
    #[error(
        "desktop {desktop_id} did not shut down within {secs} s: the guest ignored the ACPI power button"
    )]
    ShutdownTimeout { desktop_id: String, secs: u64 },
    /// The QEMU guest agent did not answer.
    #[error("no guest agent answered on desktop {desktop_id}: {detail}")]
    NoAgent { desktop_id: String, detail: String },
    /// The guest agent answered but the command failed.
    #[error("the guest agent of desktop {desktop_id} could not {action}: {detail}")]
    Agent {
        desktop_id: String,
        action: &'static str,
        detail: String,
    },
    /// The desktop's libvirt domain does not exist (any more).
    #[error("desktop {0} has no libvirt domain (it was removed outside deskplane)")]
    Missing(String),
    /// The operation needs a running machine.
    #[error("desktop {0} is not running")]
    NotRunning(String),
    /// Creating, replacing or removing a disk file failed.
    #[error("disk operation failed for desktop {desktop_id}: {detail}")]
    Disk { desktop_id: String, detail: String },
    /// A request or configuration the driver cannot act on (bad image, bad id, unknown host).
    #[error("{0}")]
    Invalid(String),
    /// A blocking task panicked or was cancelled.
    #[error("a libvirt worker task failed: {0}")]
    Task(String),
}

impl LibvirtError {
    /// A failed libvirt call on a desktop's domain.
    pub(crate) fn domain(action: &'static str, desktop_id: &str, e: &virt::error::Error) -> Self {
        tracing::debug!(action, desktop_id, error = %e, "libvirt call failed");
        LibvirtError::Domain {
            action,
            desktop_id: desktop_id.to_owned(),
            detail: e.message().to_owned(),
        }
    }

    /// A failed libvirt call about a host.
    pub(crate) fn host(action: &'static str, uri: &str, e: &virt::error::Error) -> Self {
        tracing::debug!(action, uri, error = %e, "libvirt call failed");
        LibvirtError::Host {
            uri: uri.to_owned(),
            action,
            detail: e.message().to_owned(),
        }
    }

    /// A failed disk operation.
    pub(crate) fn disk(desktop_id: &str, detail: impl Into<String>) -> Self {
        LibvirtError::Disk {
            desktop_id: desktop_id.to_owned(),
            detail: detail.into(),
        }
    }

    /// The wire code the sub-job records.
    pub(crate) fn code(&self) -> Code {
        match self {
            LibvirtError::ShutdownTimeout { .. } => Code::OperationTimeout,
            LibvirtError::NoAgent { .. } => Code::NoGuestAgent,
            LibvirtError::Connect { .. }
            | LibvirtError::Domain { .. }
            | LibvirtError::Host { .. }
            | LibvirtError::Agent { .. }
            | LibvirtError::Missing(_)
            | LibvirtError::NotRunning(_)
            | LibvirtError::Disk { .. }
            | LibvirtError::Invalid(_)
            | LibvirtError::Task(_) => Code::DriverFailed,
        }
    }
}

impl From<LibvirtError> for DriverError {
    fn from(e: LibvirtError) -> Self {
        tracing::warn!(error = %e, "libvirt driver operation failed");
        DriverError::new(e.code(), e.to_string())
    }
}

/// Whether a libvirt error says the domain does not exist.
pub(crate) fn is_no_domain(e: &virt::error::Error) -> bool {
    e.code() == virt::error::ErrorNumber::NoDomain
}
