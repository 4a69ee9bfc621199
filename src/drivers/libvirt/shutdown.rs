//! SOFT stop: press the ACPI power button, wait for the guest to power off,
//! press again every `acpi_resend_secs` (a guest still booting may miss the
//! first press, as Nova found), and fail after `soft_stop_timeout_secs`.

use super::error::LibvirtError;
use super::hosts::{Host, with_domain};
use super::power::{self, Power};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How a SOFT stop waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SoftStop {
    /// Give up after this long.
    pub(crate) timeout: Duration,
    /// Press the power button again this often.
    pub(crate) resend: Duration,
    /// Power off a guest that ignored us instead of failing.
    pub(crate) fallback_destroy: bool,
}

/// How often the domain's state is read while waiting.
const POLL: Duration = Duration::from_millis(250);

/// Asks the guest to power off and waits for it. A stopped desktop succeeds at
/// once; a hibernated one has its saved memory discarded (os-stop on a
/// HIBERNATED desktop means "forget the saved state").
pub(crate) async fn soft_stop(
    host: &Arc<Host>,
    id: &str,
    how: SoftStop,
) -> Result<(), LibvirtError> {
    let started = Instant::now();
    let deadline = started + how.timeout;
    let running = with_domain(host, id, |dom, id| match power::power(dom, id)? {
        Power::Off => Ok(false),
        Power::Saved => power::discard_saved(dom, id).map(|()| false),
        Power::Running | Power::Paused | Power::Suspended => power::request_shutdown(dom, id),
    })
    .await?;
    if !running {
        return Ok(());
    }
    let mut next_press = started + how.resend;
    while Instant::now() < deadline {
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        let press = Instant::now() >= next_press;
        if press {
            next_press += how.resend;
            tracing::debug!(desktop_id = id, "pressing the ACPI power button again");
        }
        let running = with_domain(host, id, move |dom, id| {
            if press {
                power::request_shutdown(dom, id)
            } else {
                power::is_active(dom, id)
            }
        })
        .await?;
        if !running {
            return Ok(());
        }
    }
    if how.fallback_destroy {
        tracing::warn!(
            desktop_id = id,
            "guest ignored the SOFT stop; powering it off as configured"
        );
        return with_domain(host, id, power::destroy_if_active).await;
    }
    Err(LibvirtError::ShutdownTimeout {
        desktop_id: id.to_owned(),
        secs: how.timeout.as_secs(),
    })
}
