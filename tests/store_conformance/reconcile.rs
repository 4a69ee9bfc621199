//! Reconciliation with the compute driver: which desktops are looked at, and
//! corrections applied only to desktops still idle in the status seen.

use crate::harness::{STOP, create, desktop, get, job, project, run_all};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, LoginStatus, TaskStatus};
use deskplane::domain::ids::{DesktopId, ProjectId};
use deskplane::domain::job::JobType;
use deskplane::domain::machine::Settled;
use deskplane::store::{DesktopRow, Store};
use std::collections::HashMap;

/// Desktops of `project`, each on `host` (or none) settled in its status.
async fn placed(
    store: &dyn Store,
    project: &ProjectId,
    spec: &[(&str, Option<&str>, DesktopStatus)],
) -> Vec<DesktopRow> {
    let rows: Vec<DesktopRow> = spec
        .iter()
        .map(|(name, host, _)| DesktopRow {
            host: host.map(str::to_owned),
            ..desktop(project, name)
        })
        .collect();
    create(store, project, &rows).await;
    let wanted: HashMap<DesktopId, DesktopStatus> = rows
        .iter()
        .zip(spec)
        .map(|(r, (_, _, s))| (r.id, *s))
        .collect();
    run_all(store, 2_000, |c| {
        let s = wanted
            .get(&c.desktop_id)
            .copied()
            .unwrap_or(DesktopStatus::Active);
        Settled::Stays(s, s.idle_login())
    })
    .await;
    rows
}

pub async fn placed_idle_and_guarded(store: &dyn Store) {
    use DesktopStatus as S;
    let p = project(store).await;
    let q = project(store).await;
    let d = placed(
        store,
        &p,
        &[
            ("on-h1", Some("h1"), S::Active),
            ("off-h2", Some("h2"), S::Shutoff),
            ("err-h1", Some("h1"), S::Error),
            ("nowhere", None, S::Active),
            ("busy-h1", Some("h1"), S::Active),
            ("build-h2", Some("h2"), S::Build),
            ("hib-h3", Some("h3"), S::Hibernated),
        ],
    )
    .await;
    let theirs = placed(store, &q, &[("theirs", Some("h9"), S::Active)]).await;
    let stop = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&stop, STOP, false, Scope::Partial, &[d[4].id])
        .await
        .unwrap();

    let mut seen = store.placed_idle_desktops().await.unwrap();
    seen.sort_by_key(|s| s.0);
    let mut want = vec![
        (d[0].id, "h1".to_owned(), S::Active),
        (d[1].id, "h2".to_owned(), S::Shutoff),
        (d[2].id, "h1".to_owned(), S::Error),
        (d[6].id, "h3".to_owned(), S::Hibernated),
        (theirs[0].id, "h9".to_owned(), S::Active),
    ];
    want.sort_by_key(|w| w.0);
    assert_eq!(seen, want, "placed, idle, built; every project");
    corrections(store, &p, &d).await;
}

/// Only desktops still idle and still in the status seen are corrected.
async fn corrections(store: &dyn Store, p: &ProjectId, d: &[DesktopRow]) {
    use DesktopStatus as S;
    let change = |i: usize, from, to, login| (d[i].id, from, to, login);
    let changes = [
        change(0, S::Active, S::Shutoff, LoginStatus::Unregister),
        change(1, S::Active, S::Error, LoginStatus::Unregister),
        change(2, S::Error, S::Active, LoginStatus::Registered),
        change(4, S::Active, S::Shutoff, LoginStatus::Unregister),
        (
            DesktopId::new(),
            S::Active,
            S::Error,
            LoginStatus::Unregister,
        ),
    ];
    assert_eq!(store.reconcile_desktops(&changes).await.unwrap(), 2);
    let now = async |i: usize| {
        let r = get(store, p, &d[i].id).await;
        (r.status, r.login_status, r.task_status)
    };
    assert_eq!(now(0).await, (S::Shutoff, LoginStatus::Unregister, None));
    assert_eq!(
        now(1).await,
        (S::Shutoff, LoginStatus::Unregister, None),
        "no longer as seen"
    );
    assert_eq!(now(2).await, (S::Active, LoginStatus::Registered, None));
    assert_eq!(
        now(4).await,
        (
            S::Active,
            LoginStatus::Registered,
            Some(TaskStatus::PoweringOff)
        ),
        "an operation holds it"
    );
    let kept = get(store, p, &d[0].id).await;
    assert_eq!(
        (kept.host.as_deref(), kept.busy_sub_job),
        (Some("h1"), None),
        "placement kept"
    );
    assert_eq!(store.reconcile_desktops(&[]).await.unwrap(), 0);
    assert_eq!(
        store.reconcile_desktops(&changes[..1]).await.unwrap(),
        0,
        "applied once: it is SHUTOFF now"
    );
}
