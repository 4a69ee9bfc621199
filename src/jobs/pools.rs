//! Pools that look after themselves: growing a pool (expand and autoscale), and
//! the upkeep task that unbinds expired sessions and keeps autoscaled pools
//! supplied with free desktops.

use super::provision::{self, CreateError, Template, User};
use super::{Engine, TaskLease};
use crate::catalog::Catalog;
use crate::domain::ids::{JobId, ProjectId};
use crate::domain::job::{JobParams, JobType};
use crate::domain::names::{self, NameError, Origins};
use crate::domain::time::now_ms;
use crate::drivers::sim::SimDriver;
use crate::store::{NewDesktop, NewJob, PoolRow, Store};
use std::collections::HashSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// `n` desktops for pool `pool` from `tpl`, named after the pool.
pub fn pool_desktops(
    tpl: &Template,
    pool: &PoolRow,
    n: usize,
) -> Result<(Vec<NewDesktop>, Origins), NameError> {
    let short: String = pool
        .name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let prefix = format!("{}-", if short.is_empty() { "pool" } else { &short });
    let now = now_ms();
    let mut taken = HashSet::with_capacity(n);
    let mut desktops = Vec::with_capacity(n);
    for _ in 0..n {
        let name = names::generate(&prefix, &mut taken)?;
        let user = User {
            pool: Some(pool.id),
            ..User::default()
        };
        desktops.push(tpl.desktop(&pool.project_id, name, user, now));
    }
    Ok((desktops, vec![Some(prefix); n]))
}

/// A job of `job_type` on pool `pool_id`, asked for by `requested_by`.
#[must_use]
pub fn pool_job(project: &ProjectId, job_type: JobType, pool: &PoolRow, by: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        project_id: project.clone(),
        job_type,
        params: JobParams::default(),
        requested_by: by.to_owned(),
        pool_id: Some(pool.id),
        run_after_ms: 0,
        now_ms: now_ms(),
    }
}

/// Why a pool did not grow.
#[derive(Debug, thiserror::Error)]
pub enum GrowError {
    /// The catalog lost the pool's product or image.
    #[error("{0}")]
    Catalog(String),
    /// Names or the store.
    #[error(transparent)]
    Create(#[from] CreateError),
}

/// Adds `n` desktops to pool `p` as one job of `job_type` (expand or autoscale).
pub async fn grow(
    store: &dyn Store,
    catalog: &Catalog,
    p: &PoolRow,
    n: usize,
    job_type: JobType,
    by: &str,
) -> Result<JobId, GrowError> {
    let tpl = Template::of_pool(catalog, p).map_err(GrowError::Catalog)?;
    let (mut desktops, origins) = pool_desktops(&tpl, p, n).map_err(CreateError::from)?;
    let job = pool_job(&p.project_id, job_type, p, by);
    let mut writes = 0;
    while let Err(e) = store.submit_create(&job, &desktops, &[]).await {
        provision::rename_if_taken(e, &mut desktops, &origins, &mut writes)?;
    }
    Ok(job.id)
}

/// Pool upkeep, once a second until `shutdown`, on the one node holding `lease`:
/// unbind DYNAMIC pools' users whose disconnection outlived the retention (on the
/// simulator's clock when simulated, so `/sim/v1/clock/advance` moves it), and
/// grow autoscaled pools to `min_idle` free desktops, never creating more than
/// `max_auto_created` in all.
pub async fn maintain(
    engine: Engine,
    catalog: Arc<Catalog>,
    sim: Option<Arc<SimDriver>>,
    lease: TaskLease,
    shutdown: CancellationToken,
) {
    let store = engine.inner.store.clone();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        if !lease.hold().await {
            continue;
        }
        let skipped = sim.as_ref().map_or(0, |s| s.clock().skipped_ms());
        if let Err(e) = store.unbind_expired(now_ms() + skipped).await {
            engine.store_failed(&e, "unbinding expired pool sessions failed");
        }
        let needs = match store.autoscale_needs().await {
            Ok(needs) => needs,
            Err(e) => {
                engine.store_failed(&e, "autoscale check failed");
                continue;
            }
        };
        for need in needs {
            let p = &need.pool;
            let grown = grow(
                &*store,
                &catalog,
                p,
                need.create,
                JobType::ExpandDesktopPool,
                "autoscale",
            );
            match grown.await {
                Ok(job) => {
                    engine.wake();
                    tracing::info!(pool = %p.id, created = need.create, %job, "autoscale grew a pool");
                }
                Err(e) => tracing::error!(pool = %p.id, error = %e, "autoscale failed"),
            }
        }
    }
}
