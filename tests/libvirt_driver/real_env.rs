//! The machinery of the real-guest tests: when they can run, the guest, the
//! driver configuration, and a desktop whose console log can be watched.

use crate::support::{SYSTEM_URI, lookup, mref};
use deskplane::domain::desktop::DesktopStatus;
use deskplane::drivers::MachineRef;
use deskplane::drivers::libvirt::{DomainTypeChoice, ImageBoot, LibvirtConfig, LibvirtDriver};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

pub const BOOTED: &str = "deskplane-test-guest: booted";
pub const AGENT: &str = "deskplane-test-guest: agent running";

/// Why the real-guest tests cannot run on this machine, if they cannot.
pub fn unavailable() -> Option<String> {
    if std::env::var_os("DESKPLANE_SKIP_KVM_TESTS").is_some() {
        return Some("DESKPLANE_SKIP_KVM_TESTS is set".to_owned());
    }
    let tcg = Path::new("/usr/bin/qemu-system-x86_64").exists();
    if !Path::new("/dev/kvm").exists() && !tcg {
        return Some(
            "neither /dev/kvm nor qemu-system-x86_64 (for TCG): apt-get install qemu-system-x86"
                .into(),
        );
    }
    if !Path::new("/var/run/libvirt/virtlogd-sock").exists() {
        return Some("virtlogd is not running (start it with `virtlogd -d`)".to_owned());
    }
    match Connect::open(Some(SYSTEM_URI)) {
        Ok(mut conn) => {
            let _ = conn.close();
            None
        }
        Err(e) => Some(format!(
            "libvirtd is not reachable at {SYSTEM_URI}: {} (apt-get install libvirt-daemon-system, then `libvirtd -d`)",
            e.message()
        )),
    }
}

/// Writes past the test harness's output capture, so SKIP lines and timings show.
pub fn say(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(format!("{text}\n").as_bytes());
}

pub fn skip(test: &str, why: &str) {
    say(&format!("\n*** SKIP {test}: {why} ***"));
}

/// The test guest: `DESKPLANE_TEST_GUEST_DIR` as given, or built (idempotently)
/// by scripts/build-test-guest.sh into /var/tmp/deskplane-test-guest, a path
/// qemu (user libvirt-qemu) can reach.
pub fn test_guest() -> PathBuf {
    if let Some(dir) = std::env::var_os("DESKPLANE_TEST_GUEST_DIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("vmlinuz").is_file() && dir.join("initrd.img").is_file(),
            "DESKPLANE_TEST_GUEST_DIR={} has no vmlinuz and initrd.img: run scripts/build-test-guest.sh there",
            dir.display()
        );
        return dir;
    }
    let dir = PathBuf::from("/var/tmp/deskplane-test-guest");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-guest.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .output()
        .expect("run build-test-guest.sh");
    assert!(
        out.status.success(),
        "build-test-guest.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// A data directory qemu can reach (tempdir makes it 0700).
pub fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("deskplane-libvirt-")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Images `tiny` (answers ACPI only) and `tiny-agent` (also runs qemu-ga).
pub fn config(data_dir: &Path, guest: &Path) -> LibvirtConfig {
    let domain_type = match std::env::var("DESKPLANE_TEST_DOMAIN_TYPE").as_deref() {
        Ok("kvm") => DomainTypeChoice::Kvm,
        Ok("qemu") => DomainTypeChoice::Qemu,
        _ => DomainTypeChoice::Auto,
    };
    let cmdline =
        std::fs::read_to_string(guest.join("cmdline")).unwrap_or_else(|_| "console=ttyS0".into());
    let boot = |extra: &str| ImageBoot {
        disk: None,
        kernel: Some(guest.join("vmlinuz")),
        initrd: Some(guest.join("initrd.img")),
        cmdline: Some(format!("{} {extra}", cmdline.trim())),
    };
    let logoff = r#"echo "deskplane-test-guest: logoff: $DESKPLANE_LOGOFF_MESSAGE" > /dev/console"#;
    LibvirtConfig {
        hosts: vec![SYSTEM_URI.to_owned()],
        data_dir: data_dir.to_owned(),
        soft_stop_timeout_secs: 60,
        acpi_resend_secs: 2,
        domain_type,
        logoff_command: vec!["/bin/sh".into(), "-c".into(), logoff.into()],
        images: [
            ("tiny".to_owned(), boot("")),
            ("tiny-agent".to_owned(), boot("deskplane.agent")),
        ]
        .into_iter()
        .collect(),
        ..LibvirtConfig::default()
    }
}

/// One desktop on `qemu:///system`, and where to watch it.
pub struct Guest {
    pub d: LibvirtDriver,
    pub id: String,
    pub files: PathBuf,
    pub log: PathBuf,
}

impl Guest {
    pub fn m(&self, status: DesktopStatus) -> MachineRef {
        mref(&self.id, SYSTEM_URI, status)
    }

    pub fn dom(&self) -> Domain {
        lookup(SYSTEM_URI, &self.id).expect("domain")
    }

    pub fn state(&self) -> (sys::virDomainState, i32) {
        self.dom().get_state().expect("state")
    }

    /// Waits until the console log (of the current qemu process) shows `text` `n` times.
    pub async fn wait_for(&self, text: &str, n: usize) -> Duration {
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.matches(text).count() >= n {
                return started.elapsed();
            }
            // The last 2000 characters, cut on a character boundary.
            let tail = log.char_indices().rev().nth(2000).map_or(0, |(i, _)| i);
            assert!(
                started.elapsed() < Duration::from_mins(2),
                "no {n}x {text:?} within 2 min; console log ends with:\n{}",
                &log[tail..]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
