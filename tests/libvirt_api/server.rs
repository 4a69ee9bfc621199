//! The real `deskplane serve` binary with the libvirt driver, in a temporary
//! directory, and a signing client for it.

use deskplane::client::Client;
use serde_json::json;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The project, access key and secret key the fresh database is seeded with.
pub const PROJECT: &str = "0b7c4a1e9d2f4e6a8c3b5d7f9e1a2c4b";
const AK: &str = "KVMTESTACCESSKEY0001";
const SK: &str = "KvmTestSecretKey0000000000000000000000ab";

/// The catalog image that boots the test guest answering the ACPI power button.
pub const IMAGE_ACPI: &str = "5f0c8a3e-1b2d-4c6e-8f9a-0b1c2d3e4f51";
/// The same guest with the QEMU guest agent running (`deskplane.agent`).
pub const IMAGE_AGENT: &str = "5f0c8a3e-1b2d-4c6e-8f9a-0b1c2d3e4f52";
/// 1 vCPU, 128 MiB: what the test guest needs, and 5-10 of them fit anywhere.
pub const PRODUCT: &str = "workspace.x86.test.tiny";

/// What the server is started with besides the fixed parts.
pub struct Settings<'a> {
    /// The test guest (vmlinuz, initrd.img, cmdline).
    pub guest: &'a Path,
    /// `[libvirt] data_dir`: reachable by qemu.
    pub libvirt_data: &'a Path,
    /// `[jobs] reconcile_secs`.
    pub reconcile_secs: u64,
}

/// A running server; stopped (SIGTERM, then SIGKILL if it hangs) when dropped.
pub struct Server {
    child: Option<Child>,
    /// Its database, server key and log.
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client signing with the bootstrap credential.
    pub client: Client,
}

/// The configuration file of the server, as TOML.
fn config(s: &Settings<'_>, dir: &Path) -> String {
    let cmdline =
        std::fs::read_to_string(s.guest.join("cmdline")).unwrap_or_else(|_| "console=ttyS0".into());
    // `no_timer_check`: the kernel's early check of the PIT timer can take
    // long or misfire when the vCPU gets little host CPU (TCG, 5-10 guests on
    // 2 cores); cloud images boot VMs with it for the same reason.
    let boot = |extra: &str| {
        json!({
            "kernel": s.guest.join("vmlinuz"),
            "initrd": s.guest.join("initrd.img"),
            "cmdline": format!("{} no_timer_check {extra}", cmdline.trim()).trim_end().to_owned(),
        })
    };
    let domain_type = std::env::var("DESKPLANE_TEST_DOMAIN_TYPE").unwrap_or_else(|_| "auto".into());
    let image = |id: &str, name: &str| {
        json!({"id": id, "name": name, "image_type": "gold", "os_type": "Linux",
               "os_version": "Debian test guest", "min_disk": 10})
    };
    let logoff = r#"echo "deskplane-test-guest: logoff: $DESKPLANE_LOGOFF_MESSAGE" > /dev/console"#;
    let cfg = json!({
        "listen": "127.0.0.1:0",
        "database_url": format!("sqlite://{}/d.db", dir.display()),
        "data_dir": dir,
        "driver": "libvirt",
        "log": "info",
        "bootstrap": {"project_id": PROJECT, "access_key": AK, "secret_key": SK},
        "jobs": {"reconcile_secs": s.reconcile_secs, "shutdown_grace_secs": 5},
        "libvirt": {
            "hosts": ["qemu:///system"],
            "data_dir": s.libvirt_data,
            "domain_type": domain_type,
            // A guest still booting misses the first press: press again soon.
            "acpi_resend_secs": 2,
            "soft_stop_timeout_secs": 90,
            "agent_timeout_secs": 10,
            "logoff_command": ["/bin/sh", "-c", logoff],
            "images": {IMAGE_ACPI: boot(""), IMAGE_AGENT: boot("deskplane.agent")},
        },
        "catalog": {
            "products": [{"product_id": PRODUCT, "cpu": 1, "memory_mb": 128,
                          "system_disk_size": 80, "descriptions": "1 vCPU | 128 MiB (test guest)"}],
            "images": [image(IMAGE_ACPI, "Test guest (ACPI)"),
                       image(IMAGE_AGENT, "Test guest (ACPI + agent)")],
        },
    });
    let value = toml::Value::try_from(cfg).expect("config as TOML");
    toml::to_string(&value).expect("config text")
}

impl Server {
    /// Starts `deskplane serve` and waits (at most 30 s) until it listens.
    pub fn start(s: &Settings<'_>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("deskplane.toml");
        std::fs::write(&file, config(s, dir.path())).expect("write config");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        // A target directory shared by several checkouts may have another
        // build's `deskplane` at the usual path: DESKPLANE_TEST_BIN names a copy.
        let bin = std::env::var_os("DESKPLANE_TEST_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_deskplane")),
            PathBuf::from,
        );
        let mut cmd = Command::new(bin);
        cmd.arg("--config").arg(&file).arg("serve");
        // Only the file configures this server, whatever the caller's environment says.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DESKPLANE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn deskplane serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("deskplane: listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            client: Client::new("http://127.0.0.1:1", AK, SK, PROJECT).expect("client"),
            dir,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => server.url = url,
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => panic!(
                "deskplane did not listen within 30 s; its log:\n{}",
                server.log_tail()
            ),
        }
        server.client = Client::new(&server.url, AK, SK, PROJECT)
            .expect("client")
            .with_timeout(Duration::from_mins(1));
        server
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's SQLite database (read by the benchmark for millisecond sub-job times).
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("d.db")
    }

    /// SIGTERM, and the exit status must be success within 30 s.
    pub fn stop(mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        let status = terminate(child);
        assert!(
            status.is_some_and(|s| s.success()),
            "deskplane did not exit cleanly on SIGTERM ({status:?}); its log:\n{}",
            self.log_tail()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = terminate(child);
        }
    }
}

/// SIGTERM, wait up to 30 s, then SIGKILL. The exit status, if it exited by itself.
fn terminate(mut child: Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
