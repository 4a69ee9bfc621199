//! End-to-end harness: spawns the real `deskplane` binary on a free loopback port with a
//! fresh SQLite database in a temporary directory and fixed bootstrap credentials, and
//! drives it over HTTP with `deskplane::client::Client`, which signs like the SDK.
//!
//! The server's stdout and stderr (its tracing log and the `listening on` line) go to a
//! log file in that directory. The process is killed when the [`Server`] is dropped; if
//! the test is panicking, the directory is kept and its path printed, so the log of a
//! failed run can be read. Every wait polls with a bound and then fails with the last
//! observed state and the log directory.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod db;
pub mod desktops;

use deskplane::client::{Call, Client};
use http::{HeaderMap, Method};
use serde_json::Value;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Project id seeded into every fresh database.
pub const PROJECT: &str = "0bec5db98280d2d02fd6c00c2de791ce";
/// Access key seeded with it.
pub const AK: &str = "HPUAXKZ7WQ3NPRVLD2EM";
/// Its secret key.
pub const SK: &str = "q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE";

/// The Windows gold image of the default catalog.
pub const WINDOWS_IMAGE: &str = "63aa8670-27ad-4747-8c44-6d8919e785a7";
/// The Linux gold image of the default catalog.
pub const LINUX_IMAGE: &str = "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11";
/// The private image of the default catalog.
pub const PRIVATE_IMAGE: &str = "d7c0a5b4-7b60-4a4e-8a43-1f0b6e2f9c3d";
/// The smallest product of the default catalog.
pub const PRODUCT: &str = "workspace.x86.general.xlarge2";

/// The simulator operations whose duration can be configured.
pub const SIM_OPS: &[&str] = &[
    "CREATE",
    "START",
    "STOP",
    "REBOOT",
    "HIBERNATE",
    "REBUILD",
    "LOGOFF",
    "DELETE",
];

/// How the server is configured: `DESKPLANE_*` variables on top of test defaults
/// (every simulator duration 0, so tests run at the engine's speed unless they ask).
#[derive(Debug, Clone)]
pub struct Options {
    env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        let mut o = Self { env: Vec::new() };
        for op in SIM_OPS {
            o = o.set(&format!("DESKPLANE_SIM__{op}_MS"), "0");
        }
        o.set("DESKPLANE_LOG", "info")
    }
}

impl Options {
    /// Sets (or replaces) one variable.
    #[must_use]
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets the simulated duration of one operation (`CREATE`, `STOP` ...).
    #[must_use]
    pub fn sim_ms(self, op: &str, ms: u64) -> Self {
        self.set(&format!("DESKPLANE_SIM__{op}_MS"), &ms.to_string())
    }

    /// Sets every simulated operation duration.
    #[must_use]
    pub fn all_sim_ms(mut self, ms: u64) -> Self {
        for op in SIM_OPS {
            self = self.sim_ms(op, ms);
        }
        self
    }
}

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
        Api {
            client,
            project: project.to_owned(),
            logs: self.path.display().to_string(),
        }
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskplane"));
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

    async fn spawn(&mut self) {
        self.starts += 1;
        let log = self.log_path(self.starts);
        let out = File::create(&log).expect("the log file can be created");
        let err = out.try_clone().expect("the log file handle can be cloned");
        let mut child = self
            .command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the deskplane binary starts");
        let bound = Duration::from_secs(30);
        let started = Instant::now();
        let base = loop {
            let text = self.log_text();
            if let Some(base) = text
                .lines()
                .find_map(|l| l.split("deskplane: listening on ").nth(1))
            {
                break base.trim().to_owned();
            }
            if let Some(status) = child.try_wait().expect("the child can be polled") {
                panic!("the server exited ({status}) before listening; log:\n{text}");
            }
            if started.elapsed() > bound {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not listen within {bound:?}; log:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.base = base;
        self.child = Some(child);
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

/// A response, read whole; the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// What was asked, for failure messages.
    pub asked: String,
}

impl Reply {
    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "{}: expected HTTP {status}, got {} with {}",
            self.asked, self.status, self.text
        );
        &self.body
    }

    /// Checks an error answer: status, `error_code`, a non-empty `error_msg` and the
    /// `X-Request-Id` header; returns `error_msg`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        self.expect(status);
        assert_eq!(
            self.body["error_code"], code,
            "{}: wrong error_code in {}",
            self.asked, self.text
        );
        let msg = self.body["error_msg"].as_str().unwrap_or_default();
        assert!(
            !msg.is_empty(),
            "{}: no error_msg in {}",
            self.asked,
            self.text
        );
        assert!(
            self.request_id().is_some(),
            "{}: no X-Request-Id on the error",
            self.asked
        );
        msg.to_owned()
    }

    /// The `X-Request-Id` header.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    }
}

/// A signing client for one project, with JSON helpers that fail loudly.
#[derive(Clone, Debug)]
pub struct Api {
    /// The underlying client.
    pub client: Client,
    /// The project of the paths.
    pub project: String,
    logs: String,
}

impl Api {
    /// `/v2/{project}/{rest}`.
    #[must_use]
    pub fn v2(&self, rest: &str) -> String {
        format!("/v2/{}/{rest}", self.project)
    }

    /// Where the server's logs are, for failure messages.
    #[must_use]
    pub fn logs(&self) -> &str {
        &self.logs
    }

    /// A signed request to a full path (`/v2/...` or `/sim/v1/...`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Reply {
        self.call_with(method, path, query, body, |_| {}).await
    }

    /// Like [`Api::call`], letting `tweak` change the headers after signing.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        tweak: impl FnOnce(&mut HeaderMap),
    ) -> Reply {
        let asked = format!("{method} {path}");
        let r = self
            .client
            .request_with(method, path, query, body, tweak)
            .await;
        self.reply(asked, r)
    }

    /// Sends a raw body (malformed JSON, chosen signing time ...).
    pub async fn send(&self, call: Call<'_>, tweak: impl FnOnce(&mut HeaderMap)) -> Reply {
        let asked = format!("{} {}", call.method, call.path);
        let r = self.client.send(call, tweak).await;
        self.reply(asked, r)
    }

    /// Wraps a raw client result (e.g. of [`Client::unsigned`]) as a [`Reply`].
    pub fn reply(
        &self,
        asked: String,
        r: Result<deskplane::client::Response, deskplane::client::ClientError>,
    ) -> Reply {
        let r = r.unwrap_or_else(|e| panic!("{asked}: request failed: {e}; logs in {}", self.logs));
        let text = String::from_utf8_lossy(&r.body).into_owned();
        let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        Reply {
            status: r.status,
            headers: r.headers,
            body,
            text,
            asked: format!("{asked} (server logs in {})", self.logs),
        }
    }

    /// `GET /v2/{project}/{rest}`.
    pub async fn get(&self, rest: &str, query: &[(&str, String)]) -> Reply {
        self.call(Method::GET, &self.v2(rest), query, None).await
    }

    /// `POST /v2/{project}/{rest}` with a JSON body.
    pub async fn post(&self, rest: &str, body: &Value) -> Reply {
        self.call(Method::POST, &self.v2(rest), &[], Some(body))
            .await
    }

    /// `DELETE /v2/{project}/{rest}`.
    pub async fn delete(&self, rest: &str, query: &[(&str, String)]) -> Reply {
        self.call(Method::DELETE, &self.v2(rest), query, None).await
    }

    /// A `/sim/v1/{rest}` call.
    pub async fn sim(&self, method: Method, rest: &str, body: Option<&Value>) -> Reply {
        self.call(method, &format!("/sim/v1/{rest}"), &[], body)
            .await
    }
}

/// Polls `probe` every 20 ms until it returns `Ok`, for at most `bound`; then fails with
/// the last `Err` (the last observed state).
pub async fn poll<T>(
    what: &str,
    bound: Duration,
    logs: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) => {
                if started.elapsed() > bound {
                    panic!(
                        "gave up waiting {bound:?} for {what}; last observed: {last}; server logs in {logs}"
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Query pairs from string slices.
#[must_use]
pub fn q(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}
