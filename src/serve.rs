//! Wiring: open the store, seed a fresh database, start the job engine and the
//! HTTP server, and shut down in order on SIGTERM/Ctrl-C: stop accepting
//! requests, let running sub-jobs reach a safe point, close the store.

use crate::api::state::AppState;
use crate::auth::{Sealer, generate_access_key, generate_secret_key};
use crate::config::{Config, DriverKind};
use crate::domain::ids::ProjectId;
use crate::domain::time::now_ms;
use crate::drivers::ComputeDriver;
use crate::drivers::sim::SimDriver;
use crate::jobs::{Engine, TaskLease};
use crate::store::health::Health;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{CredentialRow, Holder, NodeRow, Store, StoreOptions};
use anyhow::{Context, bail};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// An opened store, with whether this process is its only user.
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// SQLite: a single node, so any other owner's running sub-job is an orphan.
    pub exclusive: bool,
}

impl OpenedStore {
    /// Close connections.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// Open the store named by `database_url`.
pub async fn open_store(cfg: &Config) -> anyhow::Result<OpenedStore> {
    let url = cfg.database_url.as_str();
    let options = StoreOptions {
        connections: cfg.db_connections,
        wait: std::time::Duration::from_millis(cfg.db_wait_ms),
        statement_timeout: std::time::Duration::from_millis(cfg.db_statement_timeout_ms),
    };
    if url.starts_with("sqlite:") {
        let s = SqliteStore::open(url, &options)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(OpenedStore {
            store: Arc::new(s),
            exclusive: true,
        })
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let p = PostgresStore::open(url, &options)
            .await
            .with_context(|| format!("opening {}", redact_password(url)))?;
        Ok(OpenedStore {
            store: Arc::new(p),
            // Other nodes may share the database: only expired leases are orphans.
            exclusive: false,
        })
    } else {
        bail!("database_url must start with sqlite:// or postgres://, not {url:?}")
    }
}

/// `url` with its password (if any) replaced, for error messages and logs.
fn redact_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The key sealing secret keys: from config, else `<data_dir>/server.key`.
pub fn sealer(cfg: &Config) -> anyhow::Result<Sealer> {
    if let Some(k) = &cfg.server_key {
        Sealer::from_base64(k).context("server_key")
    } else {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        Sealer::load_or_create(&cfg.data_dir.join("server.key")).context("server key file")
    }
}

/// Create a credential for `project_id`; returns (access key, secret key).
pub async fn create_credential(
    store: &dyn Store,
    sealer: &Sealer,
    project_id: &ProjectId,
    description: &str,
    fixed: Option<(String, String)>,
) -> anyhow::Result<(String, String)> {
    let (ak, sk) = fixed.unwrap_or_else(|| (generate_access_key(), generate_secret_key()));
    store
        .insert_credential(&CredentialRow {
            access_key: ak.clone(),
            project_id: project_id.clone(),
            secret_sealed: sealer.seal(sk.as_bytes()),
            description: description.to_owned(),
            created_ms: now_ms(),
        })
        .await?;
    Ok((ak, sk))
}

/// On a fresh database: a default project and one credential, printed once.
async fn bootstrap(cfg: &Config, store: &dyn Store, sealer: &Sealer) -> anyhow::Result<()> {
    if store.count_projects().await? > 0 {
        return Ok(());
    }
    let b = &cfg.bootstrap;
    let project = match &b.project_id {
        Some(p) => p
            .parse::<ProjectId>()
            .map_err(|e| anyhow::anyhow!("bootstrap.project_id: {e}"))?,
        None => ProjectId::new(),
    };
    store
        .ensure_project(
            &project,
            b.project_name.as_deref().unwrap_or("default"),
            now_ms(),
        )
        .await?;
    let fixed = b.access_key.clone().zip(b.secret_key.clone());
    let (ak, sk) =
        create_credential(store, sealer, &project, "created at first start", fixed).await?;
    println!(
        "deskplane: first start on an empty database: created project and credential\n  \
         project_id = {project}\n  access_key = {ak}\n  secret_key = {sk}\n\
         The secret key is shown only this once; `deskplane credentials create --project {project}` makes more."
    );
    Ok(())
}

/// The compute driver, and the simulator again when it is the one (for `/sim/v1`).
type Drivers = (Arc<dyn ComputeDriver>, Option<Arc<SimDriver>>);

fn driver(cfg: &Config, store: &Arc<dyn Store>, node: &str) -> anyhow::Result<Drivers> {
    match cfg.driver {
        DriverKind::Sim => {
            let sim = Arc::new(SimDriver::new(
                cfg.sim.clone(),
                store.clone(),
                node.to_owned(),
            ));
            Ok((sim.clone(), Some(sim)))
        }
        #[cfg(feature = "libvirt")]
        DriverKind::Libvirt => {
            let d = crate::drivers::libvirt::LibvirtDriver::new(cfg.libvirt.clone())
                .map_err(|e| anyhow::anyhow!("libvirt driver: {e}"))?;
            Ok((Arc::new(d), None))
        }
        #[cfg(not(feature = "libvirt"))]
        DriverKind::Libvirt => bail!(
            "this deskplane was built without the libvirt feature (cargo build --features libvirt)"
        ),
    }
}

/// Run the server until SIGTERM/Ctrl-C.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let opened = open_store(&cfg).await?;
    let sealer = Arc::new(sealer(&cfg)?);
    bootstrap(&cfg, opened.store.as_ref(), &sealer).await?;
    // A fresh incarnation per start: leases are this process's, not the node id's.
    let holder = Holder::fresh(cfg.node_id());
    let (driver, sim) = driver(&cfg, &opened.store, &holder.node)?;
    let catalog = Arc::new(cfg.catalog.clone());
    let reconciler_driver = driver.clone();
    let health = Arc::new(Health::default());
    let engine = Engine::new(
        opened.store.clone(),
        driver,
        catalog.clone(),
        cfg.jobs.clone(),
        holder.clone(),
        opened.exclusive,
        health.clone(),
    );
    let state = AppState {
        store: opened.store.clone(),
        health: health.clone(),
        engine: engine.clone(),
        catalog,
        sealer,
        limits: Arc::new(cfg.limits.clone()),
        auth: Arc::new(cfg.auth.clone()),
        sim,
        rate: Arc::new(crate::api::ratelimit::RateLimiter::new(
            cfg.rate_limit.clone(),
        )),
        token_ttl_secs: cfg.auth.token_ttl_secs,
        credentials: Arc::default(),
    };
    let shutdown = CancellationToken::new();
    let engine_task = tokio::spawn(engine.run(shutdown.clone()));
    let cluster_tasks = spawn_cluster_tasks(&cfg, &state, &holder, reconciler_driver, &shutdown);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    tracing::info!(listen = %listener.local_addr()?, node = %holder.node, incarnation = %holder.incarnation, driver = ?cfg.driver, db = %redact_password(&cfg.database_url), "deskplane serving");
    println!("deskplane: listening on http://{}", listener.local_addr()?);
    let heartbeat = tokio::spawn(node_heartbeat(
        opened.store.clone(),
        health,
        NodeRow {
            id: holder.node.clone(),
            incarnation: holder.incarnation.clone(),
            address: listener.local_addr()?.to_string(),
            started_ms: now_ms(),
            heartbeat_ms: now_ms(),
        },
        shutdown.clone(),
    ));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new requests; letting running sub-jobs finish");
        stop.cancel();
    });
    axum::serve(listener, crate::api::router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    shutdown.cancel();
    engine_task.await.context("job engine")?;
    for (name, task) in cluster_tasks {
        task.await.context(name)?;
    }
    heartbeat.await.context("node heartbeat")?;
    opened.close().await;
    tracing::info!("deskplane stopped");
    Ok(())
}

/// The tasks one node at a time runs for the cluster (reconciliation, pool
/// upkeep), each under a lease of a few passes.
fn spawn_cluster_tasks(
    cfg: &Config,
    state: &AppState,
    holder: &Holder,
    driver: Arc<dyn ComputeDriver>,
    shutdown: &CancellationToken,
) -> [(&'static str, tokio::task::JoinHandle<()>); 2] {
    let every = std::time::Duration::from_secs(cfg.jobs.reconcile_secs.max(1));
    let lease = |name, length| TaskLease::new(state.store.clone(), name, holder.clone(), length);
    let reconciler = tokio::spawn(crate::jobs::reconcile::run(
        state.store.clone(),
        driver,
        every,
        lease("reconcile", every * 3),
        shutdown.clone(),
    ));
    let upkeep = tokio::spawn(crate::jobs::pools::maintain(
        state.engine.clone(),
        state.catalog.clone(),
        state.sim.clone(),
        lease("pool-upkeep", std::time::Duration::from_secs(5)),
        shutdown.clone(),
    ));
    [("reconciler", reconciler), ("pool upkeep", upkeep)]
}

/// Register this node and refresh its heartbeat every second until shutdown.
/// The heartbeat is a real write: its outcome keeps `health` (and `/ready`)
/// current even when nothing else writes, and brings it back by itself.
async fn node_heartbeat(
    store: Arc<dyn Store>,
    health: Arc<Health>,
    mut me: NodeRow,
    shutdown: CancellationToken,
) {
    loop {
        me.heartbeat_ms = now_ms();
        let outcome = store.upsert_node(&me).await;
        health.observe(&outcome, me.heartbeat_ms);
        if let Err(e) = outcome
            && e.fault().is_none()
        {
            tracing::warn!(error = %e, "node heartbeat failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn database_passwords_stay_out_of_logs() {
        assert_eq!(
            redact_password("postgres://app:s3cr%40t@db:5432/deskplane"),
            "postgres://app:***@db:5432/deskplane"
        );
        assert_eq!(
            redact_password("postgres://app@db/deskplane"),
            "postgres://app@db/deskplane"
        );
        assert_eq!(
            redact_password("sqlite://deskplane.db"),
            "sqlite://deskplane.db"
        );
    }
}
