//! Growing pools (expand and autoscale) and the pool upkeep task.

use super::super::create_plan::{self, Template, TemplateReq};
use super::super::error::ApiResult;
use super::super::state::{AppState, Caller};
use super::super::submit;
use crate::domain::job::JobType;
use crate::domain::time::now_ms;
use crate::jobs::JobParams;
use crate::store::PoolRow;

/// Desktops for a pool (create or expand): names from the pool name.
pub(super) fn pool_desktops(
    caller: &Caller,
    tpl: &Template,
    pool: &PoolRow,
    n: usize,
) -> Vec<crate::store::NewDesktop> {
    let prefix: String = pool
        .name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let prefix = if prefix.is_empty() {
        "pool".to_owned()
    } else {
        prefix
    };
    let now = now_ms();
    (0..n)
        .map(|_| {
            create_plan::new_desktop(
                caller,
                tpl,
                create_plan::generated_name(&format!("{prefix}-")),
                None,
                None,
                Some(pool.id),
                now,
            )
        })
        .collect()
}

/// Add `n` desktops to a pool as one job (expand and autoscale).
pub async fn grow(
    st: &AppState,
    caller: &Caller,
    p: &PoolRow,
    n: usize,
    job_type: JobType,
) -> ApiResult<String> {
    let tpl = create_plan::template(
        st,
        TemplateReq {
            product_id: Some(p.product_id.clone()),
            image_id: Some(p.image_id.clone()),
            image_type: None,
            availability_zone: Some(p.availability_zone.clone()),
            root_volume: Some((&p.root_volume).into()),
            data_volumes: Some(p.data_volumes.iter().map(Into::into).collect()),
            tags: Some(p.tags.iter().map(Into::into).collect()),
        },
    )?;
    let desktops = pool_desktops(caller, &tpl, p, n);
    let job = submit::new_job(caller, job_type, &JobParams::default(), Some(p.id));
    st.store.submit_create(&job, &desktops, &[]).await?;
    st.engine.wake();
    Ok(job.id.to_string())
}

/// Pool upkeep, once a second until `shutdown`, on the one node holding `lease`:
/// unbind DYNAMIC pools' users whose disconnection outlived the retention (on the
/// simulator's clock when simulated, so `/sim/v1/clock/advance` moves it), and
/// grow autoscaled pools to `min_idle` free desktops, never creating more than
/// `max_auto_created` in all.
pub async fn maintain(
    st: AppState,
    lease: crate::jobs::TaskLease,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        if !lease.hold().await {
            continue;
        }
        let skipped = st.sim.as_ref().map_or(0, |s| s.clock().skipped_ms());
        if let Err(e) = st.store.unbind_expired(now_ms() + skipped).await {
            tracing::error!(error = %e, "unbinding expired pool sessions failed");
        }
        match st.store.autoscale_needs().await {
            Ok(needs) => {
                for need in needs {
                    let caller = Caller {
                        project_id: need.pool.project_id.clone(),
                        principal: "autoscale".into(),
                    };
                    match grow(
                        &st,
                        &caller,
                        &need.pool,
                        need.create,
                        JobType::ExpandDesktopPool,
                    )
                    .await
                    {
                        Ok(job) => {
                            tracing::info!(pool = %need.pool.id, created = need.create, job, "autoscale grew a pool")
                        }
                        Err(e) => {
                            tracing::error!(pool = %need.pool.id, error = %e.message, "autoscale failed")
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "autoscale check failed"),
        }
    }
}
