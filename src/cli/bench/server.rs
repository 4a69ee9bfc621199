//! The server the bench spawns: this very executable running `serve` on a free loopback port,
//! with a throw-away data directory (and SQLite database, or a PostgreSQL database shared by
//! several spawned nodes), fixed credentials, instant simulator operations and request limits
//! raised for 1,000-desktop requests.

use super::Args;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Project of the spawned server's bootstrap credential (32 lowercase hex).
pub const PROJECT_ID: &str = "b3c4be7c0000000000000000000bec4d";
/// Its access key (20 upper-case letters and digits).
pub const ACCESS_KEY: &str = "BENCHAKDESKPLANE0001";
/// Its secret key (40 letters and digits). Only ever used on a throw-away database.
pub const SECRET_KEY: &str = "BenchSecretKeyForAThrowAwayDatabase00001";

/// The server key of spawned PostgreSQL nodes: every node of one database must unseal the
/// bootstrap secret key the first one stored (base64 of 32 bytes).
const SERVER_KEY: &str = "QmVuY2hTZXJ2ZXJLZXlGb3JBVGhyb3dBd2F5REIwMDE=";

/// Where a spawned server keeps its state.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file in the server's own data directory.
    Sqlite,
    /// This PostgreSQL database (shared when several nodes are spawned on it).
    Postgres(String),
}

/// How long the server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_mins(1);
/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server started by the bench.
pub struct Spawned {
    child: Child,
    pid: u32,
    url: String,
    dir: PathBuf,
}

impl Spawned {
    /// Start the server and wait for its `listening on` line.
    pub async fn start(args: &Args, database: &Database) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the deskplane executable")?;
        let dir = data_dir()?;
        let limit = args.batch.max(1000).to_string();
        let db = match database {
            Database::Sqlite => format!("sqlite://{}", dir.join("bench.db").display()),
            Database::Postgres(url) => url.clone(),
        };
        let mut cmd = Command::new(exe);
        cmd.arg("serve");
        // Only what the bench sets (and --server-env) configures the server: inherited
        // DESKPLANE_* variables or a config file would make the numbers incomparable.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DESKPLANE_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env_remove("RUST_LOG");
        let log = if args.verbose { "info" } else { "warn" };
        let mut env: Vec<(String, String)> = vec![
            ("DESKPLANE_LISTEN".into(), "127.0.0.1:0".into()),
            ("DESKPLANE_DATABASE_URL".into(), db),
            ("DESKPLANE_DATA_DIR".into(), dir.display().to_string()),
            ("DESKPLANE_BOOTSTRAP__PROJECT_ID".into(), PROJECT_ID.into()),
            ("DESKPLANE_BOOTSTRAP__ACCESS_KEY".into(), ACCESS_KEY.into()),
            ("DESKPLANE_BOOTSTRAP__SECRET_KEY".into(), SECRET_KEY.into()),
            ("DESKPLANE_LIMITS__MAX_BATCH_IDS".into(), limit.clone()),
            ("DESKPLANE_LIMITS__MAX_CREATE".into(), limit),
            (
                "DESKPLANE_LIMITS__MAX_BODY_BYTES".into(),
                (64 << 20).to_string(),
            ),
            ("DESKPLANE_LOG".into(), log.into()),
        ];
        for op in [
            "CREATE",
            "START",
            "STOP",
            "REBOOT",
            "HIBERNATE",
            "REBUILD",
            "LOGOFF",
            "DELETE",
        ] {
            env.push((format!("DESKPLANE_SIM__{op}_MS"), "0".into()));
        }
        if matches!(database, Database::Postgres(_)) {
            env.push(("DESKPLANE_SERVER_KEY".into(), SERVER_KEY.into()));
        }
        env.extend(args.server_env.iter().cloned());
        cmd.envs(env);
        Self::launch(cmd, dir, "serve").await
    }

    /// Start the ceiling: a bare axum hello-world in a process of its own, as the server is.
    pub async fn start_ceiling() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the deskplane executable")?;
        let mut cmd = Command::new(exe);
        cmd.arg(super::ceiling::COMMAND);
        Self::launch(cmd, data_dir()?, super::ceiling::COMMAND).await
    }

    /// Spawn `cmd` (its stdout read here, killed if dropped) and wait for its
    /// `listening on` line.
    async fn launch(mut cmd: Command, dir: PathBuf, what: &str) -> anyhow::Result<Self> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting `deskplane {what}`"))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("deskplane: listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("the server exited before listening")
        })
        .await
        .context("the server did not print its address in time")??;
        // Keep reading so the server never blocks on a full stdout pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            pid,
            url,
            dir,
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The throw-away data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Peak resident set size (`VmHWM`) in KiB, if `/proc` tells.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time (user + system) the server has used so far, in seconds, if `/proc` tells.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        // Linux reports them in clock ticks of 1/100 s (USER_HZ) on every architecture we run on.
        Some((utime + stime) / 100.0)
    }

    /// Stop gracefully (SIGTERM, as an operator would), kill after a bound, remove the data.
    pub async fn stop(mut self, keep: bool) {
        let term = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        let graceful = term.is_ok_and(|s| s.success())
            && tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
                .await
                .is_ok_and(|r| r.is_ok_and(|s| s.success()));
        if !graceful {
            eprintln!("bench: the server did not stop cleanly within {STOP_TIMEOUT:?}; killing it");
            let _ = self.child.kill().await;
        }
        if keep {
            eprintln!("bench: server data kept in {}", self.dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("bench: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// A fresh directory under the system temp dir.
fn data_dir() -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("deskplane-bench-{}-{nanos:09}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
