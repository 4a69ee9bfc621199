//! Leases belong to a process incarnation, not to a node id (issue 11): a
//! restarted node neither renews nor acknowledges its predecessor's sub-jobs,
//! takes them over at once, and leaves other nodes' live leases alone.

use crate::harness::{STOP, desktops_in, holder, incarnation, job, project, success};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::DesktopStatus;
use deskplane::domain::ids::{JobId, SubJobId};
use deskplane::domain::job::{JobStatus, JobType, SubJobStatus};
use deskplane::store::{Claimed, NodeRow, OrphanScope, Store, SubJobFilter};

fn ids(c: &[Claimed]) -> Vec<SubJobId> {
    c.iter().map(|c| c.sub_job_id).collect()
}

/// Three sub-jobs running: two under node `n` (first process), one under node `m`.
async fn running(store: &dyn Store) -> (JobId, Vec<Claimed>, Vec<Claimed>) {
    let p = project(store).await;
    let desktops = desktops_in(store, &p, &[DesktopStatus::Active; 3]).await;
    let j = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&j, STOP, false, Scope::Partial, &desktops)
        .await
        .unwrap();
    let n = store
        .claim(&incarnation("n", 1), 2, 3_000, 60_000)
        .await
        .unwrap();
    let m = store.claim(&holder("m"), 1, 3_000, 60_000).await.unwrap();
    assert_eq!((n.len(), m.len()), (2, 1));
    (j.id, n, m)
}

pub async fn restart_orphans_its_own_work_at_once(store: &dyn Store) {
    let (_, old, other) = running(store).await;
    let restarted = incarnation("n", 2);
    // The new process renews nothing of its predecessor's, even naming its sub-jobs.
    assert_eq!(
        store
            .renew_leases(&restarted, &ids(&old), 90_000)
            .await
            .unwrap(),
        0
    );
    // Nor may it record their results.
    assert_eq!(
        store
            .complete(&restarted, &[success(&old[0])], 4_000)
            .await
            .unwrap(),
        0,
        "completion is fenced by the incarnation"
    );
    // A periodic scan before the lease ends leaves them alone ...
    let (requeued, _) = store
        .requeue_orphans(&restarted, 4_000, OrphanScope::Expired, 3, 64_000)
        .await
        .unwrap();
    assert_eq!(requeued, 0);
    // ... but at start, every lease of an earlier incarnation of this node is an
    // orphan, while another node's live lease is not.
    let (requeued, exhausted) = store
        .requeue_orphans(
            &restarted,
            4_000,
            OrphanScope::EarlierIncarnations,
            3,
            64_000,
        )
        .await
        .unwrap();
    assert_eq!((requeued, exhausted.len()), (2, 0));
    let again = store.claim(&restarted, 10, 5_000, 65_000).await.unwrap();
    let mut got = ids(&again);
    let mut want = ids(&old);
    got.sort();
    want.sort();
    assert_eq!(got, want, "the restarted node runs them again");
    assert!(again.iter().all(|c| c.attempt == 2));
    // The old process, were it alive, could not record them any more.
    assert_eq!(
        store
            .complete(&incarnation("n", 1), &[success(&old[0])], 6_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .complete(&restarted, &[success(&again[0])], 6_000)
            .await
            .unwrap(),
        1
    );
    // Node m kept its sub-job, and may finish it.
    assert_eq!(
        store
            .complete(&holder("m"), &[success(&other[0])], 6_000)
            .await
            .unwrap(),
        1
    );
}

pub async fn renewal_covers_only_the_named_sub_jobs(store: &dyn Store) {
    let (job_id, held, _) = running(store).await;
    let me = incarnation("n", 1);
    // The process still runs only the first; the second it lost track of.
    assert_eq!(
        store
            .renew_leases(&me, &ids(&held[..1]), 200_000)
            .await
            .unwrap(),
        1
    );
    let (requeued, _) = store
        .requeue_orphans(&holder("m"), 100_000, OrphanScope::Expired, 3, 160_000)
        .await
        .unwrap();
    // m's own lease expired too (60,000): both it and n's unrenewed one go back.
    assert_eq!(requeued, 2);
    let (rows, _) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: held[0].project_id.clone(),
            job_id: Some(job_id.to_string()),
            status: Some(SubJobStatus::Running.as_str().into()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids(&held[..1]),
        "only the renewed lease survives"
    );
}

pub async fn next_lease_end_is_the_first_foreign_one(store: &dyn Store) {
    assert_eq!(store.next_lease_end(&holder("x")).await.unwrap(), None);
    let (_, n, _) = running(store).await;
    // n's leases end at 60,000, m's too; renew n's further.
    store
        .renew_leases(&incarnation("n", 1), &ids(&n), 90_000)
        .await
        .unwrap();
    assert_eq!(
        store.next_lease_end(&holder("x")).await.unwrap(),
        Some(60_000)
    );
    assert_eq!(
        store.next_lease_end(&holder("m")).await.unwrap(),
        Some(90_000),
        "its own leases are not waited for"
    );
    assert_eq!(
        store.next_lease_end(&incarnation("n", 2)).await.unwrap(),
        Some(60_000),
        "an earlier incarnation's are"
    );
}

pub async fn task_leases(store: &dyn Store) {
    let a = holder("a");
    let b = holder("b");
    assert!(
        store
            .take_task_lease("upkeep", &a, 1_000, 11_000, false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_task_lease("upkeep", &b, 2_000, 12_000, false)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_task_lease("other", &b, 2_000, 12_000, false)
            .await
            .unwrap(),
        "leases are per task"
    );
    assert!(
        store
            .take_task_lease("upkeep", &a, 5_000, 15_000, false)
            .await
            .unwrap(),
        "renewed by its holder"
    );
    assert!(
        !store
            .take_task_lease("upkeep", &b, 14_000, 24_000, false)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_task_lease("upkeep", &b, 15_001, 25_000, false)
            .await
            .unwrap(),
        "expired: taken over"
    );
    // b restarts: its new process takes its lease at once, at start only.
    let b2 = incarnation("b", 2);
    assert!(
        !store
            .take_task_lease("upkeep", &b2, 16_000, 26_000, false)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_task_lease("upkeep", &b2, 16_000, 26_000, true)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_task_lease("upkeep", &holder("c"), 16_000, 26_000, true)
            .await
            .unwrap(),
        "other nodes wait"
    );
    assert!(
        !store
            .take_task_lease("upkeep", &b, 17_000, 27_000, false)
            .await
            .unwrap(),
        "the old process lost it"
    );
}

pub async fn nodes_show_their_incarnation(store: &dyn Store) {
    let first = NodeRow {
        id: "node-a".into(),
        incarnation: "node-a#1".into(),
        address: "127.0.0.1:1".into(),
        started_ms: 1_000,
        heartbeat_ms: 1_000,
    };
    store.upsert_node(&first).await.unwrap();
    store
        .upsert_node(&NodeRow {
            heartbeat_ms: 6_000,
            ..first.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.list_nodes().await.unwrap()[0].heartbeat_ms, 6_000);
    let second = NodeRow {
        incarnation: "node-a#2".into(),
        address: "127.0.0.1:2".into(),
        started_ms: 9_000,
        heartbeat_ms: 9_000,
        ..first
    };
    store.upsert_node(&second).await.unwrap();
    let b = NodeRow {
        id: "node-b".into(),
        incarnation: "node-b#1".into(),
        address: "127.0.0.1:3".into(),
        started_ms: 2_000,
        heartbeat_ms: 8_000,
    };
    store.upsert_node(&b).await.unwrap();
    assert_eq!(store.list_nodes().await.unwrap(), [second, b]);
}

/// A sub-job whose lease lapsed while its run went on (the database was away)
/// is claimed again by the same process: the first run's result is refused,
/// and the second counts once, however often it is reported.
pub async fn a_lapsed_claim_counts_for_nothing(store: &dyn Store) {
    let p = project(store).await;
    let desktops = desktops_in(store, &p, &[DesktopStatus::Active]).await;
    let j = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&j, STOP, false, Scope::Partial, &desktops)
        .await
        .unwrap();
    let n = holder("n");
    let first = store.claim(&n, 1, 3_000, 10_000).await.unwrap();
    let (requeued, _) = store
        .requeue_orphans(&n, 20_000, OrphanScope::Expired, 5, 80_000)
        .await
        .unwrap();
    assert_eq!(requeued, 1, "its own lapsed lease is an orphan too");
    let second = store.claim(&n, 1, 21_000, 80_000).await.unwrap();
    assert_eq!(ids(&first), ids(&second), "the same sub-job, claimed again");
    assert_ne!(first[0].claim, second[0].claim);
    let reports = [success(&first[0]), success(&second[0]), success(&second[0])];
    assert_eq!(store.complete(&n, &reports, 22_000).await.unwrap(), 1);
    let got = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!(
        (got.status, got.total, got.succeeded, got.failed),
        (JobStatus::Success, 1, 1, 0),
        "one sub-job, counted once"
    );
}
