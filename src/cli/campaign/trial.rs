//! What every trial shares: what the machine allows (root, PostgreSQL, an
//! unprivileged user), the trial's seeded generator, directory and event log,
//! the servers' environment, creating the desktops, the load, and the end:
//! settle within the bound, check, stop the nodes, keep what a failure needs.

use super::checks::{self, Db};
use super::faults::{self, sh};
use super::load::{self, FaultFlag, Load, Tally};
use super::millis;
use super::node::Node;
use super::report::{Figures, Outcome, Verdict};
use super::{ACCESS_KEY, Args, Kind, PROJECT_ID, SECRET_KEY, SERVER_KEY};
use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a server may take to listen.
pub const START_BOUND: Duration = Duration::from_mins(1);
/// How long `/ready` may take to come back after a fault ends.
pub const READY_BOUND: Duration = Duration::from_secs(30);
/// The lease every node runs with: short, so takeovers fit in a trial.
pub const LEASE_SECS: u64 = 5;
/// Share of the desktops a user is connected to before the load (logoffs then have work).
const CONNECTED_SHARE: f64 = 0.1;

/// A fresh work directory (or the one asked for).
pub fn work_dir(asked: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = if let Some(d) = asked {
        d.to_owned()
    } else {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        std::env::temp_dir().join(format!(
            "deskplane-campaign-{}-{nanos:09}",
            std::process::id()
        ))
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if asked.is_none() {
        // The unprivileged server of dir-denied must reach its directory below.
        faults::chmod(&dir, 0o755)?;
    }
    Ok(dir)
}

/// What this machine allows, probed once per campaign.
pub struct Environment {
    exe: PathBuf,
    pub pg_url: String,
    tmpfs: Result<(), String>,
    pg_shared: Result<(), String>,
    pub pg_bin: Result<PathBuf, String>,
    /// The command that runs the server as `nobody`.
    unprivileged: Result<Vec<String>, String>,
}

impl Environment {
    pub async fn probe(args: &Args, work: &Path) -> Self {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("deskplane"));
        let root = faults::is_root();
        let tmpfs = if root {
            probe_tmpfs(work)
        } else {
            Err("needs root to mount a tmpfs".into())
        };
        let pg_shared = if faults::pg_reachable(&args.pg_url).await {
            Ok(())
        } else {
            Err(format!("PostgreSQL unreachable at {}", args.pg_url))
        };
        let pg_bin = match (root, faults::pg_bin_dir()) {
            (false, _) => Err("needs root to run a private PostgreSQL cluster".into()),
            (true, None) => Err("no /usr/lib/postgresql/*/bin/initdb".into()),
            (true, Some(_)) if sh("id", &["-u", "postgres"]).is_err() => {
                Err("no postgres user to run a private cluster".into())
            }
            (true, Some(bin)) => Ok(bin),
        };
        let unprivileged = if root {
            unprivileged(&exe, work)
        } else {
            Err("needs root to run the server as another user".into())
        };
        Self {
            exe,
            pg_url: args.pg_url.clone(),
            tmpfs,
            pg_shared,
            pg_bin,
            unprivileged,
        }
    }

    /// Why `kind` cannot run here, if it cannot.
    pub fn missing(&self, kind: Kind) -> Option<&str> {
        let need = match kind {
            Kind::PgKillOne | Kind::PgKillBoth => &self.pg_shared,
            Kind::PgRestart => return self.pg_bin.as_ref().err().map(String::as_str),
            Kind::DiskFull | Kind::ReadOnly => &self.tmpfs,
            Kind::DirDenied => return self.unprivileged.as_ref().err().map(String::as_str),
            Kind::All | Kind::SqliteKill | Kind::SqliteKillFixedId => return None,
        };
        need.as_ref().err().map(String::as_str)
    }

    /// The server command, as this user or as `nobody`.
    pub fn program(&self, unprivileged: bool) -> Vec<String> {
        match (&self.unprivileged, unprivileged) {
            (Ok(p), true) => p.clone(),
            _ => vec![self.exe.to_string_lossy().into_owned()],
        }
    }
}

fn probe_tmpfs(work: &Path) -> Result<(), String> {
    let mut fs = faults::SmallFs::mount(&work.join("probe-fs"), 1)
        .map_err(|e| format!("cannot mount a tmpfs: {e:#}"))?;
    fs.cleanup();
    let _ = std::fs::remove_dir(work.join("probe-fs"));
    Ok(())
}

/// `setpriv` as nobody, with an executable nobody can reach (a copy when the
/// build directory is closed to other users).
fn unprivileged(exe: &Path, work: &Path) -> Result<Vec<String>, String> {
    if sh("id", &["-u", "nobody"]).is_err() {
        return Err("no user nobody".into());
    }
    let group = if sh("getent", &["group", "nogroup"]).is_ok() {
        "nogroup"
    } else {
        "nobody"
    };
    let setpriv = [
        "--reuid=nobody".to_owned(),
        format!("--regid={group}"),
        "--clear-groups".to_owned(),
        "--".to_owned(),
    ];
    // Runs `command` as nobody.
    let runs = |command: &[&str]| {
        let mut all: Vec<&str> = setpriv.iter().map(String::as_str).collect();
        all.extend(command);
        sh("setpriv", &all).is_ok()
    };
    let work_dir = work.to_string_lossy();
    if !runs(&["test", "-x", &work_dir]) {
        return Err(format!(
            "nobody cannot reach the work directory {work_dir} (give --work-dir under /tmp)"
        ));
    }
    let mut exe = exe.to_owned();
    if !runs(&[&exe.to_string_lossy(), "--version"]) {
        // The build directory is closed to other users: a copy nobody can run.
        let bin = work.join("bin");
        let copy = bin.join("deskplane");
        std::fs::create_dir_all(&bin)
            .and_then(|()| std::fs::copy(&exe, &copy).map(drop))
            .map_err(|e| format!("cannot copy the executable for nobody: {e}"))?;
        faults::chmod(&bin, 0o755).map_err(|e| e.to_string())?;
        faults::chmod(&copy, 0o755).map_err(|e| e.to_string())?;
        if !runs(&[&copy.to_string_lossy(), "--version"]) {
            return Err("nobody cannot run the deskplane executable".into());
        }
        exe = copy;
    }
    let mut program = vec!["setpriv".to_owned()];
    program.extend(setpriv.iter().cloned());
    program.push(exe.to_string_lossy().into_owned());
    Ok(program)
}

/// One trial in progress.
pub struct Trial<'a> {
    pub args: &'a Args,
    pub env: &'a Environment,
    pub kind: Kind,
    n: u32,
    seed: u64,
    pub rng: StdRng,
    pub dir: PathBuf,
    pub fault: Arc<FaultFlag>,
    pub figures: Figures,
    notes: Vec<String>,
    failures: Vec<String>,
    sim_env: Vec<(String, String)>,
    began: Instant,
    log: std::fs::File,
    initial_job: String,
}

impl<'a> Trial<'a> {
    pub fn new(
        args: &'a Args,
        env: &'a Environment,
        work: &Path,
        kind: Kind,
        n: u32,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let dir = work.join(format!("{}-{}", kind.name(), n + 1));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        faults::chmod(&dir, 0o755)?;
        let log = std::fs::File::create(dir.join("trial.log"))?;
        let mut rng = StdRng::seed_from_u64(seed);
        let sim_env = [
            "CREATE",
            "START",
            "STOP",
            "REBOOT",
            "HIBERNATE",
            "REBUILD",
            "LOGOFF",
            "DELETE",
        ]
        .iter()
        .map(|op| {
            let ms: u64 = rng.gen_range(20..=200);
            (format!("DESKPLANE_SIM__{op}_MS"), ms.to_string())
        })
        .collect();
        let mut t = Self {
            args,
            env,
            kind,
            n,
            seed,
            rng,
            dir,
            fault: Arc::new(FaultFlag::default()),
            figures: Figures::default(),
            notes: Vec::new(),
            failures: Vec::new(),
            sim_env,
            began: Instant::now(),
            log,
            initial_job: String::new(),
        };
        let sim = format!("{:?}", t.sim_env);
        t.event(&format!("seed {seed}; simulator durations {sim}"));
        Ok(t)
    }

    /// Appends a line to the trial's event log.
    pub fn event(&mut self, what: &str) {
        let ms = self.began.elapsed().as_millis();
        let _ = writeln!(self.log, "[{ms:>7} ms] {what}");
    }

    /// A failed check or bound.
    pub fn fail(&mut self, why: String) {
        self.event(&format!("FAILURE: {why}"));
        self.failures.push(why);
    }

    /// Something worth reporting that is not a failure.
    pub fn note(&mut self, what: String) {
        self.event(&format!("note: {what}"));
        self.notes.push(what);
    }

    /// A random number of milliseconds in `lo..=hi`.
    pub fn ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.gen_range(lo..=hi)
    }

    /// Sleeps a random time in `lo..=hi` ms.
    pub async fn pause(&mut self, lo: u64, hi: u64) {
        let ms = self.ms(lo, hi);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// A node of this trial on `database_url`, keeping its files in `data_dir`.
    pub fn node(
        &self,
        name: &str,
        database_url: &str,
        data_dir: &Path,
        node_id: Option<&str>,
        unprivileged: bool,
    ) -> Node {
        let limit = self.args.desktops.max(1000).to_string();
        let mut env: Vec<(String, String)> = vec![
            ("DESKPLANE_LISTEN".into(), "127.0.0.1:0".into()),
            ("DESKPLANE_DATABASE_URL".into(), database_url.into()),
            ("DESKPLANE_DATA_DIR".into(), data_dir.display().to_string()),
            ("DESKPLANE_BOOTSTRAP__PROJECT_ID".into(), PROJECT_ID.into()),
            ("DESKPLANE_BOOTSTRAP__ACCESS_KEY".into(), ACCESS_KEY.into()),
            ("DESKPLANE_BOOTSTRAP__SECRET_KEY".into(), SECRET_KEY.into()),
            ("DESKPLANE_SIM__RECORD_APPLIED".into(), "true".into()),
            ("DESKPLANE_JOBS__LEASE_SECS".into(), LEASE_SECS.to_string()),
            ("DESKPLANE_LIMITS__MAX_BATCH_IDS".into(), limit.clone()),
            ("DESKPLANE_LIMITS__MAX_CREATE".into(), limit),
            (
                "DESKPLANE_LIMITS__MAX_BODY_BYTES".into(),
                (64 << 20).to_string(),
            ),
            ("DESKPLANE_LOG".into(), "info".into()),
            ("NO_COLOR".into(), "1".into()),
        ];
        env.extend(self.sim_env.iter().cloned());
        if database_url.starts_with("postgres") {
            env.push(("DESKPLANE_SERVER_KEY".into(), SERVER_KEY.into()));
        }
        if let Some(id) = node_id {
            env.push(("DESKPLANE_NODE_ID".into(), id.into()));
        }
        Node::new(name, self.env.program(unprivileged), env, &self.dir)
    }

    /// Creates the desktops through `node`, waits for them, connects users to
    /// some; their ids.
    pub async fn populate(&mut self, node: &Node) -> anyhow::Result<Vec<String>> {
        let client = node.slot.snapshot().client.context("the node is not up")?;
        let began = Instant::now();
        let job = load::create_desktops(&client, self.args.desktops).await?;
        self.initial_job.clone_from(&job);
        let bound = Duration::from_secs(self.args.settle_secs.max(60));
        load::wait_job(&client, &job, bound).await?;
        let ids = load::desktop_ids(&client, self.args.desktops).await?;
        // A share of a count: within 0..=len (the cast cannot wrap).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let connected = (ids.len() as f64 * CONNECTED_SHARE) as usize;
        for id in ids.choose_multiple(&mut self.rng, connected) {
            load::connect(&client, id).await?;
        }
        let took = began.elapsed().as_millis();
        self.event(&format!(
            "{} desktops created in {took} ms, {connected} users connected",
            ids.len()
        ));
        Ok(ids)
    }

    /// Starts the load over `nodes`, adding to what an earlier load answered.
    pub fn load(&mut self, nodes: &[&Node], ids: Vec<String>, earlier: Option<Tally>) -> Load {
        self.event("load starts");
        let slots = nodes.iter().map(|n| n.slot.clone()).collect();
        let tasks = self.args.tasks.max(1);
        Load::start(
            slots,
            ids,
            self.fault.clone(),
            tasks,
            earlier.unwrap_or_default(),
            &mut self.rng,
        )
    }

    /// Waits until every node answers `/ready` 200; the time since `since` is the
    /// trial's ready-again figure.
    pub async fn ready_again(&mut self, nodes: &[&Node], since: Instant) -> anyhow::Result<()> {
        for n in nodes {
            n.wait_ready(READY_BOUND).await?;
        }
        let ms = millis(since.elapsed());
        self.figures.ready_ms = Some(ms);
        self.event(&format!("ready again after {ms} ms"));
        Ok(())
    }

    /// Ends the storage-fault window a second after everything is ready again:
    /// answers to requests sent before may still name the fault.
    pub async fn close_fault_window(&mut self) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.fault.set(false);
        self.event("fault window closed");
    }

    /// The end of every trial: the load stops, everything must settle within the
    /// bound, the checks run on `db`, and the nodes must stop cleanly.
    pub async fn conclude(
        &mut self,
        load: Load,
        db: &Db,
        nodes: &mut [&mut Node],
    ) -> anyhow::Result<()> {
        let tally = load.stop().await;
        self.event("load stopped");
        self.count(&tally);
        let bound = Duration::from_secs(self.args.settle_secs);
        match db.wait_settled(bound).await {
            Ok(took) => self.figures.settle_ms = Some(millis(took)),
            Err(e) => self.fail(format!("not settled: {e:#}")),
        }
        let mut acked = tally.acked.clone();
        acked.push(self.initial_job.clone());
        for v in checks::run(db, &acked).await? {
            self.fail(v);
        }
        self.figures.unacked = checks::unacknowledged(db, &acked, &self.initial_job).await?;
        for n in nodes.iter_mut() {
            if n.running() && !n.terminate().await {
                let name = n.name().to_owned();
                self.fail(format!("{name} did not stop cleanly on SIGTERM"));
            }
        }
        Ok(())
    }

    fn count(&mut self, t: &Tally) {
        let f = &mut self.figures;
        f.requests = t.requests;
        f.acked = t.acked.len() as u64;
        f.refused = t.refused;
        f.down = t.down_errors;
        f.storage_503 = t.storage_503_total();
        let codes = format!("{:?}", t.storage_503);
        let summary = format!(
            "{} requests: {} jobs acked, {} logoffs/sessions accepted, {} refused, {} not answered (node down), storage 503s {codes}",
            t.requests, f.acked, t.acked_no_id, t.refused, t.down_errors
        );
        self.event(&summary);
        if t.unexpected > 0 {
            self.fail(format!(
                "{} unexpected answers: {}",
                t.unexpected,
                t.unexpected_seen.join(" | ")
            ));
        }
    }

    /// The outcome; the directory is removed unless the trial failed or `--keep`.
    pub fn finish(mut self, took: Duration) -> Outcome {
        let verdict = if self.failures.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Failed
        };
        self.event(&format!("verdict {verdict:?}"));
        let kept = if verdict == Verdict::Failed || self.args.keep {
            Some(self.dir.display().to_string())
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
            None
        };
        Outcome {
            kind: self.kind.name(),
            trial: self.n + 1,
            seed: self.seed,
            verdict,
            failures: self.failures,
            notes: self.notes,
            figures: self.figures,
            kept,
            secs: took.as_secs_f64(),
        }
    }

    /// Whether the trial's data is to be kept: it has failed so far, or `--keep`.
    pub fn keeps_data(&self) -> bool {
        !self.failures.is_empty() || self.args.keep
    }
}
