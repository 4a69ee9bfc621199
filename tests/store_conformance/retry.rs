//! Retrying the failed sub-jobs of a finished job, in place.

use crate::harness::{STOP, desktops_in, failure, get, holder, job, project, run_all, success};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, PowerMode, TaskStatus};
use deskplane::domain::ids::{JobId, ProjectId};
use deskplane::domain::job::{JobStatus, JobType, SubJobStatus};
use deskplane::domain::machine::{Operation, Refusal};
use deskplane::store::{BatchRefusal, RetryOutcome, Store, SubJobFilter};

fn summary(out: &RetryOutcome) -> (usize, Vec<(String, BatchRefusal)>) {
    match out {
        RetryOutcome::Retried { requeued, refused } => (
            *requeued,
            refused
                .iter()
                .map(|r| (r.desktop_id.clone(), r.reason.clone()))
                .collect(),
        ),
        other => panic!("expected Retried, got {other:?}"),
    }
}

pub async fn retry_outcomes(store: &dyn Store) {
    let p = project(store).await;
    let q = project(store).await;
    let ids = desktops_in(store, &p, &[DesktopStatus::Shutoff; 2]).await;
    let j = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&j, Operation::Start, false, Scope::Partial, &ids)
        .await
        .unwrap();
    assert!(matches!(
        store.retry_job(&p, &j.id, 3_000).await.unwrap(),
        RetryOutcome::NotFinished
    ));
    let claimed = store.claim(&holder("w"), 10, 3_000, 60_000).await.unwrap();
    let done = [
        success(&claimed[0]),
        failure(&claimed[1], "WKS.00211403", "no power"),
    ];
    store.complete(&holder("w"), &done, 4_000).await.unwrap();
    assert!(matches!(
        store.retry_job(&q, &j.id, 5_000).await.unwrap(),
        RetryOutcome::NotFound
    ));
    assert!(matches!(
        store.retry_job(&p, &JobId::new(), 5_000).await.unwrap(),
        RetryOutcome::NotFound
    ));

    let out = store.retry_job(&p, &j.id, 5_000).await.unwrap();
    assert_eq!(summary(&out), (1, vec![]));
    let after = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!(
        (after.status, after.succeeded, after.failed),
        (JobStatus::Running, 1, 0)
    );
    assert_eq!(
        (after.end_ms, after.error_code, after.fail_reason),
        (None, None, None)
    );
    let (subs, _) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            job_id: Some(j.id.to_string()),
            status: Some("WAITING".into()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].id, claimed[1].sub_job_id, "same sub-job, in place");
    assert_eq!((subs[0].attempt, subs[0].progress), (2, 0));
    assert_eq!(
        (subs[0].error_code.clone(), subs[0].host.clone()),
        (None, None)
    );
    let d = get(store, &p, &subs[0].desktop_id).await;
    assert_eq!(d.task_status, Some(TaskStatus::PoweringOn));
    assert_eq!(d.busy_sub_job, Some(subs[0].id));
    assert!(matches!(
        store.retry_job(&p, &j.id, 5_100).await.unwrap(),
        RetryOutcome::NotFinished
    ));
    retried_runs_to_success(store, &p, &j.id).await;
}

/// The retried sub-job of `job_id` runs as attempt 2; the job then succeeds.
async fn retried_runs_to_success(store: &dyn Store, p: &ProjectId, job_id: &JobId) {
    let again = store.claim(&holder("w"), 10, 6_000, 60_000).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].attempt, again[0].prev_status),
        (2, DesktopStatus::Shutoff)
    );
    store
        .complete(&holder("w"), &[success(&again[0])], 7_000)
        .await
        .unwrap();
    let fin = store.get_job(p, job_id).await.unwrap().expect("job");
    assert_eq!(
        (fin.status, fin.succeeded, fin.failed),
        (JobStatus::Success, 2, 0)
    );
    let out = store.retry_job(p, job_id, 8_000).await.unwrap();
    assert_eq!(summary(&out), (0, vec![]), "nothing to retry");
    let (_, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            job_id: Some(job_id.to_string()),
            status: Some(SubJobStatus::Success.as_str().into()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
}

pub async fn retry_refusals(store: &dyn Store) {
    let p = project(store).await;
    let ids = desktops_in(store, &p, &[DesktopStatus::Active; 3]).await;
    let j = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&j, STOP, false, Scope::Partial, &ids)
        .await
        .unwrap();
    let claimed = store.claim(&holder("w"), 10, 3_000, 60_000).await.unwrap();
    let done: Vec<_> = claimed
        .iter()
        .map(|c| failure(c, "WKS.00211403", "stuck"))
        .collect();
    store.complete(&holder("w"), &done, 4_000).await.unwrap();
    let failed = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!((failed.status, failed.failed), (JobStatus::Fail, 3));
    assert_eq!(
        failed.fail_reason.as_deref(),
        Some("3 of 3 sub-jobs failed; first: stuck")
    );

    // Desktop 0 is now held by a reboot, 1 is gone, 2 was stopped meanwhile.
    let reboot = job(&p, JobType::OperateDesktops, 5_000);
    let hard = Operation::Reboot(PowerMode::Hard);
    let del = job(&p, JobType::DeleteDesktops, 5_000);
    store
        .submit_batch(&del, Operation::Delete, false, Scope::Partial, &ids[1..2])
        .await
        .unwrap();
    let stop = job(&p, JobType::OperateDesktops, 5_000);
    store
        .submit_batch(&stop, STOP, false, Scope::Partial, &ids[2..])
        .await
        .unwrap();
    run_all(store, 6_000, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    store
        .submit_batch(&reboot, hard, false, Scope::Partial, &ids[..1])
        .await
        .unwrap();

    let out = store.retry_job(&p, &j.id, 7_000).await.unwrap();
    assert_eq!(
        summary(&out),
        (
            0,
            vec![
                (
                    ids[0].to_string(),
                    BatchRefusal::State(Refusal::Busy(TaskStatus::RebootingHard))
                ),
                (ids[1].to_string(), BatchRefusal::NotFound),
                (
                    ids[2].to_string(),
                    BatchRefusal::State(Refusal::WrongState(DesktopStatus::Shutoff))
                ),
            ]
        )
    );
    let same = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!(
        (same.status, same.failed),
        (JobStatus::Fail, 3),
        "unchanged"
    );
}
