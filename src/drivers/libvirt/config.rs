//! `[libvirt]` configuration: hosts, where disks live, timeouts, and per-image
//! boot overrides.

use super::error::LibvirtError;
use crate::drivers::ImageSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Configuration of the libvirt compute driver. Every field has a default, so
/// an empty `[libvirt]` table runs desktops on the local `qemu:///system`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LibvirtConfig {
    /// libvirt URIs of the hosts desktops are placed on, e.g. `qemu:///system`
    /// or `qemu+ssh://root@host2/system`; `test:///default` is libvirt's
    /// in-process test driver.
    pub hosts: Vec<String>,
    /// Where desktop disks live: `<data_dir>/<desktop_id>/system.qcow2`,
    /// `data-<n>.qcow2` (n from 1), `console.log` and `domain.xml`. Disks are
    /// made with `qemu-img` on the control-plane node, so with several hosts this
    /// must be storage every host mounts at the same path (as Nova's shared
    /// instances path).
    pub data_dir: PathBuf,
    /// How a new desktop's host is chosen.
    pub placement: PlacementPolicy,
    /// How long a SOFT stop waits for the guest to power off (Nova's default, 60 s).
    pub soft_stop_timeout_secs: u64,
    /// How often the ACPI power button is pressed again during a SOFT stop (Nova: 10 s).
    pub acpi_resend_secs: u64,
    /// Power off (destroy) a guest that ignored a SOFT stop instead of failing
    /// the sub-job. Off by default: SOFT means the guest is asked, never forced.
    pub soft_stop_fallback_destroy: bool,
    /// The libvirt domain type.
    pub domain_type: DomainTypeChoice,
    /// The remote console of each desktop (always listening on loopback only).
    pub console: ConsoleKind,
    /// A libvirt network to attach a virtio NIC to; no NIC when unset.
    pub network: Option<String>,
    /// How long a guest-agent command may take, in seconds.
    pub agent_timeout_secs: u64,
    /// The program (and arguments) the guest agent runs in the guest to log
    /// every user off; it sees the message in `DESKPLANE_LOGOFF_MESSAGE`.
    pub logoff_command: Vec<String>,
    /// The `qemu-img` binary that creates overlays and data volumes.
    pub qemu_img: PathBuf,
    /// Per-image boot overrides, keyed by `image_id`: a base disk for images
    /// the catalog has no `disk_path` for, or direct kernel boot.
    pub images: BTreeMap<String, ImageBoot>,
}

impl Default for LibvirtConfig {
    fn default() -> Self {
        Self {
            hosts: vec!["qemu:///system".to_owned()],
            data_dir: PathBuf::from("/var/lib/deskplane/libvirt"),
            placement: PlacementPolicy::FreeMemory,
            soft_stop_timeout_secs: 60,
            acpi_resend_secs: 10,
            soft_stop_fallback_destroy: false,
            domain_type: DomainTypeChoice::Auto,
            console: ConsoleKind::Vnc,
            network: None,
            agent_timeout_secs: 10,
            logoff_command: default_logoff_command(),
            qemu_img: PathBuf::from("qemu-img"),
            images: BTreeMap::new(),
        }
    }
}

/// Ends every login session (systemd-logind), after showing the message with `wall`.
fn default_logoff_command() -> Vec<String> {
    let script = r#"[ -n "$DESKPLANE_LOGOFF_MESSAGE" ] && wall "$DESKPLANE_LOGOFF_MESSAGE"; loginctl list-sessions --no-legend | while read -r s _; do loginctl terminate-session "$s"; done"#;
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

/// How a new desktop's host is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementPolicy {
    /// The reachable host with the most free memory.
    FreeMemory,
    /// Reachable hosts in turn.
    RoundRobin,
}

/// Which libvirt domain type desktops get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainTypeChoice {
    /// `kvm` when the host's capabilities offer it, else `qemu` (TCG); `test`
    /// on `test:` URIs. A local host whose /dev/kvm is PVM (`kvm_pvm`, nested
    /// paravirtual KVM that only boots PVM-enabled guest kernels) gets `qemu`.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation (TCG): slow, but works anywhere.
    Qemu,
}

/// The remote console of a desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleKind {
    /// VNC on 127.0.0.1, port chosen by libvirt.
    Vnc,
    /// SPICE on 127.0.0.1, port chosen by libvirt.
    Spice,
}

/// How the desktops of one image boot. With `kernel`, the domain boots that
/// kernel directly (libvirt `<os><kernel>`); the system disk is then an overlay
/// of `disk` if given, else a blank qcow2 of the desktop's `root_gib`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageBoot {
    /// Base disk (qcow2 or raw); overrides the catalog's `disk_path`.
    pub disk: Option<PathBuf>,
    /// Kernel for direct kernel boot.
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk for direct kernel boot.
    pub initrd: Option<PathBuf>,
    /// Kernel command line for direct kernel boot.
    pub cmdline: Option<String>,
}

/// What an image resolves to once catalog and overrides are combined.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResolvedImage {
    /// The base disk, if any.
    pub(crate) disk: Option<PathBuf>,
    /// Direct kernel boot, if configured.
    pub(crate) kernel: Option<PathBuf>,
    /// Initrd for direct kernel boot.
    pub(crate) initrd: Option<PathBuf>,
    /// Command line for direct kernel boot.
    pub(crate) cmdline: Option<String>,
}

impl LibvirtConfig {
    /// Rejects settings the driver cannot work with.
    pub(crate) fn validate(&self) -> Result<(), LibvirtError> {
        let invalid = |m: String| Err(LibvirtError::Invalid(format!("libvirt config: {m}")));
        if self.hosts.is_empty() {
            return invalid("`hosts` is empty".to_owned());
        }
        if self.soft_stop_timeout_secs == 0 || self.acpi_resend_secs == 0 {
            return invalid(
                "`soft_stop_timeout_secs` and `acpi_resend_secs` must be > 0".to_owned(),
            );
        }
        if self.agent_timeout_secs == 0 || i32::try_from(self.agent_timeout_secs).is_err() {
            return invalid("`agent_timeout_secs` must be between 1 and 2^31-1".to_owned());
        }
        if self.logoff_command.is_empty() {
            return invalid("`logoff_command` is empty".to_owned());
        }
        for (id, boot) in &self.images {
            if boot.kernel.is_none() && (boot.initrd.is_some() || boot.cmdline.is_some()) {
                return invalid(format!("image {id}: `initrd` and `cmdline` need `kernel`"));
            }
        }
        Ok(())
    }

    /// Combines the catalog image with this configuration's override for it.
    pub(crate) fn resolve_image(&self, image: &ImageSpec) -> ResolvedImage {
        let boot = self
            .images
            .get(&image.image_id)
            .cloned()
            .unwrap_or_default();
        ResolvedImage {
            disk: boot.disk.or_else(|| image.disk_path.clone()),
            kernel: boot.kernel,
            initrd: boot.initrd,
            cmdline: boot.cmdline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_parse() {
        let c: LibvirtConfig = toml::from_str("").expect("empty table parses");
        assert_eq!(c.hosts, ["qemu:///system"]);
        assert_eq!((c.soft_stop_timeout_secs, c.acpi_resend_secs), (60, 10));
        let c: LibvirtConfig = toml::from_str(
            r#"
            hosts = ["test:///default"]
            placement = "round_robin"
            domain_type = "qemu"
            console = "spice"
            [images.tiny]
            kernel = "/g/vmlinuz"
            initrd = "/g/initrd.img"
            cmdline = "console=ttyS0"
            "#,
        )
        .expect("full table parses");
        assert_eq!(c.placement, PlacementPolicy::RoundRobin);
        assert_eq!(c.domain_type, DomainTypeChoice::Qemu);
        assert_eq!(c.console, ConsoleKind::Spice);
        c.validate().expect("valid");
        let spec = ImageSpec {
            image_id: "tiny".into(),
            name: "t".into(),
            disk_path: Some("/img/base.qcow2".into()),
        };
        let r = c.resolve_image(&spec);
        assert_eq!(
            r.disk.as_deref(),
            Some(std::path::Path::new("/img/base.qcow2"))
        );
        assert_eq!(
            r.kernel.as_deref(),
            Some(std::path::Path::new("/g/vmlinuz"))
        );
    }

    #[test]
    fn nonsense_is_rejected() {
        let c = LibvirtConfig {
            hosts: vec![],
            ..LibvirtConfig::default()
        };
        assert!(c.validate().is_err());
        let mut c = LibvirtConfig::default();
        c.images.insert(
            "x".into(),
            ImageBoot {
                cmdline: Some("a".into()),
                ..ImageBoot::default()
            },
        );
        assert!(c.validate().is_err());
        assert!(toml::from_str::<LibvirtConfig>("placement = \"random\"").is_err());
    }
}
