//! The environment a fault needs and the fault itself: a small tmpfs (filled,
//! remounted read-only), a fresh PostgreSQL database on a shared server, a
//! private PostgreSQL cluster to stop and start, directory permissions taken
//! away from an unprivileged server. Each set-up undoes itself on `cleanup`.

use anyhow::{Context as _, bail};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Runs a command to completion; an error carries its output.
pub fn sh(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "{program} {}: {}: {}",
            args.join(" "),
            out.status,
            text.trim()
        );
    }
    Ok(text)
}

/// Whether this process runs as root (mounts, other users).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1))
            == Some("0")
    })
}

/// A tmpfs mounted for one trial.
pub struct SmallFs {
    pub path: PathBuf,
    mounted: bool,
}

impl SmallFs {
    /// Mounts a tmpfs of `mib` MiB at `path` (created).
    pub fn mount(path: &Path, mib: u32) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)?;
        let dir = path.to_string_lossy();
        sh(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs", &dir],
        )?;
        Ok(Self {
            path: path.to_owned(),
            mounted: true,
        })
    }

    /// Writes a filler file until the filesystem has no byte left; its size.
    pub fn fill(&self) -> anyhow::Result<u64> {
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler)
            .with_context(|| format!("creating {}", filler.display()))?;
        let chunk = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        while f.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        // A failed write_all may have written part of the chunk; single bytes
        // take the rest.
        while f.write_all(&[0u8]).is_ok() {
            written += 1;
        }
        let _ = f.flush();
        Ok(written)
    }

    /// Deletes the filler.
    pub fn free(&self) -> anyhow::Result<()> {
        std::fs::remove_file(self.path.join("filler")).context("removing the filler")
    }

    /// `mount -o remount,ro|rw`.
    pub fn remount(&self, read_only: bool) -> anyhow::Result<()> {
        let how = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        sh("mount", &["-o", how, &self.path.to_string_lossy()]).map(drop)
    }

    /// Copies what is on it into `to` (to keep a failed trial's database).
    pub fn copy_out(&self, to: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_name() != "filler" && entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name()))?;
            }
        }
        Ok(())
    }

    /// Unmounts (lazily: a process that still holds a file lets go later).
    pub fn cleanup(&mut self) {
        if self.mounted {
            self.mounted = false;
            let _ = sh("umount", &["-l", &self.path.to_string_lossy()]);
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Owns `path` (recursively) by `user:group`.
pub fn chown(path: &Path, owner: &str) -> anyhow::Result<()> {
    sh("chown", &["-R", owner, &path.to_string_lossy()]).map(drop)
}

/// Sets the mode bits of `path`.
pub fn chmod(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// The files of `dir` (not recursive).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// A free loopback TCP port (free when asked; good enough for a private cluster).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The directory of PostgreSQL's server programs (`initdb`, `pg_ctl`), newest version first.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, p)| p)
}

/// A PostgreSQL cluster of its own, run as the `postgres` user on a free port.
pub struct PrivateCluster {
    bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    running: bool,
}

impl PrivateCluster {
    /// `initdb` into `dir` and start it.
    pub fn create(bin: &Path, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        chown(dir, "postgres:postgres")?;
        chmod(dir, 0o700)?;
        let initdb = bin.join("initdb");
        sh(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                &initdb.to_string_lossy(),
                "-D",
                &dir.to_string_lossy(),
                "--auth=trust",
                "--no-sync",
            ],
        )?;
        let mut c = Self {
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            port: free_port()?,
            running: false,
        };
        c.start()?;
        Ok(c)
    }

    /// Its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let pg_ctl = self.bin.join("pg_ctl");
        let dir = self.dir.to_string_lossy();
        let mut all = vec!["-u", "postgres", "--"];
        let program = pg_ctl.to_string_lossy();
        all.push(&program);
        all.extend(["-D", &dir, "-w", "-t", "60"]);
        all.extend(args);
        sh("runuser", &all)
    }

    /// Starts it (and waits until it accepts connections).
    pub fn start(&mut self) -> anyhow::Result<()> {
        let dir = self.dir.to_string_lossy().into_owned();
        // fsync off: a crash of this cluster is a process crash, never an OS one.
        let opts = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let log = self.dir.join("server.log");
        self.pg_ctl(&["-o", &opts, "-l", &log.to_string_lossy(), "start"])?;
        self.running = true;
        Ok(())
    }

    /// Stops it in `mode` (`fast` or `immediate`).
    pub fn stop(&mut self, mode: &str) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", mode, "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Stops it if it runs and removes its directory unless `keep`.
    pub fn cleanup(&mut self, keep: bool) {
        if self.running {
            let _ = self.stop("immediate");
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // An interrupted trial must not leave a server running.
        if self.running {
            let _ = self.stop("immediate");
        }
    }
}

/// A database made for one trial on a shared server, dropped at the end.
pub struct FreshDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl FreshDatabase {
    /// Creates `deskplane_campaign_<random>` on the server of `admin_url`.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        use sqlx::Connection as _;
        let mut parsed = reqwest::Url::parse(admin_url).with_context(|| admin_url.to_owned())?;
        let name = format!("deskplane_campaign_{}", uuid::Uuid::new_v4().simple());
        let mut conn = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect(admin_url),
        )
        .await
        .context("connecting to PostgreSQL timed out")??;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = conn.close().await;
        parsed.set_path(&format!("/{name}"));
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url: parsed.to_string(),
        })
    }

    /// Drops it (with FORCE: a killed node's connections may linger).
    pub async fn drop_it(&self) {
        use sqlx::Connection as _;
        let dropped = async {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await?;
            conn.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!("campaign: cannot drop database {}: {e}", self.name);
        }
    }
}

/// Whether PostgreSQL answers at `url` within a few seconds.
pub async fn pg_reachable(url: &str) -> bool {
    use sqlx::Connection as _;
    let connect = sqlx::PgConnection::connect(url);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), connect).await,
        Ok(Ok(_))
    )
}
