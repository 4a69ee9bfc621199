//! The libvirt domain XML of a desktop.
//!
//! Written by hand rather than with an XML library: the document is small,
//! fixed in shape, and every value that comes from a request or the
//! configuration goes through [`escape`].

use super::config::{ConsoleKind, ResolvedImage};
use super::disks::DesktopFiles;
use super::machine::{MachineRecord, domain_name};
use std::fmt::Write as _;
use std::path::Path;

/// Everything a desktop's domain definition is made of.
#[derive(Debug)]
pub(crate) struct DomainPlan<'a> {
    /// What the desktop is (id, size, image id).
    pub(crate) record: &'a MachineRecord,
    /// The domain UUID: kept across redefinitions of the same domain.
    pub(crate) uuid: &'a str,
    /// `kvm`, `qemu` or `test`.
    pub(crate) domain_type: &'a str,
    /// How it boots.
    pub(crate) image: &'a ResolvedImage,
    /// Where its disks and console log are.
    pub(crate) files: &'a DesktopFiles,
    /// VNC or SPICE.
    pub(crate) console: ConsoleKind,
    /// The libvirt network of its NIC, if any.
    pub(crate) network: Option<&'a str>,
}

impl DomainPlan<'_> {
    /// The `<domain>` document.
    pub(crate) fn render(&self) -> String {
        let r = self.record;
        let mut x = String::with_capacity(2048);
        // `write!` into a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(x, "<domain type='{}'>", escape(self.domain_type));
        let _ = writeln!(x, "  <name>{}</name>", escape(&domain_name(&r.desktop_id)));
        let _ = writeln!(x, "  <uuid>{}</uuid>", escape(self.uuid));
        let _ = writeln!(x, "  <title>{}</title>", escape(&r.computer_name));
        let _ = writeln!(x, "  <metadata>{}</metadata>", r.to_element());
        let _ = writeln!(x, "  <memory unit='MiB'>{}</memory>", r.memory_mib);
        let _ = writeln!(x, "  <vcpu>{}</vcpu>", r.vcpus);
        x.push_str(&self.os());
        // ACPI is what SOFT stop and SOFT reboot press the power button through.
        x.push_str("  <features><acpi/><apic/></features>\n");
        if self.domain_type == "kvm" {
            x.push_str("  <cpu mode='host-passthrough'/>\n");
        }
        x.push_str("  <clock offset='utc'/>\n");
        x.push_str("  <on_poweroff>destroy</on_poweroff>\n");
        x.push_str("  <on_reboot>restart</on_reboot>\n");
        x.push_str("  <on_crash>destroy</on_crash>\n");
        x.push_str("  <devices>\n");
        x.push_str(&disk(&self.files.system(), "vda"));
        for n in 1..=r.data_gib.len() {
            x.push_str(&disk(&self.files.data(n), &target_dev(n)));
        }
        x.push_str(&self.devices());
        x.push_str("  </devices>\n</domain>\n");
        x
    }

    fn os(&self) -> String {
        let mut x = String::from("  <os>\n    <type arch='x86_64'>hvm</type>\n");
        if let Some(kernel) = &self.image.kernel {
            let _ = writeln!(x, "    <kernel>{}</kernel>", escape_path(kernel));
            if let Some(initrd) = &self.image.initrd {
                let _ = writeln!(x, "    <initrd>{}</initrd>", escape_path(initrd));
            }
            if let Some(cmdline) = &self.image.cmdline {
                let _ = writeln!(x, "    <cmdline>{}</cmdline>", escape(cmdline));
            }
        } else {
            x.push_str("    <boot dev='hd'/>\n");
        }
        x.push_str("  </os>\n");
        x
    }

    fn devices(&self) -> String {
        let mut x = String::new();
        // The serial console is logged to a file: boot problems are visible
        // without a console client, and tests count boots in it.
        let _ = writeln!(
            x,
            "    <serial type='pty'><log file='{}' append='off'/></serial>",
            escape_path(&self.files.console_log())
        );
        x.push_str("    <console type='pty'/>\n");
        // The QEMU guest agent's port: logoff goes through it, and libvirt
        // prefers it over ACPI for shutdown and reboot once an agent connects.
        x.push_str(
            "    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n",
        );
        let kind = match self.console {
            ConsoleKind::Vnc => "vnc",
            ConsoleKind::Spice => "spice",
        };
        let _ = writeln!(
            x,
            "    <graphics type='{kind}' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>"
        );
        // An absolute pointer, so the remote cursor follows the client's.
        x.push_str("    <input type='tablet' bus='usb'/>\n");
        if let Some(net) = self.network {
            let _ = writeln!(
                x,
                "    <interface type='network'><source network='{}'/><model type='virtio'/></interface>",
                escape(net)
            );
        }
        x
    }
}

fn disk(path: &Path, dev: &str) -> String {
    format!(
        "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='{dev}' bus='virtio'/></disk>\n",
        escape_path(path)
    )
}

/// `vda`, `vdb`, ... `vdz`, `vdaa`, ... as libvirt names virtio disks.
fn target_dev(index: usize) -> String {
    let mut letters = Vec::new();
    let mut i = index + 1;
    while i > 0 {
        i -= 1;
        // `i % 26` is below 26, so the cast and the addition stay in ASCII.
        letters.push(char::from(b'a' + u8::try_from(i % 26).unwrap_or(0)));
        i /= 26;
    }
    letters.reverse();
    format!("vd{}", letters.into_iter().collect::<String>())
}

fn escape_path(p: &Path) -> String {
    escape(&p.to_string_lossy())
}

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`] (and the numeric forms libvirt may write back).
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        if let Some(c) = decoded {
            out.push(c);
            rest = &rest[end + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        let s = "a&b<c>\"d\" 'e' é";
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(unescape("&#39;&#x41;&bogus; & x"), "'A&bogus; & x");
    }

    #[test]
    fn virtio_disk_names() {
        assert_eq!(target_dev(0), "vda");
        assert_eq!(target_dev(1), "vdb");
        assert_eq!(target_dev(25), "vdz");
        assert_eq!(target_dev(26), "vdaa");
    }

    #[test]
    fn renders_a_kernel_boot_domain() {
        let record = MachineRecord {
            desktop_id: "d1".into(),
            computer_name: "pc<1>".into(),
            vcpus: 1,
            memory_mib: 128,
            image_id: "tiny".into(),
            root_gib: 1,
            data_gib: vec![2],
        };
        let image = ResolvedImage {
            kernel: Some("/g/vmlinuz".into()),
            initrd: Some("/g/initrd.img".into()),
            cmdline: Some("console=ttyS0".into()),
            ..ResolvedImage::default()
        };
        let files = DesktopFiles::new(Path::new("/data"), "d1");
        let xml = DomainPlan {
            record: &record,
            uuid: "00000000-0000-4000-8000-000000000001",
            domain_type: "kvm",
            image: &image,
            files: &files,
            console: ConsoleKind::Spice,
            network: None,
        }
        .render();
        for want in [
            "<domain type='kvm'>",
            "<name>deskplane-d1</name>",
            "<title>pc&lt;1&gt;</title>",
            "<kernel>/g/vmlinuz</kernel>",
            "<cmdline>console=ttyS0</cmdline>",
            "<source file='/data/d1/system.qcow2'/><target dev='vda'",
            "<source file='/data/d1/data-1.qcow2'/><target dev='vdb'",
            "<graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/>",
            "name='org.qemu.guest_agent.0'",
            "host-passthrough",
        ] {
            assert!(xml.contains(want), "missing {want} in\n{xml}");
        }
        assert!(!xml.contains("<boot dev='hd'/>"));
        assert_eq!(MachineRecord::parse(&xml), Some(record));
    }
}
