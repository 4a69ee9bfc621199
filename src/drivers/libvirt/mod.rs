//! The `libvirt` compute driver: each desktop is a KVM (or TCG) virtual
//! machine, a libvirt domain named `deskplane-<desktop_id>`.
//!
//! Moving parts:
//! - `config`: hosts (libvirt URIs), the data directory, timeouts, and
//!   per-image boot overrides (base disk, or kernel + initrd for direct boot).
//! - `hosts`: a few shared libvirt connections per host, the domain type it runs,
//!   placement of new desktops (free memory or round robin). A desktop stays on
//!   the host it was placed on (`Placement::host`, given back in `MachineRef::host`).
//! - `disks`: `<data_dir>/<id>/system.qcow2` (a qcow2 overlay on the image, made
//!   with `qemu-img`), `data-<n>.qcow2`, the console log and a copy of the domain XML.
//! - `domain_xml`, `machine`: the domain definition and the record of what it was
//!   built from (kept in the domain's metadata).
//! - `power`, `shutdown`, `lifecycle`, `agent`: the operations, as the CONTRACT's
//!   libvirt table maps them: start = `virDomainCreate` (which resumes a
//!   managed save), SOFT stop = ACPI shutdown with re-presses and a timeout,
//!   HARD stop = destroy, SOFT/HARD reboot = reboot/reset, hibernate = managed
//!   save, rebuild = a fresh overlay, delete = destroy + undefine + remove files,
//!   logoff = the QEMU guest agent.
//!
//! The `virt` crate's calls block, so every one runs in `spawn_blocking`.
//! State truth comes from polling: [`LibvirtDriver::observe_all`] lists every
//! deskplane domain of every host for the server's periodic reconcile (libvirt
//! domain events would need a libvirt event loop thread per process; a poll
//! every few seconds is simpler and also catches what happened while the
//! control plane was down).

mod agent;
mod config;
mod disks;
mod domain_xml;
mod error;
mod hosts;
mod lifecycle;
mod machine;
mod power;
mod shutdown;

pub use config::{ConsoleKind, DomainTypeChoice, ImageBoot, LibvirtConfig, PlacementPolicy};

use self::error::LibvirtError;
use self::hosts::{Host, Hosts, blocking, lookup, with_domain};
use self::machine::{check_id, desktop_id_of};
use self::shutdown::SoftStop;
use super::{ComputeDriver, DriverError, ImageSpec, MachineRef, MachineSpec, Observed, Placement};
use crate::domain::desktop::{DesktopStatus, PowerMode};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The libvirt compute driver.
#[derive(Debug, Clone)]
pub struct LibvirtDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LibvirtConfig,
    hosts: Hosts,
}

/// What one host reported to [`LibvirtDriver::observe_hosts`].
#[derive(Debug, Clone)]
pub struct HostObservation {
    /// The host's libvirt URI.
    pub host: String,
    /// Every deskplane domain on it as `(desktop_id, state)`, or why the host
    /// could not be listed (then none of its desktops may be taken as missing).
    pub domains: Result<Vec<(String, Observed)>, DriverError>,
}

impl LibvirtDriver {
    /// A driver for the configured hosts. Connections open on first use, so a
    /// host that is down does not stop the server from starting.
    ///
    /// # Errors
    /// An invalid configuration, or no `qemu-img`.
    pub fn new(config: LibvirtConfig) -> Result<Self, DriverError> {
        config.validate()?;
        disks::check_qemu_img(&config.qemu_img)?;
        // libvirt prints every error to stderr by default; ours are returned and logged.
        virt::error::clear_error_callback();
        let hosts = Hosts::new(&config.hosts, config.placement);
        Ok(Self {
            inner: Arc::new(Inner { config, hosts }),
        })
    }

    /// The configuration the driver runs with.
    #[must_use]
    pub fn config(&self) -> &LibvirtConfig {
        &self.inner.config
    }

    /// The directory holding a desktop's disks and console log.
    #[must_use]
    pub fn desktop_dir(&self, desktop_id: &str) -> PathBuf {
        self.inner.config.data_dir.join(desktop_id)
    }

    /// Every deskplane domain of every reachable host, as `(desktop_id, state)`,
    /// for the server's periodic reconcile. Hosts that cannot be listed are
    /// left out (and logged): use [`Self::observe_hosts`] to tell "missing"
    /// from "host unreachable".
    pub async fn observe_all(&self) -> Vec<(String, Observed)> {
        let mut all = Vec::new();
        for host in self.observe_hosts().await {
            match host.domains {
                Ok(domains) => all.extend(domains),
                Err(e) => {
                    tracing::warn!(host = %host.host, error = %e, "cannot list libvirt domains");
                }
            }
        }
        all
    }

    /// Every deskplane domain, host by host, with each host's failure if any.
    pub async fn observe_hosts(&self) -> Vec<HostObservation> {
        let mut out = Vec::new();
        for host in self.inner.hosts.all() {
            let h = Arc::clone(host);
            let domains = blocking(move || list_domains(&h))
                .await
                .map_err(DriverError::from);
            out.push(HostObservation {
                host: host.uri.clone(),
                domains,
            });
        }
        out
    }

    /// The libvirt domain type (`kvm`, `qemu` or `test`) desktops get on the
    /// host with this URI, as `domain_type = "auto"` resolves it.
    ///
    /// # Errors
    /// The host is not configured or cannot be reached.
    pub async fn host_domain_type(&self, uri: &str) -> Result<&'static str, DriverError> {
        let host = self.inner.hosts.get(uri).ok_or_else(|| {
            LibvirtError::Invalid(format!("libvirt host {uri} is not in the configuration"))
        })?;
        let choice = self.inner.config.domain_type;
        Ok(blocking(move || {
            let conn = host.connect()?;
            host.domain_type(&conn, choice)
        })
        .await?)
    }

    fn soft_stop(&self) -> SoftStop {
        let c = &self.inner.config;
        SoftStop {
            timeout: Duration::from_secs(c.soft_stop_timeout_secs),
            resend: Duration::from_secs(c.acpi_resend_secs),
            fallback_destroy: c.soft_stop_fallback_destroy,
        }
    }

    /// The host a machine lives on: the one it names, or (for a machine whose
    /// placement was not recorded) whichever host has its domain. `None`: no
    /// host has it.
    async fn host_of(&self, m: &MachineRef) -> Result<Option<Arc<Host>>, LibvirtError> {
        check_id(&m.desktop_id)?;
        if let Some(uri) = &m.host {
            return self.inner.hosts.get(uri).map(Some).ok_or_else(|| {
                LibvirtError::Invalid(format!(
                    "desktop {} lives on libvirt host {uri}, which is not in the configuration",
                    m.desktop_id
                ))
            });
        }
        let inner = Arc::clone(&self.inner);
        let id = m.desktop_id.clone();
        blocking(move || find_anywhere(&inner.hosts, &id)).await
    }

    /// Like [`Self::host_of`], but a machine no host has is an error.
    async fn placed_host(&self, m: &MachineRef) -> Result<Arc<Host>, LibvirtError> {
        self.host_of(m)
            .await?
            .ok_or_else(|| LibvirtError::Missing(m.desktop_id.clone()))
    }
}

/// The host whose libvirt has this desktop's domain. An unreachable host is
/// an error only if no other host has it.
fn find_anywhere(hosts: &Hosts, id: &str) -> Result<Option<Arc<Host>>, LibvirtError> {
    let mut unreachable = None;
    for host in hosts.all() {
        match host.connect().and_then(|conn| lookup(&conn, id)) {
            Ok(Some(_)) => return Ok(Some(Arc::clone(host))),
            Ok(None) => {}
            Err(e) => unreachable = Some(e),
        }
    }
    unreachable.map_or(Ok(None), Err)
}

fn list_domains(host: &Host) -> Result<Vec<(String, Observed)>, LibvirtError> {
    let conn = host.connect()?;
    let domains = conn
        .list_all_domains(0)
        .map_err(|e| LibvirtError::host("list domains", &host.uri, &e))?;
    let mut out = Vec::new();
    for dom in domains {
        let Ok(name) = dom.get_name() else { continue };
        let Some(id) = desktop_id_of(&name) else {
            continue;
        };
        match power::power(&dom, id) {
            Ok(p) => out.push((id.to_owned(), p.observed())),
            // Undefined between the listing and the state query: it is gone.
            Err(e) => tracing::debug!(desktop_id = id, error = %e, "domain vanished while listing"),
        }
    }
    Ok(out)
}

#[async_trait]
impl ComputeDriver for LibvirtDriver {
    fn name(&self) -> &'static str {
        "libvirt"
    }

    async fn create(&self, spec: &MachineSpec) -> Result<Placement, DriverError> {
        check_id(&spec.desktop_id)?;
        let inner = Arc::clone(&self.inner);
        let spec = spec.clone();
        let uri = blocking(move || {
            let files = disks::DesktopFiles::new(&inner.config.data_dir, &spec.desktop_id);
            // A re-run after a crash finds the domain where the first run put it.
            let host = match find_anywhere(&inner.hosts, &spec.desktop_id) {
                Ok(Some(host)) => host,
                // A host is down. If an earlier attempt got as far as defining
                // the domain, it may be there: placing it anew could make a twin.
                Err(e) if files.domain_xml().exists() => return Err(e),
                Ok(None) | Err(_) => inner.hosts.place()?,
            };
            lifecycle::create(&inner.config, &host, &spec)?;
            Ok(host.uri.clone())
        })
        .await?;
        Ok(Placement {
            host: Some(uri),
            ip_address: None,
        })
    }

    async fn start(&self, m: &MachineRef) -> Result<(), DriverError> {
        let host = self.placed_host(m).await?;
        Ok(with_domain(&host, &m.desktop_id, power::start).await?)
    }

    async fn stop(&self, m: &MachineRef, mode: PowerMode) -> Result<(), DriverError> {
        let host = self.placed_host(m).await?;
        match mode {
            PowerMode::Soft => {
                Ok(shutdown::soft_stop(&host, &m.desktop_id, self.soft_stop()).await?)
            }
            PowerMode::Hard => Ok(with_domain(&host, &m.desktop_id, power::hard_stop).await?),
        }
    }

    async fn reboot(&self, m: &MachineRef, mode: PowerMode) -> Result<(), DriverError> {
        let host = self.placed_host(m).await?;
        match mode {
            PowerMode::Soft => Ok(with_domain(&host, &m.desktop_id, power::soft_reboot).await?),
            PowerMode::Hard => {
                let inner = Arc::clone(&self.inner);
                let id = m.desktop_id.clone();
                Ok(blocking(move || {
                    // HARD reboot may repair an ERROR desktop whose domain vanished.
                    let conn = host.connect()?;
                    let files = disks::DesktopFiles::new(&inner.config.data_dir, &id);
                    let dom = lifecycle::ensure_defined(&host, &conn, &id, &files)?;
                    power::hard_reboot(&dom, &id)
                })
                .await?)
            }
        }
    }

    async fn hibernate(&self, m: &MachineRef) -> Result<(), DriverError> {
        let host = self.placed_host(m).await?;
        Ok(with_domain(&host, &m.desktop_id, power::hibernate).await?)
    }

    async fn rebuild(&self, m: &MachineRef, image: &ImageSpec) -> Result<(), DriverError> {
        // Not `placed_host`: a vanished domain is defined again from domain.xml.
        let Some(host) = self.host_of(m).await? else {
            return Err(LibvirtError::Missing(m.desktop_id.clone()).into());
        };
        let inner = Arc::clone(&self.inner);
        let id = m.desktop_id.clone();
        let image = image.clone();
        let run_after = matches!(m.status, DesktopStatus::Active | DesktopStatus::Error);
        Ok(
            blocking(move || lifecycle::rebuild(&inner.config, &host, &id, &image, run_after))
                .await?,
        )
    }

    async fn logoff(&self, m: &MachineRef, message: Option<&str>) -> Result<(), DriverError> {
        let host = self.placed_host(m).await?;
        let c = &self.inner.config;
        let command = c.logoff_command.clone();
        let message = message.map(str::to_owned);
        // `validate` checked that the timeout fits an i32.
        let timeout = i32::try_from(c.agent_timeout_secs).unwrap_or(i32::MAX);
        Ok(with_domain(&host, &m.desktop_id, move |dom, id| {
            agent::logoff(dom, id, &command, message.as_deref(), timeout)
        })
        .await?)
    }

    async fn delete(&self, m: &MachineRef) -> Result<(), DriverError> {
        let host = self.host_of(m).await?;
        let inner = Arc::clone(&self.inner);
        let id = m.desktop_id.clone();
        Ok(blocking(move || lifecycle::delete(&inner.config, host.as_deref(), &id)).await?)
    }

    async fn observe(&self, m: &MachineRef) -> Result<Observed, DriverError> {
        let Some(host) = self.host_of(m).await? else {
            return Ok(Observed::Missing);
        };
        let id = m.desktop_id.clone();
        Ok(blocking(move || {
            let conn = host.connect()?;
            match lookup(&conn, &id)? {
                Some(dom) => power::power(&dom, &id).map(power::Power::observed),
                None => Ok(Observed::Missing),
            }
        })
        .await?)
    }

    async fn inventory(&self) -> Option<super::Inventory> {
        let mut inv = super::Inventory::default();
        for host in self.observe_hosts().await {
            match host.domains {
                Ok(domains) => {
                    inv.machines.extend(domains);
                    inv.complete_hosts.push(host.host);
                }
                Err(e) => {
                    tracing::warn!(host = %host.host, error = %e, "cannot list libvirt domains");
                }
            }
        }
        Some(inv)
    }
}
