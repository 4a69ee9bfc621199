//! libvirt hosts: a few shared connections each, the domain type they run,
//! and placement of new desktops.
//!
//! libvirt connections are thread-safe, so each host keeps a handful of
//! `Connect`s that the blocking tasks take in turn; each is reopened when
//! libvirt reports it dead (libvirtd restarted, SSH link dropped). Why more
//! than one: libvirtd serves at most `max_client_requests` calls (default 5) of
//! one connection at a time, and queues the rest. A batch of 10 or 100
//! desktops makes one call per desktop at once; over a single connection only
//! 5 would run, and quick calls (a lookup, a state read) would wait behind
//! slow ones (a boot, a managed save).

use super::config::{DomainTypeChoice, PlacementPolicy};
use super::error::{LibvirtError, is_no_domain};
use super::machine::domain_name;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use virt::connect::Connect;
use virt::domain::Domain;

/// Connections per host: 4 x libvirtd's default `max_client_requests` (5) is
/// its default `max_workers` (20), the calls it runs at once anyway.
const CONNECTIONS_PER_HOST: usize = 4;

/// Runs blocking libvirt work off the async runtime's threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, LibvirtError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LibvirtError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LibvirtError::Task(e.to_string()))?
}

/// Runs `f` on the desktop's domain on `host`, off the async runtime; a
/// missing domain is [`LibvirtError::Missing`].
pub(crate) async fn with_domain<T, F>(host: &Arc<Host>, id: &str, f: F) -> Result<T, LibvirtError>
where
    T: Send + 'static,
    F: FnOnce(&Domain, &str) -> Result<T, LibvirtError> + Send + 'static,
{
    let host = Arc::clone(host);
    let id = id.to_owned();
    blocking(move || {
        let conn = host.connect()?;
        let dom = lookup(&conn, &id)?.ok_or_else(|| LibvirtError::Missing(id.clone()))?;
        f(&dom, &id)
    })
    .await
}

/// An open libvirt connection, closed when the last user drops it (the
/// `virt` crate's `Connect` never closes itself).
#[derive(Debug)]
pub(crate) struct Connection(Connect);

impl Deref for Connection {
    type Target = Connect;
    fn deref(&self) -> &Connect {
        &self.0
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Err(e) = self.0.close() {
            tracing::debug!(error = %e, "closing a libvirt connection failed");
        }
    }
}

/// The desktop's domain on this connection's host, if it has one. Blocking.
pub(crate) fn lookup(conn: &Connect, desktop_id: &str) -> Result<Option<Domain>, LibvirtError> {
    match Domain::lookup_by_name(conn, &domain_name(desktop_id)) {
        Ok(dom) => Ok(Some(dom)),
        Err(e) if is_no_domain(&e) => Ok(None),
        Err(e) => Err(LibvirtError::domain("look up", desktop_id, &e)),
    }
}

/// One libvirt host.
#[derive(Debug)]
pub(crate) struct Host {
    /// Its libvirt URI, which is also what `Placement::host` records.
    pub(crate) uri: String,
    conns: [Mutex<Option<Arc<Connection>>>; CONNECTIONS_PER_HOST],
    next_conn: AtomicUsize,
    domain_type: OnceLock<&'static str>,
}

impl Host {
    fn new(uri: String) -> Self {
        Self {
            uri,
            conns: std::array::from_fn(|_| Mutex::new(None)),
            next_conn: AtomicUsize::new(0),
            domain_type: OnceLock::new(),
        }
    }

    /// libvirt's in-process test driver: no real machines, no disks of its own.
    pub(crate) fn is_test(&self) -> bool {
        self.uri.starts_with("test:")
    }

    /// The next of the host's shared connections, opened or reopened as
    /// needed. Blocking.
    pub(crate) fn connect(&self) -> Result<Arc<Connection>, LibvirtError> {
        // A `test://FILE` connection is a private in-process instance, so a
        // test host keeps to one (it has no request limit to spread over).
        let i = if self.is_test() {
            0
        } else {
            self.next_conn.fetch_add(1, Ordering::Relaxed) % CONNECTIONS_PER_HOST
        };
        // The slot only ever holds a whole connection, so a poisoned lock is still consistent.
        let mut slot = self.conns[i].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = slot.as_ref() {
            if conn.is_alive().unwrap_or(false) {
                return Ok(Arc::clone(conn));
            }
            tracing::warn!(uri = %self.uri, "libvirt connection lost; reconnecting");
        }
        let conn = Connect::open(Some(&self.uri)).map_err(|e| LibvirtError::Connect {
            uri: self.uri.clone(),
            detail: e.message().to_owned(),
        })?;
        let conn = Arc::new(Connection(conn));
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// The domain type this host's desktops get. Blocking (asks libvirt once).
    pub(crate) fn domain_type(
        &self,
        conn: &Connect,
        choice: DomainTypeChoice,
    ) -> Result<&'static str, LibvirtError> {
        if let Some(t) = self.domain_type.get() {
            return Ok(t);
        }
        let t = if self.is_test() {
            // The test driver accepts no other type.
            "test"
        } else {
            match choice {
                DomainTypeChoice::Kvm => "kvm",
                DomainTypeChoice::Qemu => "qemu",
                DomainTypeChoice::Auto => {
                    if self.is_local() {
                        warn_if_kvm_closed_to_qemu(&self.uri);
                    }
                    let caps = conn
                        .get_capabilities()
                        .map_err(|e| LibvirtError::host("read capabilities", &self.uri, &e))?;
                    if !caps.contains("<domain type='kvm'") {
                        tracing::info!(uri = %self.uri, "no KVM on this host: desktops run under TCG");
                        "qemu"
                    } else if self.is_local()
                        && std::path::Path::new("/sys/module/kvm_pvm").exists()
                    {
                        tracing::warn!(
                            uri = %self.uri,
                            "/dev/kvm is PVM (kvm_pvm), which boots only PVM guest kernels: desktops run under TCG; set domain_type = \"kvm\" to override"
                        );
                        "qemu"
                    } else {
                        "kvm"
                    }
                }
            }
        };
        Ok(self.domain_type.get_or_init(|| t))
    }

    /// A URI without a host name (`qemu:///system`) is this machine.
    fn is_local(&self) -> bool {
        self.uri
            .split_once("://")
            .is_some_and(|(_, rest)| rest.starts_with('/'))
    }

    fn free_memory(&self) -> Result<u64, LibvirtError> {
        let conn = self.connect()?;
        conn.get_free_memory()
            .map_err(|e| LibvirtError::host("read free memory", &self.uri, &e))
    }
}

/// Every configured host, and where the next desktop goes.
#[derive(Debug)]
pub(crate) struct Hosts {
    list: Vec<Arc<Host>>,
    policy: PlacementPolicy,
    next: AtomicUsize,
}

impl Hosts {
    /// The hosts of the configuration, in order.
    pub(crate) fn new(uris: &[String], policy: PlacementPolicy) -> Self {
        let list = uris
            .iter()
            .map(|u| Arc::new(Host::new(u.clone())))
            .collect();
        Self {
            list,
            policy,
            next: AtomicUsize::new(0),
        }
    }

    /// Every host.
    pub(crate) fn all(&self) -> &[Arc<Host>] {
        &self.list
    }

    /// The host of this URI, if it is configured.
    pub(crate) fn get(&self, uri: &str) -> Option<Arc<Host>> {
        self.list.iter().find(|h| h.uri == uri).cloned()
    }

    /// Chooses the host of a new desktop among the reachable ones. Blocking.
    pub(crate) fn place(&self) -> Result<Arc<Host>, LibvirtError> {
        let mut last_error = None;
        match self.policy {
            PlacementPolicy::FreeMemory => {
                let mut best: Option<(u64, &Arc<Host>)> = None;
                for host in &self.list {
                    match host.free_memory() {
                        Ok(free) if best.is_none_or(|(b, _)| free > b) => best = Some((free, host)),
                        Ok(_) => {}
                        Err(e) => last_error = Some(e),
                    }
                }
                if let Some((_, host)) = best {
                    return Ok(Arc::clone(host));
                }
            }
            PlacementPolicy::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                for i in 0..self.list.len() {
                    let host = &self.list[(start + i) % self.list.len()];
                    match host.connect() {
                        Ok(_) => return Ok(Arc::clone(host)),
                        Err(e) => last_error = Some(e),
                    }
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| LibvirtError::Invalid("no libvirt host is configured".into())))
    }
}

/// libvirt runs QEMU as an unprivileged user (group `kvm` on Debian). Where
/// /dev/kvm is root-only (no udev ran, as in containers), libvirt finds its
/// cached QEMU capabilities stale and probes QEMU again on every domain start,
/// which takes tens of seconds under TCG: say so once, with the fix.
fn warn_if_kvm_closed_to_qemu(uri: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::metadata("/dev/kvm") else {
        return;
    };
    if meta.permissions().mode() & 0o066 == 0 {
        tracing::warn!(
            uri,
            "/dev/kvm is open to root only: libvirt re-probes QEMU on every domain start (slow); \
             give it the kvm group as udev would: chgrp kvm /dev/kvm && chmod 0660 /dev/kvm"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_uris() {
        assert!(Host::new("qemu:///system".into()).is_local());
        assert!(!Host::new("qemu+ssh://root@h2/system".into()).is_local());
        assert!(Host::new("test:///default".into()).is_test());
    }
}
