//! One `deskplane serve` process of a trial: started (again) with the trial's
//! environment, its stdout and stderr appended to a log file, SIGKILLed or
//! stopped with SIGTERM. The load reaches it through a [`Slot`] that says
//! whether it is up and which start it is, so an answer can be judged against
//! the node's state when the request was sent.

use crate::client::Client;
use anyhow::{Context as _, bail};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::{ACCESS_KEY, PROJECT_ID, SECRET_KEY};

/// How a node's client answers requests: generous, a hung request is a finding.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take.
const STOP_BOUND: Duration = Duration::from_secs(30);

/// What the load sees of a node.
#[derive(Clone)]
pub struct SlotState {
    /// The client of the current start (`None` before the first).
    pub client: Option<Client>,
    /// Whether the process is listening.
    pub up: bool,
    /// Bumped on every start and stop.
    pub generation: u64,
}

/// A node's state shared with the load.
pub struct Slot {
    pub name: String,
    state: RwLock<SlotState>,
}

impl Slot {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            state: RwLock::new(SlotState {
                client: None,
                up: false,
                generation: 0,
            }),
        }
    }

    /// The current state.
    pub fn snapshot(&self) -> SlotState {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, client: Option<Client>, up: bool) {
        let mut s = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if client.is_some() {
            s.client = client;
        }
        s.up = up;
        s.generation += 1;
    }
}

/// How a start ended within its bound.
#[derive(Debug)]
pub enum Started {
    /// Listening after this long.
    Listening(Duration),
    /// The process exited first.
    Exited {
        code: Option<i32>,
        after: Duration,
        stderr: String,
    },
    /// Neither within the bound (the process is killed).
    Hung,
}

/// A server process of the trial.
pub struct Node {
    pub slot: Arc<Slot>,
    program: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    /// A node that runs `program` (the executable, possibly behind a wrapper
    /// such as `setpriv`) with `env` on top of a clean environment.
    pub fn new(name: &str, program: Vec<String>, env: Vec<(String, String)>, dir: &Path) -> Self {
        Self {
            slot: Arc::new(Slot::new(name)),
            program,
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    /// Its name (`node-a` ...).
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// Starts it and waits until it listens; anything else is an error naming the log.
    pub async fn start(&mut self, bound: Duration) -> anyhow::Result<Duration> {
        match self.try_start(bound).await? {
            Started::Listening(took) => Ok(took),
            Started::Exited { code, stderr, .. } => bail!(
                "{} exited ({code:?}) instead of listening: {} (log {})",
                self.name(),
                stderr.trim(),
                self.log.display()
            ),
            Started::Hung => bail!(
                "{} did not listen within {bound:?} (log {})",
                self.name(),
                self.log.display()
            ),
        }
    }

    /// Starts it and reports whether it listened, exited or hung within `bound`.
    pub async fn try_start(&mut self, bound: Duration) -> anyhow::Result<Started> {
        if self.child.is_some() {
            bail!("{} is already running", self.name());
        }
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        writeln!(
            log,
            "=== campaign: start {} of {}",
            self.starts,
            self.name()
        )?;
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone()?))
            .kill_on_drop(true);
        // Only the trial's settings configure the server.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DESKPLANE_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env_remove("RUST_LOG").envs(self.env.iter().cloned());
        let began = Instant::now();
        let mut child = cmd.spawn().context("starting `deskplane serve`")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(copy_stdout(stdout, log, tx));
        let outcome = tokio::time::timeout(bound, async {
            tokio::select! {
                url = rx => url.ok(),
                _ = child.wait() => None,
            }
        })
        .await;
        match outcome {
            Ok(Some(url)) => {
                let client = Client::new(&url, ACCESS_KEY, SECRET_KEY, PROJECT_ID)?
                    .with_timeout(REQUEST_TIMEOUT);
                self.child = Some(child);
                self.slot.set(Some(client), true);
                Ok(Started::Listening(began.elapsed()))
            }
            Ok(None) => {
                let status = child.wait().await?;
                let after = began.elapsed();
                Ok(Started::Exited {
                    code: status.code(),
                    after,
                    stderr: last_lines(&self.log, 5),
                })
            }
            Err(_) => {
                let _ = child.kill().await;
                Ok(Started::Hung)
            }
        }
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    pub async fn kill(&mut self) {
        self.slot.set(None, false);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM and a bounded wait; whether it exited with status 0.
    pub async fn terminate(&mut self) -> bool {
        self.slot.set(None, false);
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let sent = match child.id() {
            Some(pid) => Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await
                .is_ok_and(|s| s.success()),
            None => false,
        };
        let clean = sent
            && tokio::time::timeout(STOP_BOUND, child.wait())
                .await
                .is_ok_and(|r| r.is_ok_and(|s| s.success()));
        if !clean {
            let _ = child.kill().await;
        }
        clean
    }

    /// Whether the process is running (started and not stopped).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// `GET /ready`: the status and error code, `None` when it does not answer.
    pub async fn ready(&self) -> Option<(u16, String)> {
        let state = self.slot.snapshot();
        let client = state.client.filter(|_| state.up)?;
        let r = client
            .unsigned(http::Method::GET, "/ready", &[], None)
            .await
            .ok()?;
        let code = r
            .json()
            .ok()
            .and_then(|v| v["error_code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Some((r.status, code))
    }

    /// Polls `/ready` until it answers 200; how long that took.
    pub async fn wait_ready(&self, bound: Duration) -> anyhow::Result<Duration> {
        let began = Instant::now();
        loop {
            let seen = self.ready().await;
            if matches!(seen, Some((200, _))) {
                return Ok(began.elapsed());
            }
            if began.elapsed() > bound {
                bail!(
                    "{}: /ready not 200 within {bound:?} (last: {seen:?})",
                    self.name()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Copies the server's stdout to its log, handing over the listening address.
async fn copy_stdout(
    stdout: tokio::process::ChildStdout,
    mut log: std::fs::File,
    tx: tokio::sync::oneshot::Sender<String>,
) {
    let mut tx = Some(tx);
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let _ = writeln!(log, "{line}");
        if let Some(url) = line.strip_prefix("deskplane: listening on ")
            && let Some(tx) = tx.take()
        {
            let _ = tx.send(url.trim().to_owned());
        }
    }
}

/// The last `n` lines of a log file.
fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
