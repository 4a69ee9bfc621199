//! The server process: spawn on a free port, restart on the same data, kill, SIGTERM.

use super::{AK, Api, Options, PROJECT, SK};
use deskplane::client::Client;
use serde_json::Value;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A running `deskplane serve` child process with its data directory.
pub struct Server {
    dir: Option<TempDir>,
    path: PathBuf,
    opts: Options,
    child: Option<Child>,
    base: String,
    starts: u32,
}

impl Server {
    /// Starts a server on a fresh database.
    pub async fn start(opts: Options) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("deskplane-e2e-")
            .tempdir()
            .expect("a temporary directory can be created");
        let mut server = Server {
            path: dir.path().to_owned(),
            dir: Some(dir),
            opts,
            child: None,
            base: String::new(),
            starts: 0,
        };
        server.spawn().await;
        server
    }

    /// Starts the process again on the same database and data directory (after
    /// [`Server::kill`] or [`Server::terminate`]). The port changes.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the server is still running");
        self.spawn().await;
    }

    /// The `http://127.0.0.1:PORT` base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The data directory (database, server key, logs).
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file.
    #[must_use]
    pub fn db_path(&self) -> PathBuf {
        self.path.join("d.db")
    }

    /// A client for the bootstrap project and credential.
    #[must_use]
    pub fn api(&self) -> Api {
        self.api_as(AK, SK, PROJECT)
    }

    /// A client signing with other credentials, for `project`.
    #[must_use]
    pub fn api_as(&self, ak: &str, sk: &str, project: &str) -> Api {
        let client = Client::new(&self.base, ak, sk, project)
            .expect("the server's base URL is valid")
            .with_timeout(Duration::from_secs(30));
        Api::new(client, project, &self.path.display().to_string())
    }

    /// Runs `deskplane credentials create --project <project> --json` on this server's
    /// database (creating the project if new); returns `(access_key, secret_key)`.
    pub fn create_credential(&self, project: &str) -> (String, String) {
        let out = self
            .command()
            .args(["credentials", "create", "--project", project, "--json"])
            .stdin(Stdio::null())
            .output()
            .expect("the deskplane binary runs");
        assert!(
            out.status.success(),
            "credentials create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "credentials create printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        assert_eq!(field("project_id"), project);
        (field("access_key"), field("secret_key"))
    }

    /// Runs `deskplane ARGS` on this server's configuration and database; returns
    /// its standard output (it must succeed).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the deskplane binary runs");
        assert!(
            out.status.success(),
            "deskplane {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    pub fn kill(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("kill: the server is not running");
        child.kill().expect("SIGKILL can be sent to the child");
        child.wait().expect("the killed child can be reaped")
    }

    /// SIGTERM, then waits (bounded) for the graceful exit.
    pub async fn terminate(&mut self, bound: Duration) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .expect("terminate: the server is not running");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("SIGTERM can be sent to the child");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("the child can be polled") {
                return status;
            }
            if started.elapsed() > bound {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not exit within {bound:?} of SIGTERM; logs in {}",
                    self.path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The current log file's text.
    #[must_use]
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path(self.starts)) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.path.join(format!("server-{start}.log"))
    }

    fn command(&self) -> Command {
        let bin = env!("CARGO_BIN_EXE_deskplane");
        let mut cmd = match self.opts.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        // Only our configuration: nothing inherited from the developer's shell.
        for (key, _) in std::env::vars() {
            if key.starts_with("DESKPLANE_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        let db = self.db_path();
        cmd.env("DESKPLANE_LISTEN", "127.0.0.1:0")
            .env(
                "DESKPLANE_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("DESKPLANE_DATA_DIR", &self.path)
            .env("DESKPLANE_BOOTSTRAP__PROJECT_ID", PROJECT)
            .env("DESKPLANE_BOOTSTRAP__ACCESS_KEY", AK)
            .env("DESKPLANE_BOOTSTRAP__SECRET_KEY", SK);
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn launch(&mut self) -> Child {
        self.starts += 1;
        let log = self.log_path(self.starts);
        let out = File::create(&log).expect("the log file can be created");
        let err = out.try_clone().expect("the log file handle can be cloned");
        self.command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the deskplane binary starts")
    }

    /// Waits (bounded) until the child listens (its base URL) or exits.
    async fn await_listening(&self, child: &mut Child) -> Result<String, ExitStatus> {
        let bound = Duration::from_secs(30);
        let started = Instant::now();
        loop {
            let text = self.log_text();
            if let Some(base) = text
                .lines()
                .find_map(|l| l.split("deskplane: listening on ").nth(1))
            {
                return Ok(base.trim().to_owned());
            }
            if let Some(status) = child.try_wait().expect("the child can be polled") {
                return Err(status);
            }
            if started.elapsed() > bound {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not listen within {bound:?}; log:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn spawn(&mut self) {
        let mut child = self.launch();
        match self.await_listening(&mut child).await {
            Ok(base) => {
                self.base = base;
                self.child = Some(child);
            }
            Err(status) => panic!(
                "the server exited ({status}) before listening; log:\n{}",
                self.log_text()
            ),
        }
    }

    /// Starts the server where it must refuse to start: it exits with a failure
    /// before listening. Returns what it logged.
    pub async fn start_refused(&mut self) -> String {
        assert!(self.child.is_none(), "start_refused: the server is running");
        let mut child = self.launch();
        match self.await_listening(&mut child).await {
            Ok(base) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server listened on {base}; log:\n{}", self.log_text())
            }
            Err(status) => {
                assert!(!status.success(), "a refused start exits with a failure");
                self.log_text()
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!(
                "deskplane test failed: server logs kept in {}",
                kept.display()
            );
        }
    }
}
