//! Power operations on one domain. Each function here is blocking and
//! idempotent: re-run after a crash, it finds the domain in the target state
//! and succeeds.

use super::error::LibvirtError;
use crate::drivers::Observed;
use virt::domain::Domain;
use virt::sys;

/// A domain's power state, as the driver acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Power {
    /// Running (or blocked, or shutting down: the guest still runs).
    Running,
    /// Paused by libvirt (I/O error, migration, the middle of a managed save).
    Paused,
    /// Suspended to RAM by the guest (ACPI S3).
    Suspended,
    /// Off.
    Off,
    /// Off, with a managed-save image to resume from.
    Saved,
}

impl Power {
    /// What reconciliation is told.
    pub(crate) fn observed(self) -> Observed {
        match self {
            // A paused or suspended machine still holds its memory and
            // comes back without a boot: that is a running desktop.
            Power::Running | Power::Paused | Power::Suspended => Observed::Running,
            Power::Off => Observed::Off,
            Power::Saved => Observed::Saved,
        }
    }
}

/// Reads the domain's power state.
pub(crate) fn power(dom: &Domain, id: &str) -> Result<Power, LibvirtError> {
    let (state, _reason) = dom
        .get_state()
        .map_err(|e| LibvirtError::domain("read the state of", id, &e))?;
    Ok(match state {
        sys::VIR_DOMAIN_RUNNING | sys::VIR_DOMAIN_BLOCKED | sys::VIR_DOMAIN_SHUTDOWN => {
            Power::Running
        }
        sys::VIR_DOMAIN_PAUSED => Power::Paused,
        sys::VIR_DOMAIN_PMSUSPENDED => Power::Suspended,
        // SHUTOFF, CRASHED (kept only with on_crash=preserve) and NOSTATE.
        _ => {
            let saved = dom
                .has_managed_save(0)
                .map_err(|e| LibvirtError::domain("check the saved state of", id, &e))?;
            if saved { Power::Saved } else { Power::Off }
        }
    })
}

/// Boots the domain, or resumes it from its managed-save image (libvirt's
/// `virDomainCreate` restores one when there is one). The start is tried
/// first and the state read only when libvirt refuses it (a running, paused
/// or suspended domain): a batch os-start then costs libvirt one call per
/// desktop besides the lookup, as starting the domains directly would, where
/// reading the state first cost two more calls that queue behind the boots.
pub(crate) fn start(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    let Err(refused) = dom.create() else {
        return Ok(());
    };
    match power(dom, id)? {
        Power::Running => Ok(()),
        Power::Paused => dom
            .resume()
            .map(drop)
            .map_err(|e| LibvirtError::domain("resume", id, &e)),
        Power::Suspended => dom
            .pm_wakeup(0)
            .map(drop)
            .map_err(|e| LibvirtError::domain("wake up", id, &e)),
        Power::Off | Power::Saved => Err(LibvirtError::domain("start", id, &refused)),
    }
}

/// Powers the domain off at once and forgets any saved memory (os-stop on a
/// hibernated desktop discards its saved state).
pub(crate) fn hard_stop(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    destroy_if_active(dom, id)?;
    discard_saved(dom, id)
}

/// Powers the domain off at once if it runs.
pub(crate) fn destroy_if_active(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    if is_active(dom, id)? {
        dom.destroy()
            .map_err(|e| LibvirtError::domain("power off", id, &e))?;
    }
    Ok(())
}

/// Removes the managed-save image, if there is one.
pub(crate) fn discard_saved(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    let saved = dom
        .has_managed_save(0)
        .map_err(|e| LibvirtError::domain("check the saved state of", id, &e))?;
    if saved {
        dom.managed_save_remove(0)
            .map_err(|e| LibvirtError::domain("discard the saved state of", id, &e))?;
    }
    Ok(())
}

/// Whether the domain runs (in any state but off).
pub(crate) fn is_active(dom: &Domain, id: &str) -> Result<bool, LibvirtError> {
    dom.is_active()
        .map_err(|e| LibvirtError::domain("read the state of", id, &e))
}

/// Presses the ACPI power button (or asks the guest agent, when one is
/// connected). Returns whether the domain was still running.
pub(crate) fn request_shutdown(dom: &Domain, id: &str) -> Result<bool, LibvirtError> {
    if !is_active(dom, id)? {
        return Ok(false);
    }
    match dom.shutdown() {
        Ok(_) => Ok(true),
        // The guest may have powered off between the two calls. libvirt then
        // refuses ("domain is not running") while it tears the qemu process
        // down: the domain is still active, in state SHUTDOWN or paused with
        // reason "shutting down". That is the outcome a press asks for.
        Err(e) => {
            let (state, reason) = dom
                .get_state()
                .map_err(|e| LibvirtError::domain("read the state of", id, &e))?;
            let going_down = state == sys::VIR_DOMAIN_SHUTDOWN
                || (state == sys::VIR_DOMAIN_PAUSED
                    && u32::try_from(reason) == Ok(sys::VIR_DOMAIN_PAUSED_SHUTTING_DOWN));
            if going_down {
                Ok(true)
            } else if !is_active(dom, id)? {
                Ok(false)
            } else {
                Err(LibvirtError::domain("shut down", id, &e))
            }
        }
    }
}

/// SOFT reboot: libvirt asks the guest agent if one is connected, otherwise
/// presses the ACPI power button and restarts the machine when the guest
/// powers off ("fake reboot").
pub(crate) fn soft_reboot(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    if power(dom, id)? != Power::Running {
        return Err(LibvirtError::NotRunning(id.to_owned()));
    }
    dom.reboot(0)
        .map_err(|e| LibvirtError::domain("reboot", id, &e))
}

/// HARD reboot: reset a running machine; boot a stopped one from scratch
/// (any saved memory is discarded, as with a real power cycle).
pub(crate) fn hard_reboot(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    match power(dom, id)? {
        Power::Running | Power::Suspended => dom
            .reset()
            .map(drop)
            .map_err(|e| LibvirtError::domain("reset", id, &e)),
        Power::Paused => {
            dom.reset()
                .map_err(|e| LibvirtError::domain("reset", id, &e))?;
            dom.resume()
                .map(drop)
                .map_err(|e| LibvirtError::domain("resume", id, &e))
        }
        Power::Off | Power::Saved => {
            discard_saved(dom, id)?;
            dom.create()
                .map(drop)
                .map_err(|e| LibvirtError::domain("start", id, &e))
        }
    }
}

/// Saves memory to the managed-save image and powers off.
pub(crate) fn hibernate(dom: &Domain, id: &str) -> Result<(), LibvirtError> {
    match power(dom, id)? {
        Power::Saved => Ok(()),
        Power::Off => Err(LibvirtError::NotRunning(id.to_owned())),
        Power::Running | Power::Paused | Power::Suspended => dom
            .managed_save(0)
            .map(drop)
            .map_err(|e| LibvirtError::domain("hibernate (managed save)", id, &e)),
    }
}
