//! Workers: claiming, completion fenced by owner, leases and orphans.

use crate::harness::{
    STOP, create, desktop, desktops_in, failure, get, holder, job, project, success, user_row,
};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, LoginStatus};
use deskplane::domain::ids::{DesktopId, JobId, ProjectId, SubJobId};
use deskplane::domain::job::{JobParams, JobStatus, JobType, SubJobStatus};
use deskplane::domain::machine::{Operation, Settled};
use deskplane::store::{
    Claimed, Completion, DesktopRow, Effect, NewDesktop, NewJob, OrphanScope, Outcome, Store,
    SubJobFilter, UserFilter,
};

async fn sub_status(
    store: &dyn Store,
    project: &ProjectId,
    job_id: &JobId,
) -> Vec<(SubJobStatus, i64)> {
    let (subs, _) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: project.clone(),
            job_id: Some(job_id.to_string()),
            limit: 100,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    subs.into_iter().map(|s| (s.status, s.attempt)).collect()
}

pub async fn claim_order_limits_and_delay(store: &dyn Store) {
    let p = project(store).await;
    assert_eq!(store.next_due_ms().await.unwrap(), None);
    let rows: Vec<_> = (0..5).map(|i| desktop(&p, &format!("c-{i}"))).collect();
    let first = create(store, &p, &rows).await;
    let mut later = job(&p, JobType::CreateDesktops, 1_500);
    later.run_after_ms = 50_000;
    later.params = JobParams {
        delay_time: Some(5),
        message: Some("later".into()),
        ..JobParams::default()
    };
    let delayed = desktop(&p, "delayed");
    store
        .submit_create(
            &later,
            &[NewDesktop {
                row: delayed.clone(),
            }],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(store.next_due_ms().await.unwrap(), Some(0));

    let a = store.claim(&holder("n1"), 2, 10_000, 70_000).await.unwrap();
    let names: Vec<String> = a
        .iter()
        .map(|c| {
            c.desktop
                .as_ref()
                .map(|d| d.computer_name.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names, ["c-0", "c-1"], "oldest first, at most `limit`");
    assert!(a.iter().all(|c| c.attempt == 1 && c.job_id == first));
    assert_eq!(a[0].prev_status, DesktopStatus::Build);
    assert_eq!(a[0].params, JobParams::default());
    let j = store.get_job(&p, &first).await.unwrap().expect("job");
    assert_eq!((j.status, j.begin_ms), (JobStatus::Running, Some(10_000)));
    let (subs, _) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            status: Some("RUNNING".into()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(subs.len(), 2);
    assert!(
        subs.iter()
            .all(|s| s.progress == 10 && s.begin_ms == Some(10_000))
    );
    delayed_waits(store, &later, &delayed).await;
}

/// After the first two, the rest of what is due; `later` (of `delayed`) waits
/// for its time.
async fn delayed_waits(store: &dyn Store, later: &NewJob, delayed: &DesktopRow) {
    let b = store
        .claim(&holder("n2"), 100, 10_000, 70_000)
        .await
        .unwrap();
    assert_eq!(b.len(), 3, "the rest of what is due; not the delayed one");
    assert!(
        store
            .claim(&holder("n2"), 100, 10_000, 70_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_due_ms().await.unwrap(), Some(50_000));
    let c = store
        .claim(&holder("n1"), 100, 50_000, 110_000)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].params, later.params);
    assert_eq!(c[0].desktop.as_ref().map(|d| d.id), Some(delayed.id));
    assert_eq!(store.next_due_ms().await.unwrap(), None);
    assert_eq!(
        store
            .get_job(&later.project_id, &later.id)
            .await
            .unwrap()
            .map(|j| j.status),
        Some(JobStatus::Running)
    );
}

pub async fn complete_is_fenced(store: &dyn Store) {
    let p = project(store).await;
    let rows = [desktop(&p, "f-0")];
    let job_id = create(store, &p, &rows).await;
    let claimed = store
        .claim(&holder("owner"), 10, 2_000, 60_000)
        .await
        .unwrap();
    let done = [success(&claimed[0])];
    assert_eq!(
        store
            .complete(&holder("intruder"), &done, 3_000)
            .await
            .unwrap(),
        0,
        "not the lease owner"
    );
    assert_eq!(
        sub_status(store, &p, &job_id).await,
        [(SubJobStatus::Running, 1)]
    );
    assert_eq!(
        get(store, &p, &rows[0].id).await.status,
        DesktopStatus::Build
    );
    assert_eq!(
        store
            .complete(&holder("owner"), &done, 3_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .complete(&holder("owner"), &done, 3_100)
            .await
            .unwrap(),
        0,
        "already finished"
    );
    assert_eq!(
        store.complete(&holder("owner"), &[], 3_100).await.unwrap(),
        0
    );
    let d = get(store, &p, &rows[0].id).await;
    assert_eq!(
        (d.status, d.login_status, d.task_status, d.busy_sub_job),
        (DesktopStatus::Active, LoginStatus::Registered, None, None)
    );
    let (subs, _) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            job_id: Some(job_id.to_string()),
            limit: 1,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(subs[0].host.as_deref(), Some("node-test"));
    assert_eq!((subs[0].progress, subs[0].end_ms), (100, Some(3_000)));
}

pub async fn complete_settles_desktops_and_jobs(store: &dyn Store) {
    let p = project(store).await;
    let rows: Vec<_> = (0..3).map(|i| desktop(&p, &format!("s-{i}"))).collect();
    let ok_job = create(store, &p, &rows[..1]).await;
    let mixed_job = create(store, &p, &rows[1..]).await;
    let claimed = store.claim(&holder("w"), 10, 2_000, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let mut placed = success(&claimed[0]);
    placed.outcome = Outcome::Done(Effect::Placed {
        host: Some("qemu:///h2".into()),
        ip: Some("10.1.2.3".into()),
    });
    let ok2 = success(&claimed[1]);
    let bad = failure(&claimed[2], "WKS.00211403", "disk exploded");
    assert_eq!(
        bad.settled,
        Settled::Stays(DesktopStatus::Error, LoginStatus::Unregister)
    );
    // Completed in two calls: the mixed job stays RUNNING until its last sub-job.
    assert_eq!(
        store
            .complete(&holder("w"), &[placed, bad], 3_000)
            .await
            .unwrap(),
        2
    );
    let mixed = store.get_job(&p, &mixed_job).await.unwrap().expect("job");
    assert_eq!(
        (mixed.status, mixed.failed, mixed.end_ms),
        (JobStatus::Running, 1, None)
    );
    assert_eq!(
        store.complete(&holder("w"), &[ok2], 4_000).await.unwrap(),
        1
    );

    let ok = store.get_job(&p, &ok_job).await.unwrap().expect("job");
    assert_eq!(
        (ok.status, ok.succeeded, ok.failed),
        (JobStatus::Success, 1, 0)
    );
    assert_eq!(
        (ok.end_ms, ok.error_code, ok.fail_reason),
        (Some(3_000), None, None)
    );
    let mixed = store.get_job(&p, &mixed_job).await.unwrap().expect("job");
    assert_eq!(
        (mixed.status, mixed.succeeded, mixed.failed),
        (JobStatus::Fail, 1, 1)
    );
    assert_eq!(mixed.end_ms, Some(4_000));
    assert_eq!(mixed.error_code.as_deref(), Some("WKS.00211403"));
    assert_eq!(
        mixed.fail_reason.as_deref(),
        Some("1 of 2 sub-jobs failed; first: disk exploded")
    );

    settled_as_reported(store, &p, &rows).await;
}

/// `rows[0]` was placed, `rows[1]` created as it was, `rows[2]` failed; then a
/// rebuild of `rows[0]` puts its new image on it.
async fn settled_as_reported(store: &dyn Store, p: &ProjectId, rows: &[DesktopRow]) {
    let d0 = get(store, p, &rows[0].id).await;
    assert_eq!(d0.host.as_deref(), Some("qemu:///h2"));
    assert_eq!(d0.ip_address, "10.1.2.3");
    assert_eq!(
        (d0.image_id.as_str(), d0.image_type.as_str()),
        (rows[0].image_id.as_str(), rows[0].image_type.as_str()),
        "a placement changes no image"
    );
    rebuild_to(store, p, &rows[0].id, "img-new", "private").await;
    let d0 = get(store, p, &rows[0].id).await;
    assert_eq!(
        (d0.image_id.as_str(), d0.image_type.as_str()),
        ("img-new", "private")
    );
    assert_eq!(
        (d0.host.as_deref(), d0.ip_address.as_str()),
        (Some("qemu:///h2"), "10.1.2.3"),
        "a rebuild keeps the placement"
    );
    let d1 = get(store, p, &rows[1].id).await;
    assert_eq!(
        (d1.ip_address.as_str(), d1.host),
        ("10.0.0.1", None),
        "unchanged"
    );
    assert_eq!(d1.status, DesktopStatus::Active);
    let d2 = get(store, p, &rows[2].id).await;
    assert_eq!((d2.status, d2.task_status), (DesktopStatus::Error, None));
}

/// Rebuild `id`, its worker reporting `image_id` of `image_type` on the disk.
async fn rebuild_to(
    store: &dyn Store,
    p: &ProjectId,
    id: &DesktopId,
    image_id: &str,
    image_type: &str,
) {
    let j = job(p, JobType::RebuildDesktops, 5_000);
    let out = store
        .submit_batch(&j, Operation::Rebuild, false, Scope::Partial, &[*id])
        .await
        .unwrap();
    assert_eq!(out.accepted.len(), 1);
    let claimed = store.claim(&holder("w"), 10, 5_000, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let done = Completion {
        outcome: Outcome::Done(Effect::Rebuilt {
            image_id: image_id.to_owned(),
            image_type: image_type.to_owned(),
        }),
        ..success(&claimed[0])
    };
    assert_eq!(
        store.complete(&holder("w"), &[done], 6_000).await.unwrap(),
        1
    );
}

pub async fn gone_and_orphan_users(store: &dyn Store) {
    let p = project(store).await;
    let erin = user_row(&p, "erin", 1);
    let rows: Vec<_> = (0..2)
        .map(|i| {
            let mut r = desktop(&p, &format!("g-{i}"));
            r.user_name = Some("erin".into());
            NewDesktop { row: r }
        })
        .collect();
    let j = job(&p, JobType::CreateDesktops, 1_000);
    store
        .submit_create(&j, &rows, std::slice::from_ref(&erin))
        .await
        .unwrap();
    crate::harness::run_all(store, 2_000, |_| {
        Settled::Stays(DesktopStatus::Active, LoginStatus::Registered)
    })
    .await;
    let users = || async {
        store
            .list_users(
                &p,
                &UserFilter {
                    limit: 10,
                    ..UserFilter::default()
                },
            )
            .await
            .unwrap()
            .1
    };
    assert_eq!(users().await, 1);
    for (n, row) in rows.iter().enumerate() {
        let del = job(&p, JobType::DeleteDesktops, 3_000);
        let ids = [row.row.id];
        let out = store
            .submit_batch(&del, Operation::Delete, false, Scope::Whole, &ids)
            .await
            .unwrap();
        assert_eq!(out.accepted.len(), 1);
        let claimed = store.claim(&holder("w"), 10, 3_000, 60_000).await.unwrap();
        let mut done = success(&claimed[0]);
        done.outcome = Outcome::Done(Effect::Removed {
            orphan_user: Some("erin".into()),
        });
        assert_eq!(
            store.complete(&holder("w"), &[done], 4_000).await.unwrap(),
            1
        );
        assert!(store.get_desktop(&p, &row.row.id).await.unwrap().is_none());
        let left = i64::from(n == 0);
        assert_eq!(users().await, left, "erin goes with her last desktop only");
    }
}

pub async fn renew_and_requeue(store: &dyn Store) {
    let p = project(store).await;
    let ids = desktops_in(store, &p, &[DesktopStatus::Active; 3]).await;
    let j = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&j, STOP, false, Scope::Partial, &ids)
        .await
        .unwrap();
    let dead = store
        .claim(&holder("dead"), 1, 3_000, 10_000)
        .await
        .unwrap();
    let slow = store
        .claim(&holder("slow"), 1, 3_000, 10_000)
        .await
        .unwrap();
    let alive = store
        .claim(&holder("alive"), 1, 3_000, 10_000)
        .await
        .unwrap();
    assert_eq!(dead.len() + slow.len() + alive.len(), 3);

    let ids = |c: &[Claimed]| c.iter().map(|c| c.sub_job_id).collect::<Vec<_>>();
    let renew = async |who: &str, held: &[SubJobId]| {
        store
            .renew_leases(&holder(who), held, 30_000)
            .await
            .unwrap()
    };
    assert_eq!(renew("slow", &ids(&slow)).await, 1);
    assert_eq!(renew("alive", &ids(&alive)).await, 1);
    assert_eq!(
        renew("nobody", &ids(&dead)).await,
        0,
        "only the holder renews"
    );
    assert_eq!(renew("alive", &[]).await, 0);
    // At 20,000 only the dead node's lease has expired.
    let (requeued, exhausted) = store
        .requeue_orphans(&holder("alive"), 20_000, OrphanScope::Expired, 5, 80_000)
        .await
        .unwrap();
    assert_eq!((requeued, exhausted.len()), (1, 0));
    assert_eq!(
        store
            .complete(&holder("dead"), &[success(&dead[0])], 20_500)
            .await
            .unwrap(),
        0,
        "a lease taken away fences its old owner"
    );
    assert_eq!(
        store
            .renew_leases(&holder("dead"), &ids(&dead), 90_000)
            .await
            .unwrap(),
        0
    );
    let again = store
        .claim(&holder("alive"), 10, 21_000, 80_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].sub_job_id, dead[0].sub_job_id);
    assert_eq!(again[0].attempt, 2);
    all_others(store, &p, &j.id).await;
}

/// All foreign: a single node restarting takes every other owner's sub-jobs,
/// but not its own.
async fn all_others(store: &dyn Store, p: &ProjectId, job_id: &JobId) {
    let (requeued, _) = store
        .requeue_orphans(&holder("alive"), 21_000, OrphanScope::AllOthers, 5, 80_000)
        .await
        .unwrap();
    assert_eq!(requeued, 1, "only `slow`'s");
    let subs = sub_status(store, p, job_id).await;
    let waiting: Vec<_> = subs
        .iter()
        .filter(|(s, _)| *s == SubJobStatus::Waiting)
        .collect();
    assert_eq!(waiting, [&(SubJobStatus::Waiting, 2)]);
    assert_eq!(
        subs.iter()
            .filter(|(s, _)| *s == SubJobStatus::Running)
            .count(),
        2
    );
}

pub async fn exhausted_attempts(store: &dyn Store) {
    let p = project(store).await;
    let rows = [desktop(&p, "x-0")];
    let job_id = create(store, &p, &rows).await;
    // Attempts 1 and 2 lose their node; the third time it is returned to fail.
    for (attempt, now) in [(1, 10_000), (2, 20_000)] {
        let c = store
            .claim(&holder("gone"), 1, now, now + 1_000)
            .await
            .unwrap();
        assert_eq!(c[0].attempt, attempt);
        let (requeued, exhausted) = store
            .requeue_orphans(
                &holder("keeper"),
                now + 5_000,
                OrphanScope::Expired,
                3,
                now + 60_000,
            )
            .await
            .unwrap();
        assert_eq!((requeued, exhausted.len()), (1, 0));
    }
    let c = store
        .claim(&holder("gone"), 1, 30_000, 31_000)
        .await
        .unwrap();
    assert_eq!(c[0].attempt, 3);
    let (requeued, exhausted) = store
        .requeue_orphans(&holder("keeper"), 35_000, OrphanScope::Expired, 3, 95_000)
        .await
        .unwrap();
    assert_eq!((requeued, exhausted.len()), (0, 1));
    assert_eq!(exhausted[0].sub_job_id, c[0].sub_job_id);
    assert_eq!(exhausted[0].attempt, 3);
    assert!(exhausted[0].desktop.is_some());
    assert_eq!(
        sub_status(store, &p, &job_id).await,
        [(SubJobStatus::Running, 3)],
        "held by the keeper until it fails it"
    );
    let fail = failure(&exhausted[0], "WKS.00211404", "node lost");
    assert_eq!(
        store
            .complete(&holder("gone"), std::slice::from_ref(&fail), 36_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .complete(&holder("keeper"), &[fail], 36_000)
            .await
            .unwrap(),
        1
    );
    let j = store.get_job(&p, &job_id).await.unwrap().expect("job");
    assert_eq!((j.status, j.failed), (JobStatus::Fail, 1));
    assert_eq!(
        get(store, &p, &rows[0].id).await.status,
        DesktopStatus::Error
    );
}
