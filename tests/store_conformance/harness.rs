//! Backends for the conformance suite, row builders, and a statement counter.
//!
//! SQLite runs on a file in a temporary directory. PostgreSQL runs on the local
//! server (`DESKPLANE_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`):
//! each test gets a fresh database with a random name, dropped when the test
//! ends (also when it panics). When the server is unreachable the PostgreSQL
//! tests print a loud SKIP line and return. The database sorts text by an
//! English collation where the server has ICU, so byte order must be asked for.

use deskplane::domain::desktop::{DesktopStatus, DesktopType, Disk, LoginStatus, Tag};
use deskplane::domain::ids::{DesktopId, JobId, ProjectId, UserId};
use deskplane::domain::job::{JobParams, JobType};
use deskplane::domain::machine::{Operation, Settled};
use deskplane::domain::pool::AutoscalePolicy;
use deskplane::store::postgres::PostgresStore;
use deskplane::store::sqlite::SqliteStore;
use deskplane::store::{
    Claimed, Completion, DesktopRow, Effect, Holder, NewDesktop, NewJob, Outcome, Store,
    StoreError, StoreOptions, UserRow,
};
use sqlx::Connection;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The base URL of the local PostgreSQL server.
pub fn pg_base_url() -> String {
    std::env::var("DESKPLANE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A SQLite store on a temporary file (removed with the directory).
pub struct SqliteDb {
    /// The store.
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

/// Open a fresh SQLite store.
pub async fn sqlite() -> SqliteDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let options = StoreOptions {
        connections: 4,
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(&url, &options)
        .await
        .expect("open sqlite store");
    set_raw_url(&url);
    SqliteDb { store, _dir: dir }
}

/// A fresh PostgreSQL database, dropped on drop.
pub struct PgDb {
    /// URL of the fresh database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDb {
    /// A store on the database (each call: one more pool, like one more node).
    pub async fn open(&self) -> PostgresStore {
        PostgresStore::open(&self.url, &StoreOptions::default())
            .await
            .expect("open postgres store")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime (blocked here, so its pools
        // cannot be closed from another one) or while unwinding: a thread with
        // its own runtime drops the database, FORCE ending the pools' sessions.
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let mut c = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut c)
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// A fresh database on the local PostgreSQL, or `None` (after a loud SKIP line)
/// when the server cannot be reached.
pub async fn postgres() -> Option<PgDb> {
    let admin_url = pg_base_url();
    let connect = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect(&admin_url),
    )
    .await;
    let mut admin = match connect {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            skip(&format!("SKIP: PostgreSQL unreachable at {admin_url}: {e}"));
            return None;
        }
        Err(_) => {
            skip(&format!(
                "SKIP: PostgreSQL unreachable at {admin_url}: connect timed out"
            ));
            return None;
        }
    };
    let name = format!("deskplane_test_{}", uuid::Uuid::new_v4().simple());
    // A language collation, as production databases usually have: text sorts
    // there unlike SQLite's byte order, so an ORDER BY missing `COLLATE "C"`
    // shows. Servers without ICU (before 15) get the default locale.
    let icu = format!(
        "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    );
    if sqlx::query(&icu).execute(&mut admin).await.is_err() {
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create test database");
    }
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    set_raw_url(&url);
    Some(PgDb {
        url,
        admin_url,
        name,
    })
}

thread_local! {
    /// The URL of the database the test running on this thread made last.
    static RAW_URL: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn set_raw_url(url: &str) {
    RAW_URL.with(|u| *u.borrow_mut() = Some(url.to_owned()));
}

/// Run `sql` on the database of the current test, bypassing the store: for
/// rows the typed API cannot write (a corrupt column). Returns rows changed.
pub async fn raw_execute(sql: &str) -> u64 {
    let url = RAW_URL
        .with(|u| u.borrow().clone())
        .expect("a test database made on this thread");
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("raw sqlite connection");
        let done = sqlx::query(sql).execute(&mut c).await.expect("raw sql");
        done.rows_affected()
    } else {
        let mut c = sqlx::PgConnection::connect(&url)
            .await
            .expect("raw postgres connection");
        let done = sqlx::query(sql).execute(&mut c).await.expect("raw sql");
        done.rows_affected()
    }
}

/// Say so on the real stderr: `eprintln!` would be captured by the test
/// harness and shown only for failing tests, and a skip must not go unseen.
fn skip(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Node `name` in its first incarnation (`name#1`): the lease holder a test node uses.
pub fn holder(name: &str) -> Holder {
    incarnation(name, 1)
}

/// Node `name` in its `n`-th process incarnation.
pub fn incarnation(name: &str, n: u32) -> Holder {
    Holder {
        node: name.to_owned(),
        incarnation: format!("{name}#{n}"),
    }
}

/// The project id `name` (which must be a valid one, like `p1`).
pub fn pid(name: &str) -> ProjectId {
    name.parse().expect("a valid project id")
}

/// A new project id, registered in the store.
pub async fn project(store: &dyn Store) -> ProjectId {
    let p = ProjectId::new();
    store
        .ensure_project(&p, "test", 1)
        .await
        .expect("ensure project");
    p
}

/// A user named `name` of `project`, created at `created_ms`, with no contact details.
pub fn user_row(project: &ProjectId, name: &str, created_ms: i64) -> UserRow {
    UserRow {
        id: UserId::new(),
        project_id: project.clone(),
        user_name: name.to_owned(),
        user_email: None,
        user_phone: None,
        description: String::new(),
        created_ms,
        total_desktops: 0,
    }
}

/// The tag `key=value`, or `key` alone.
pub fn tag(key: &str, value: Option<&str>) -> Tag {
    Tag {
        key: key.to_owned(),
        value: value.map(str::to_owned),
    }
}

/// A disk of `kind` and `size` GiB.
pub fn disk(kind: &str, size: i64) -> Disk {
    Disk {
        kind: kind.to_owned(),
        size,
    }
}

/// An autoscale policy keeping `min_idle` free, making at most `max_auto_created`.
pub fn policy(min_idle: Option<i64>, max_auto_created: Option<i64>) -> AutoscalePolicy {
    AutoscalePolicy {
        min_idle,
        max_auto_created,
        ..AutoscalePolicy::default()
    }
}

/// Ids as the text the string filters take.
pub fn texts<T: std::fmt::Display>(ids: &[T]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

/// A desktop row with plain defaults.
pub fn desktop(project: &ProjectId, name: &str) -> DesktopRow {
    DesktopRow {
        id: DesktopId::new(),
        project_id: project.clone(),
        computer_name: name.to_owned(),
        status: DesktopStatus::Build,
        task_status: None,
        login_status: LoginStatus::Unregister,
        busy_sub_job: None,
        user_name: None,
        user_email: None,
        desktop_type: DesktopType::Dedicated,
        pool_id: None,
        product_id: "workspace.x86.general.xlarge2".into(),
        image_id: "63aa8670-27ad-4747-8c44-6d8919e785a7".into(),
        image_type: "gold".into(),
        availability_zone: "cn-north-4a".into(),
        ip_address: "10.0.0.1".into(),
        host: None,
        root_volume: disk("SAS", 80),
        data_volumes: Vec::new(),
        tags: Vec::new(),
        created_ms: 1_000,
    }
}

/// A job of `job_type` in `project`, submitted at `now_ms`.
pub fn job(project: &ProjectId, job_type: JobType, now_ms: i64) -> NewJob {
    NewJob {
        id: JobId::new(),
        project_id: project.clone(),
        job_type,
        params: JobParams::default(),
        requested_by: "AKTEST".into(),
        pool_id: None,
        run_after_ms: 0,
        now_ms,
    }
}

/// Submit a create job for `rows`; returns the job id.
pub async fn create(store: &dyn Store, project: &ProjectId, rows: &[DesktopRow]) -> JobId {
    let j = job(project, JobType::CreateDesktops, 1_000);
    let new: Vec<NewDesktop> = rows.iter().map(|r| NewDesktop { row: r.clone() }).collect();
    store
        .submit_create(&j, &new, &[])
        .await
        .expect("submit_create");
    j.id
}

/// A completion of `c` on `host`: success settles where the state machine says.
pub fn success(c: &Claimed) -> Completion {
    Completion {
        sub_job_id: c.sub_job_id,
        claim: c.claim,
        job_id: c.job_id,
        desktop_id: c.desktop_id,
        project_id: c.project_id.clone(),
        host: "node-test".into(),
        settled: c.operation.succeeded(c.prev_status, c.prev_login),
        outcome: Outcome::Done(Effect::Nothing),
    }
}

/// A failed completion of `c`: settles where the state machine says.
pub fn failure(c: &Claimed, code: &str, reason: &str) -> Completion {
    Completion {
        outcome: Outcome::Failed {
            code: code.to_owned(),
            reason: reason.to_owned(),
        },
        settled: c.operation.failed(c.prev_status, c.prev_login),
        ..success(c)
    }
}

/// Claim everything due and complete it with `settle`; returns how many ran.
pub async fn run_all(
    store: &dyn Store,
    now_ms: i64,
    settle: impl Fn(&Claimed) -> Settled,
) -> usize {
    let mut n = 0;
    loop {
        let claimed = store
            .claim(&holder("runner"), 1_000, now_ms, now_ms + 60_000)
            .await
            .expect("claim");
        if claimed.is_empty() {
            return n;
        }
        let done: Vec<Completion> = claimed
            .iter()
            .map(|c| Completion {
                settled: settle(c),
                ..success(c)
            })
            .collect();
        n += store
            .complete(&holder("runner"), &done, now_ms)
            .await
            .expect("complete");
    }
}

/// Create one desktop per status in `states` and settle each there; returns ids.
pub async fn desktops_in(
    store: &dyn Store,
    project: &ProjectId,
    states: &[DesktopStatus],
) -> Vec<DesktopId> {
    let rows: Vec<DesktopRow> = states
        .iter()
        .enumerate()
        .map(|(i, _)| desktop(project, &format!("pc-{i:03}")))
        .collect();
    create(store, project, &rows).await;
    let wanted: HashMap<DesktopId, DesktopStatus> =
        rows.iter().zip(states).map(|(r, s)| (r.id, *s)).collect();
    run_all(store, 2_000, |c| {
        let s = wanted
            .get(&c.desktop_id)
            .copied()
            .unwrap_or(DesktopStatus::Active);
        Settled::Stays(s, s.idle_login())
    })
    .await;
    rows.into_iter().map(|r| r.id).collect()
}

/// The one desktop with this id, which must exist.
pub async fn get(store: &dyn Store, project: &ProjectId, id: &DesktopId) -> DesktopRow {
    store
        .get_desktop(project, id)
        .await
        .expect("get_desktop")
        .expect("desktop exists")
}

/// The operation of a `POST /desktops/action` stop.
pub const STOP: Operation = Operation::Stop(deskplane::domain::desktop::PowerMode::Soft);

// ---- counting the SQL statements a call sends ----

static NEXT_COUNTER: AtomicU64 = AtomicU64::new(1);

fn counts() -> &'static Mutex<HashMap<u64, usize>> {
    static COUNTS: OnceLock<Mutex<HashMap<u64, usize>>> = OnceLock::new();
    COUNTS.get_or_init(|| Mutex::new(HashMap::new()))
}

struct CounterId(u64);

/// Counts sqlx's per-statement events inside `count_statements` spans. The span
/// follows the statement to SQLite's worker thread, so this is a global layer.
struct StatementCounter;

impl<S> tracing_subscriber::Layer<S> for StatementCounter
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        meta.target() == "sqlx::query" || meta.name() == "count_statements"
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit(Option<u64>);
        impl tracing::field::Visit for Visit {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "counter" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut v = Visit(None);
        attrs.record(&mut v);
        if let (Some(n), Some(span)) = (v.0, ctx.span(id)) {
            span.extensions_mut().insert(CounterId(n));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if let Some(CounterId(n)) = span.extensions().get::<CounterId>() {
                if let Ok(mut m) = counts().lock() {
                    *m.entry(*n).or_default() += 1;
                }
                return;
            }
        }
    }
}

/// Run `fut` and return its output with the number of SQL statements it sent.
pub async fn count_statements<T>(fut: impl Future<Output = T>) -> (T, usize) {
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        let sub = tracing_subscriber::registry().with(StatementCounter);
        tracing::subscriber::set_global_default(sub).is_ok()
    });
    assert!(
        installed,
        "the statement counter must be the global subscriber"
    );
    let n = NEXT_COUNTER.fetch_add(1, Ordering::Relaxed);
    let out = fut
        .instrument(tracing::info_span!("count_statements", counter = n))
        .await;
    let count = counts()
        .lock()
        .map_or(0, |m| m.get(&n).copied().unwrap_or(0));
    (out, count)
}

/// Shared handle type for the concurrency tests.
pub type Shared = Arc<dyn Store>;

/// Creates desktops named `names` in `project`: `None` when it did, the names
/// the project already had (sorted) when the store refused the whole create.
pub async fn names_taken(
    store: &dyn Store,
    project: &ProjectId,
    names: &[&str],
) -> Option<Vec<String>> {
    let new: Vec<NewDesktop> = names
        .iter()
        .map(|n| NewDesktop {
            row: desktop(project, n),
        })
        .collect();
    let j = job(project, JobType::CreateDesktops, 1_000);
    match store.submit_create(&j, &new, &[]).await {
        Ok(()) => None,
        Err(StoreError::NamesTaken(taken)) => Some(taken),
        Err(e) => panic!("submit_create: {e}"),
    }
}
