//! Several nodes on one PostgreSQL: two `PostgresStore`s (two pools, as two
//! processes would have) working the same queue and the same desktops at once.

use crate::harness::{
    STOP, Shared, desktop, desktops_in, holder, job, postgres, project, run_all, success,
};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, PowerMode, TaskStatus};
use deskplane::domain::ids::{DesktopId, SubJobId};
use deskplane::domain::job::{JobStatus, JobType};
use deskplane::domain::machine::{Operation, Refusal};
use deskplane::store::{
    BatchRefusal, Completion, DesktopFilter, Lifecycle, NewDesktop, OrphanScope, StoreError,
    SubJobFilter,
};
use sqlx::Connection;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Claim, renew and complete until the queue is empty; returns what was claimed.
async fn node(store: Shared, owner: &'static str, done: Arc<AtomicBool>) -> Vec<SubJobId> {
    let held: Arc<std::sync::Mutex<Vec<SubJobId>>> = Arc::default();
    let renewer = {
        let store = store.clone();
        let done = done.clone();
        let held = held.clone();
        tokio::spawn(async move {
            // Bounded: renews what the node holds while it works, as the engine's heartbeat does.
            for _ in 0..10_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let ids = held.lock().expect("held").clone();
                store
                    .renew_leases(&holder(owner), &ids, 600_000)
                    .await
                    .expect("renew");
                tokio::task::yield_now().await;
            }
        })
    };
    let mut mine = Vec::new();
    loop {
        let claimed = store
            .claim(&holder(owner), 50, 10_000, 600_000)
            .await
            .expect("claim");
        if claimed.is_empty() {
            break;
        }
        *held.lock().expect("held") = claimed.iter().map(|c| c.sub_job_id).collect();
        mine.extend(claimed.iter().map(|c| c.sub_job_id));
        let finished: Vec<Completion> = claimed.iter().map(success).collect();
        let applied = store
            .complete(&holder(owner), &finished, 11_000)
            .await
            .expect("complete");
        assert_eq!(applied, finished.len(), "{owner} owns what it claimed");
    }
    done.store(true, Ordering::Relaxed);
    renewer.await.expect("renewer");
    mine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_sub_job() {
    let Some(db) = postgres().await else {
        return;
    };
    let a: Shared = Arc::new(db.open().await);
    let b: Shared = Arc::new(db.open().await);
    let p = project(a.as_ref()).await;
    let rows: Vec<NewDesktop> = (0..2_000)
        .map(|i| NewDesktop {
            row: desktop(&p, &format!("n-{i:04}")),
        })
        .collect();
    let j = job(&p, JobType::CreateDesktops, 1_000);
    a.submit_create(&j, &rows, &[]).await.unwrap();

    let done_a = Arc::new(AtomicBool::new(false));
    let done_b = Arc::new(AtomicBool::new(false));
    let ta = tokio::spawn(node(a.clone(), "node-a", done_a));
    let tb = tokio::spawn(node(b.clone(), "node-b", done_b));
    let (got_a, got_b) = (ta.await.unwrap(), tb.await.unwrap());
    eprintln!(
        "node-a claimed {}, node-b claimed {}",
        got_a.len(),
        got_b.len()
    );
    let set_a: HashSet<&SubJobId> = got_a.iter().collect();
    let set_b: HashSet<&SubJobId> = got_b.iter().collect();
    assert_eq!(set_a.len(), got_a.len(), "node-a claimed a sub-job twice");
    assert_eq!(set_b.len(), got_b.len(), "node-b claimed a sub-job twice");
    assert!(set_a.is_disjoint(&set_b), "a sub-job claimed by both nodes");
    let (all, total) = b
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            limit: 5_000,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2_000);
    let every: HashSet<&SubJobId> = all.iter().map(|s| &s.id).collect();
    let claimed: HashSet<&SubJobId> = set_a.union(&set_b).copied().collect();
    assert_eq!(claimed, every, "every sub-job claimed once");
    assert!(all.iter().all(|s| s.attempt == 1));
    let fin = a.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!((fin.status, fin.succeeded), (JobStatus::Success, 2_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_on_two_nodes_take_each_desktop_once() {
    let Some(db) = postgres().await else {
        return;
    };
    let a: Shared = Arc::new(db.open().await);
    let b: Shared = Arc::new(db.open().await);
    let p = project(a.as_ref()).await;
    let ids = desktops_in(a.as_ref(), &p, &[DesktopStatus::Active; 200]).await;
    for round in 0..3 {
        let ja = job(&p, JobType::OperateDesktops, 3_000);
        let jb = job(&p, JobType::OperateDesktops, 3_000);
        let forward = ids.clone();
        let backward: Vec<DesktopId> = ids.iter().rev().copied().collect();
        let reboot = Operation::Reboot(PowerMode::Soft);
        let (sa, sb) = (a.clone(), b.clone());
        let (ja2, jb2) = (ja.clone(), jb.clone());
        let ta = tokio::spawn(async move {
            sa.submit_batch(&ja2, STOP, false, Scope::Partial, &forward)
                .await
        });
        let tb = tokio::spawn(async move {
            sb.submit_batch(&jb2, reboot, false, Scope::Partial, &backward)
                .await
        });
        let (oa, ob) = (ta.await.unwrap().unwrap(), tb.await.unwrap().unwrap());
        assert_eq!(
            oa.accepted.len() + ob.accepted.len(),
            200,
            "round {round}: each desktop accepted exactly once"
        );
        for r in oa.refused.iter().chain(&ob.refused) {
            assert!(
                matches!(r.reason, BatchRefusal::State(Refusal::Busy(_))),
                "round {round}: refused only because the other node holds it: {r:?}"
            );
        }
        let by_a: HashSet<DesktopId> = oa.accepted.iter().map(|d| d.id).collect();
        for id in &ids {
            let d = a.get_desktop(&p, id).await.unwrap().expect("desktop");
            let want = if by_a.contains(id) {
                TaskStatus::PoweringOff
            } else {
                TaskStatus::Rebooting
            };
            assert_eq!(d.task_status, Some(want), "round {round}: holder of {id}");
        }
        // Settle back to ACTIVE for the next round.
        run_all(a.as_ref(), 4_000, |_| {
            deskplane::domain::machine::Settled::Stays(
                DesktopStatus::Active,
                deskplane::domain::desktop::LoginStatus::Registered,
            )
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_racing_a_forced_delete_is_all_or_nothing() {
    let Some(db) = postgres().await else {
        return;
    };
    let a: Shared = Arc::new(db.open().await);
    let b: Shared = Arc::new(db.open().await);
    let p = project(a.as_ref()).await;
    let ids = desktops_in(a.as_ref(), &p, &[DesktopStatus::Active; 200]).await;
    let stop = job(&p, JobType::OperateDesktops, 3_000);
    a.submit_batch(&stop, STOP, false, Scope::Partial, &ids)
        .await
        .unwrap();
    let claimed = a
        .claim(&holder("node-a"), 500, 3_000, 600_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 200);
    let finished: Vec<Completion> = claimed.iter().map(success).collect();
    let del = job(&p, JobType::DeleteDesktops, 4_000);
    let backward: Vec<DesktopId> = ids.iter().rev().copied().collect();
    let sa = a.clone();
    let ta = tokio::spawn(async move { sa.complete(&holder("node-a"), &finished, 4_000).await });
    let sb = b.clone();
    let del2 = del.clone();
    let tb = tokio::spawn(async move {
        sb.submit_batch(&del2, Operation::Delete, true, Scope::Partial, &backward)
            .await
    });
    let applied = ta.await.unwrap().expect("complete (no deadlock)");
    let out = tb.await.unwrap().expect("forced delete (no deadlock)");
    assert_eq!(out.accepted.len(), 200);
    assert_eq!(
        applied + out.cancelled_sub_jobs.len(),
        200,
        "either the completion or the cancellation, per transaction"
    );
    let s = a.get_job(&p, &stop.id).await.unwrap().expect("stop job");
    assert!(s.status.is_terminal());
    assert_eq!(
        (s.succeeded, s.failed),
        (
            i64::try_from(applied).unwrap(),
            i64::try_from(200 - applied).unwrap()
        )
    );
    run_all(b.as_ref(), 5_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    let (_, left) = a
        .list_desktops(
            &p,
            &DesktopFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(left, 0, "every desktop deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_recover_each_orphan_once() {
    let Some(db) = postgres().await else {
        return;
    };
    let a: Shared = Arc::new(db.open().await);
    let b: Shared = Arc::new(db.open().await);
    let p = project(a.as_ref()).await;
    let rows: Vec<NewDesktop> = (0..500)
        .map(|i| NewDesktop {
            row: desktop(&p, &format!("o-{i:03}")),
        })
        .collect();
    let j = job(&p, JobType::CreateDesktops, 1_000);
    a.submit_create(&j, &rows, &[]).await.unwrap();
    let lost = a.claim(&holder("dead"), 500, 2_000, 3_000).await.unwrap();
    assert_eq!(lost.len(), 500);
    let (sa, sb) = (a.clone(), b.clone());
    let ta = tokio::spawn(async move {
        sa.requeue_orphans(&holder("node-a"), 9_000, OrphanScope::Expired, 5, 70_000)
            .await
    });
    let tb = tokio::spawn(async move {
        sb.requeue_orphans(&holder("node-b"), 9_000, OrphanScope::Expired, 5, 70_000)
            .await
    });
    let (ra, rb) = (ta.await.unwrap().unwrap(), tb.await.unwrap().unwrap());
    assert_eq!(ra.0 + rb.0, 500, "each orphan requeued by exactly one node");
    let (all, _) = a
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            limit: 1_000,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert!(
        all.iter()
            .all(|s| s.attempt == 2 && s.status.as_str() == "WAITING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let Some(db) = postgres().await else {
        return;
    };
    let (a, b, c) = tokio::join!(db.open(), db.open(), db.open());
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (rows, versions, ok): (i64, i64, bool) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT version), bool_and(success) FROM _sqlx_migrations",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(rows >= 1 && ok, "migrations applied");
    assert_eq!(rows, versions, "each migration applied once");
    for s in [a, b, c] {
        assert!(s.ping().await.is_ok());
    }
}

/// Two nodes create desktops with the same computer names at once: one create
/// takes them all, the other is refused whole (no name twice, none half-made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_creating_one_name_make_it_once() {
    let Some(db) = postgres().await else {
        return;
    };
    let a: Shared = Arc::new(db.open().await);
    let b: Shared = Arc::new(db.open().await);
    let p = project(a.as_ref()).await;
    for round in 0..20 {
        let names: Vec<String> = (0..50).map(|i| format!("r{round}-{i:02}")).collect();
        let create = |store: Shared| {
            let (p, names) = (p.clone(), names.clone());
            tokio::spawn(async move {
                let rows: Vec<NewDesktop> = names
                    .iter()
                    .map(|n| NewDesktop {
                        row: desktop(&p, n),
                    })
                    .collect();
                let j = job(&p, JobType::CreateDesktops, 1_000);
                store.submit_create(&j, &rows, &[]).await
            })
        };
        let (ra, rb) = tokio::join!(create(a.clone()), create(b.clone()));
        let outcomes = [ra.expect("node a"), rb.expect("node b")];
        let made = outcomes.iter().filter(|r| r.is_ok()).count();
        let refused = outcomes
            .iter()
            .filter(|r| matches!(r, Err(StoreError::NamesTaken(t)) if t.len() == 50))
            .count();
        assert_eq!((made, refused), (1, 1), "round {round}: {outcomes:?}");
    }
    let all = DesktopFilter {
        limit: 5_000,
        ..DesktopFilter::default()
    };
    assert_eq!(a.list_desktops(&p, &all).await.unwrap().1, 20 * 50);
}
