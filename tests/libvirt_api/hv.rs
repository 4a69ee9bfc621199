//! libvirt itself, asked directly (never through deskplane), and the guests'
//! serial console logs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

/// libvirt's `virDomainRunningReason` and `virDomainShutoffReason` values
/// the checks name.
pub const RUNNING_BOOTED: i32 = 1;
pub const RUNNING_RESTORED: i32 = 3;
pub const SHUTOFF_SHUTDOWN: i32 = 1;
pub const SHUTOFF_DESTROYED: i32 = 2;
pub const SHUTOFF_SAVED: i32 = 5;

/// A connection to the local libvirtd.
pub struct Hv {
    conn: Connect,
}

impl Hv {
    /// Connects to `qemu:///system`.
    pub fn open() -> Self {
        // libvirt prints every failed call to stderr by default; the expected
        // ones (an agent not connected yet, a domain that is gone) are noise.
        virt::error::clear_error_callback();
        Self {
            conn: Connect::open(Some(crate::support::SYSTEM_URI)).expect("libvirt connection"),
        }
    }

    /// The desktop's domain, if libvirt has it.
    pub fn domain(&self, id: &str) -> Option<Domain> {
        Domain::lookup_by_name(&self.conn, &format!("deskplane-{id}")).ok()
    }

    /// The desktop's domain, which must exist.
    pub fn dom(&self, id: &str) -> Domain {
        self.domain(id)
            .unwrap_or_else(|| panic!("libvirt has no domain deskplane-{id}"))
    }

    /// `(state, reason)` of the desktop's domain.
    pub fn state(&self, id: &str) -> (sys::virDomainState, i32) {
        self.dom(id).get_state().expect("domain state")
    }

    /// Asserts `(state, reason)` for every desktop; `reason` `None`: any.
    pub fn expect(
        &self,
        ids: &[String],
        state: sys::virDomainState,
        reason: Option<i32>,
        what: &str,
    ) {
        for id in ids {
            let (s, r) = self.state(id);
            assert_eq!(
                s, state,
                "desktop {id}: {what} (state, reason) = ({s}, {r})"
            );
            if let Some(want) = reason {
                assert_eq!(r, want, "desktop {id}: {what}: state {s}, reason {r}");
            }
        }
    }

    /// Whether the desktop's domain has a managed-save image.
    pub fn has_managed_save(&self, id: &str) -> bool {
        self.dom(id)
            .has_managed_save(0)
            .expect("managed-save query")
    }
}

impl Drop for Hv {
    fn drop(&mut self) {
        let _ = self.conn.close();
    }
}

/// Removes whatever domains a failed run leaves behind (their disks go with
/// the temporary data directory).
pub struct Leftovers(pub Vec<String>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let hv = Hv::open();
        for id in &self.0 {
            if let Some(dom) = hv.domain(id) {
                let _ = dom.destroy();
                let _ = dom.undefine_flags(sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE);
            }
        }
    }
}

/// Where deskplane keeps one desktop's files (`[libvirt] data_dir`/<id>).
pub fn desktop_dir(data: &Path, id: &str) -> PathBuf {
    data.join(id)
}

/// How often `text` is in the desktop's console log: the log of the current
/// qemu process (a new process, after a stop or a restore, starts a new log).
pub fn console_count(data: &Path, id: &str, text: &str) -> usize {
    std::fs::read_to_string(desktop_dir(data, id).join("console.log"))
        .unwrap_or_default()
        .matches(text)
        .count()
}

/// Waits (polling every 250 ms, at most `bound`) until every desktop's
/// console log shows `text` at least `n` times; returns how long it took.
pub async fn await_console(
    data: &Path,
    ids: &[String],
    text: &str,
    n: usize,
    bound: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let behind: Vec<&String> = ids
            .iter()
            .filter(|id| console_count(data, id, text) < n)
            .collect();
        if behind.is_empty() {
            return started.elapsed();
        }
        if started.elapsed() >= bound {
            let id = behind[0];
            let log = std::fs::read_to_string(desktop_dir(data, id).join("console.log"))
                .unwrap_or_default();
            let tail = log.char_indices().rev().nth(1500).map_or(0, |(i, _)| i);
            panic!(
                "{} desktop(s) do not show {n}x {text:?} within {bound:?}; console of {id} ends with:\n{}",
                behind.len(),
                &log[tail..]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
