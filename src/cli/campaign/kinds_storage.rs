//! The storage kinds: PostgreSQL restarted under a batch, the SQLite
//! database's filesystem full or read-only, and its directory denied to the
//! (unprivileged) server. During each, a 503 naming the storage fault is an
//! expected answer; after it, everything must come back by itself.

use super::checks::Db;
use super::faults::{self, PrivateCluster, SmallFs};
use super::millis;
use super::node::{Node, Started};
use super::trial::{READY_BOUND, START_BOUND, Trial};
use anyhow::Context as _;
use rand::Rng as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Size of the tmpfs the SQLite database lives on (MiB): roomy enough for the
/// WAL, which grows by tens of MiB within a second when 1,000 sub-jobs end at
/// once (each carried-out operation is a commit of its own with
/// `record_applied`). A filesystem the WAL fills by itself is a different trial:
/// the WAL cannot be checkpointed into a database file that cannot grow.
const SMALL_FS_MIB: u32 = 256;
/// How long a start on denied or read-only storage may take to give up.
const REFUSAL_BOUND: Duration = Duration::from_secs(20);

/// pg-restart: two nodes on a private cluster, which is stopped (fast or
/// immediate) for 2-10 s under the load, then started again.
pub async fn pg_restart(t: &mut Trial<'_>) -> anyhow::Result<()> {
    let bin = t.env.pg_bin.clone().map_err(anyhow::Error::msg)?;
    let mut cluster = PrivateCluster::create(&bin, &t.dir.join("pg"))?;
    t.event(&format!("private cluster on port {}", cluster.port));
    let outcome = pg_restart_on(t, &mut cluster).await;
    let keep = outcome.is_err() || t.keeps_data();
    cluster.cleanup(keep);
    outcome
}

async fn pg_restart_on(t: &mut Trial<'_>, cluster: &mut PrivateCluster) -> anyhow::Result<()> {
    let url = cluster.url();
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let data = t.dir.join(name);
        std::fs::create_dir_all(&data)?;
        let mut n = t.node(name, &url, &data, Some(name), false);
        n.start(START_BOUND).await?;
        nodes.push(n);
    }
    let [mut a, mut b] = <[Node; 2]>::try_from(nodes).map_err(|_| anyhow::anyhow!("two nodes"))?;
    let ids = t.populate(&a).await?;
    let load = t.load(&[&a, &b], ids, None);
    t.pause(500, 2500).await;
    let mode = if t.rng.gen_bool(0.5) {
        "fast"
    } else {
        "immediate"
    };
    let down = t.ms(2000, 10_000);
    t.fault.set(true);
    t.event(&format!("stopping PostgreSQL ({mode}) for {down} ms"));
    let stopped = Instant::now();
    cluster.stop(mode)?;
    watch_ready(t, &[&a, &b], stopped + Duration::from_millis(down)).await;
    cluster.start()?;
    let back = Instant::now();
    t.figures.fault_ms = Some(millis(stopped.elapsed()));
    t.event("PostgreSQL started again");
    t.ready_again(&[&a, &b], back).await?;
    t.close_fault_window().await;
    t.pause(500, 1500).await;
    let db = Db::postgres(&url).await?;
    let outcome = t.conclude(load, &db, &mut [&mut a, &mut b]).await;
    db.close().await;
    outcome
}

/// A single SQLite node whose database is on a small tmpfs.
struct OnTmpfs {
    fs: SmallFs,
    node: Node,
    db_path: std::path::PathBuf,
}

async fn on_tmpfs(t: &mut Trial<'_>) -> anyhow::Result<OnTmpfs> {
    let fs = SmallFs::mount(&t.dir.join("fs"), SMALL_FS_MIB)?;
    let data = t.dir.join("data");
    std::fs::create_dir_all(&data)?;
    let db_path = fs.path.join("campaign.db");
    let url = format!("sqlite://{}", db_path.display());
    let mut node = t.node("node-a", &url, &data, None, false);
    node.start(START_BOUND).await?;
    Ok(OnTmpfs { fs, node, db_path })
}

/// Keeps a failed trial's database (the tmpfs goes away) and unmounts.
fn unmount(t: &mut Trial<'_>, mut fs: SmallFs, failed: bool) {
    if (failed || t.keeps_data())
        && let Err(e) = fs.copy_out(&t.dir.join("db"))
    {
        t.note(format!(
            "could not copy the database out of the tmpfs: {e:#}"
        ));
    }
    fs.cleanup();
}

/// disk-full: the tmpfs filled to the last byte mid-burst for 1-4 s, then freed.
pub async fn disk_full(t: &mut Trial<'_>) -> anyhow::Result<()> {
    let OnTmpfs {
        fs,
        mut node,
        db_path,
    } = on_tmpfs(t).await?;
    let outcome = async {
        let ids = t.populate(&node).await?;
        let load = t.load(&[&node], ids, None);
        t.pause(500, 2500).await;
        let hold = t.ms(1000, 4000);
        t.fault.set(true);
        let filled = Instant::now();
        let bytes = fs.fill()?;
        t.event(&format!(
            "filesystem filled ({bytes} bytes of filler), held {hold} ms"
        ));
        watch_ready(t, &[&node], filled + Duration::from_millis(hold)).await;
        fs.free()?;
        let freed = Instant::now();
        t.figures.fault_ms = Some(millis(filled.elapsed()));
        t.event("filler removed");
        if t.figures.ready_503 == 0 {
            t.fail("/ready never answered 503 while the disk was full".into());
        }
        t.ready_again(&[&node], freed).await?;
        t.close_fault_window().await;
        t.pause(500, 1500).await;
        let db = Db::sqlite(&db_path).await?;
        let outcome = t.conclude(load, &db, &mut [&mut node]).await;
        db.close().await;
        outcome
    }
    .await;
    node.kill().await;
    unmount(t, fs, outcome.is_err());
    outcome
}

/// Polls every node's `/ready` every 100 ms until `until`, counting 503s by code.
async fn watch_ready(t: &mut Trial<'_>, nodes: &[&Node], until: Instant) {
    let mut codes = std::collections::BTreeMap::<String, u64>::new();
    while Instant::now() < until {
        for node in nodes {
            if let Some((503, code)) = node.ready().await {
                *codes.entry(code).or_default() += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.figures.ready_503 += codes.values().sum::<u64>();
    t.event(&format!("/ready 503s during the fault: {codes:?}"));
}

/// read-only: the tmpfs remounted read-only mid-burst, then read-write again.
///
/// Linux refuses to remount a filesystem read-only while a process has a file
/// on it open for writing (EBUSY), and the running server always has. So the
/// refusal is recorded, the server is stopped (SIGKILL or SIGTERM), the
/// filesystem goes read-only, and the server is started on it: within a bound
/// it must either exit with an error naming the database, or serve with
/// `/ready` answering 503. After the remount read-write it must recover.
pub async fn read_only(t: &mut Trial<'_>) -> anyhow::Result<()> {
    let OnTmpfs {
        fs,
        mut node,
        db_path,
    } = on_tmpfs(t).await?;
    let outcome = async {
        let ids = t.populate(&node).await?;
        let load = t.load(&[&node], ids, None);
        t.pause(500, 2500).await;
        t.fault.set(true);
        let began = Instant::now();
        match fs.remount(true) {
            Ok(()) => t.note("remounted read-only under the running server".into()),
            Err(e) => {
                t.event(&format!("remount,ro refused while the server runs: {e:#}"));
                restart_read_only(t, &fs, &mut node, &db_path).await?;
            }
        }
        let hold = t.ms(1000, 4000);
        watch_ready(t, &[&node], Instant::now() + Duration::from_millis(hold)).await;
        fs.remount(false)?;
        let writable = Instant::now();
        t.figures.fault_ms = Some(millis(began.elapsed()));
        t.event("remounted read-write");
        recover(t, &mut node, writable, "the remount read-write", true).await?;
        t.close_fault_window().await;
        t.pause(500, 1500).await;
        let db = Db::sqlite(&db_path).await?;
        let outcome = t.conclude(load, &db, &mut [&mut node]).await;
        db.close().await;
        outcome
    }
    .await;
    node.kill().await;
    if outcome.is_err() {
        let _ = fs.remount(false);
    }
    unmount(t, fs, outcome.is_err());
    outcome
}

/// Stops the server, makes the filesystem read-only and starts the server on it.
async fn restart_read_only(
    t: &mut Trial<'_>,
    fs: &SmallFs,
    node: &mut Node,
    db_path: &Path,
) -> anyhow::Result<()> {
    if t.rng.gen_bool(0.5) {
        t.event("SIGKILL node-a");
        node.kill().await;
    } else {
        t.event("SIGTERM node-a");
        if !node.terminate().await {
            t.fail("node-a did not stop cleanly on SIGTERM".into());
        }
    }
    fs.remount(true)
        .context("remount,ro with the server stopped")?;
    t.event("read-only; starting node-a on it");
    match node.try_start(REFUSAL_BOUND).await? {
        Started::Listening(_) => {
            t.note("started on the read-only filesystem".into());
            if !answers_503(node).await {
                t.fail("serving on a read-only database, /ready never answered 503".into());
            }
        }
        Started::Exited { stderr, after, .. } => {
            t.figures.refused_start_ms = Some(millis(after));
            refused_clearly(t, &stderr, db_path, "read-only filesystem");
        }
        Started::Hung => t.fail(format!(
            "started on a read-only filesystem, it neither listened nor exited within {REFUSAL_BOUND:?}"
        )),
    }
    Ok(())
}

/// After the fault: a node that kept running (it started on the faulty
/// storage) must become ready by itself (`must`: else the trial fails; else a
/// note); one that is down is started. Then the ready-again figure.
async fn recover(
    t: &mut Trial<'_>,
    node: &mut Node,
    since: Instant,
    what: &str,
    must: bool,
) -> anyhow::Result<()> {
    if node.running() {
        match node.wait_ready(READY_BOUND).await {
            Ok(took) => t.note(format!(
                "ready by itself {} ms after {what}",
                took.as_millis()
            )),
            Err(e) => {
                let why = format!("not ready by itself after {what}, without a restart: {e:#}");
                if must {
                    t.fail(why);
                } else {
                    t.note(why);
                }
                node.kill().await;
            }
        }
    }
    if !node.running() {
        node.start(START_BOUND).await?;
    }
    t.ready_again(&[node], since).await
}

/// Whether `/ready` answers 503 within the ready bound.
async fn answers_503(node: &Node) -> bool {
    let began = Instant::now();
    while began.elapsed() < READY_BOUND {
        if let Some((503, _)) = node.ready().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A start that gave up must say why, naming where.
fn refused_clearly(t: &mut Trial<'_>, stderr: &str, path: &Path, what: &str) {
    let dir = path.parent().unwrap_or(path);
    let line = stderr.lines().last().unwrap_or_default().to_owned();
    if stderr.contains(&*dir.to_string_lossy()) {
        t.note(format!("on a {what} the start exits: {line}"));
    } else {
        t.fail(format!(
            "on a {what} the start exits without naming {}: {stderr}",
            dir.display()
        ));
    }
}

/// dir-denied: the server runs as nobody; mid-burst its directory loses write
/// permission and the database files become read-only; it is SIGKILLed and
/// started while denied (it must refuse clearly within a bound), then the
/// permissions come back and it must recover.
pub async fn dir_denied(t: &mut Trial<'_>) -> anyhow::Result<()> {
    let data = t.dir.join("data");
    std::fs::create_dir_all(&data)?;
    faults::chown(&data, "nobody:")?;
    let db_path = data.join("campaign.db");
    let url = format!("sqlite://{}", db_path.display());
    let mut node = t.node("node-a", &url, &data, None, true);
    node.start(START_BOUND).await?;
    let mut saved = Modes::new();
    let outcome = denied_script(t, &mut node, &db_path, &mut saved).await;
    node.kill().await;
    if outcome.is_err() {
        let _ = restore(&saved);
    }
    outcome
}

async fn denied_script(
    t: &mut Trial<'_>,
    node: &mut Node,
    db_path: &Path,
    saved: &mut Modes,
) -> anyhow::Result<()> {
    let data = db_path.parent().context("the database has a directory")?;
    let ids = t.populate(node).await?;
    let load = t.load(&[node], ids, None);
    t.pause(500, 2500).await;
    t.fault.set(true);
    let began = Instant::now();
    *saved = deny(data)?;
    t.event("directory and database files denied write");
    t.pause(200, 1000).await;
    t.event("SIGKILL node-a");
    node.kill().await;
    let started = node.try_start(REFUSAL_BOUND).await?;
    match &started {
        Started::Exited { stderr, after, .. } => {
            t.figures.refused_start_ms = Some(millis(*after));
            refused_clearly(t, stderr, db_path, "denied directory");
        }
        Started::Listening(_) => {
            let ready = node.ready().await;
            t.fail(format!(
                "started half-working on a denied directory (/ready {ready:?})"
            ));
        }
        Started::Hung => t.fail(format!(
            "started on a denied directory, it neither listened nor exited within {REFUSAL_BOUND:?}"
        )),
    }
    t.pause(0, 1000).await;
    restore(saved)?;
    let allowed = Instant::now();
    t.figures.fault_ms = Some(millis(began.elapsed()));
    t.event("permissions restored");
    recover(t, node, allowed, "the permissions came back", false).await?;
    t.close_fault_window().await;
    t.pause(500, 1500).await;
    let db = Db::sqlite(db_path).await?;
    let outcome = t.conclude(load, &db, &mut [node]).await;
    db.close().await;
    outcome
}

/// The modes `deny` took away, to give back.
type Modes = Vec<(std::path::PathBuf, u32)>;

/// Takes write permission away from `dir` and its files; their modes before.
fn deny(dir: &Path) -> anyhow::Result<Modes> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut saved = Modes::new();
    for f in faults::files_in(dir) {
        let mode = std::fs::metadata(&f)?.permissions().mode() & 0o7777;
        faults::chmod(&f, mode & !0o222)?;
        saved.push((f, mode));
    }
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
    faults::chmod(dir, mode & !0o222)?;
    saved.push((dir.to_owned(), mode));
    Ok(saved)
}

/// Gives the modes back.
fn restore(saved: &Modes) -> anyhow::Result<()> {
    for (path, mode) in saved.iter().rev() {
        faults::chmod(path, *mode)?;
    }
    Ok(())
}
