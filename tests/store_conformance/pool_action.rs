//! The pool action: one job over every desktop of the pool, a sub-job where the
//! operation applies and a FAILED sub-job carrying the refusal where it does not.

use crate::harness::{desktops_in, get, holder, job, project, run_all, success};
use crate::pools::{pool_in, pool_row};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, TaskStatus};
use deskplane::domain::ids::{DesktopId, JobId, PoolId, ProjectId, SubJobId};
use deskplane::domain::job::{JobStatus, JobType, SubJobStatus};
use deskplane::domain::machine::{Operation, Refusal};
use deskplane::store::{NewJob, PoolActionOutcome, Store, SubJobFilter, SubJobRow};
use std::collections::HashMap;

fn action_job(project: &ProjectId, pool_id: PoolId, now_ms: i64) -> NewJob {
    NewJob {
        pool_id: Some(pool_id),
        ..job(project, JobType::ExecuteDesktopsAction, now_ms)
    }
}

async fn subs_of(
    store: &dyn Store,
    project: &ProjectId,
    job_id: &JobId,
) -> HashMap<DesktopId, SubJobRow> {
    let (subs, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: project.clone(),
            job_id: Some(job_id.to_string()),
            limit: 100,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(usize::try_from(total).unwrap(), subs.len());
    subs.into_iter().map(|s| (s.desktop_id, s)).collect()
}

/// The FAILED sub-job `s` carries `why` for `op`.
fn refused_with(s: &SubJobRow, why: Refusal, op: Operation, at: i64) {
    assert_eq!((s.status, s.progress), (SubJobStatus::Failed, 100));
    assert_eq!(s.error_code.as_deref(), Some(why.code().wire()));
    let reason = why.message(&s.desktop_id.to_string(), op.wire_name());
    assert_eq!(s.fail_reason.as_deref(), Some(reason.as_str()));
    assert_eq!((s.begin_ms, s.end_ms), (Some(at), Some(at)));
    assert_eq!(s.operation, op);
}

pub async fn applies_or_fails_each_desktop(store: &dyn Store) {
    use DesktopStatus as S;
    let p = project(store).await;
    let pool = pool_row(&p, "mixed", "DYNAMIC", 10);
    let ids = pool_in(
        store,
        &pool,
        &[],
        &[S::Active, S::Shutoff, S::Shutoff, S::Error],
    )
    .await;
    let bystander = pool_row(&p, "bystander", "DYNAMIC", 10);
    let theirs = pool_in(store, &bystander, &[], &[S::Shutoff]).await;
    let dedicated = desktops_in(store, &p, &[S::Shutoff]).await;
    // Desktop 2 is held by a start of its own.
    let own = job(&p, JobType::OperateDesktops, 2_500);
    store
        .submit_batch(&own, Operation::Start, false, Scope::Partial, &ids[2..3])
        .await
        .unwrap();
    let held_by = get(store, &p, &ids[2]).await.busy_sub_job;

    let j = action_job(&p, pool.id, 3_000);
    let out = store
        .submit_pool_action(&j, Operation::Start, &pool.id)
        .await
        .unwrap();
    assert_eq!(
        out,
        PoolActionOutcome {
            desktops: 4,
            queued: 1,
            not_applicable: 3
        }
    );
    let written = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!(written.job_type, JobType::ExecuteDesktopsAction);
    assert_eq!(
        (written.total, written.succeeded, written.failed),
        (4, 0, 3)
    );
    assert_eq!(
        written.status,
        JobStatus::Running,
        "some sub-jobs ended already"
    );
    assert_eq!(written.end_ms, None);

    let queued = check_sub_jobs(store, &p, &j.id, &ids).await;
    assert_eq!(
        get(store, &p, &ids[2]).await.busy_sub_job,
        held_by,
        "still held by its own start"
    );
    for id in [&theirs[0], &dedicated[0]] {
        assert_eq!(
            get(store, &p, id).await.busy_sub_job,
            None,
            "not in the pool"
        );
    }

    runs_only_the_queued(store, &p, &j.id, queued).await;
    assert_eq!(get(store, &p, &ids[1]).await.status, S::Active);
}

/// Desktop 1 of `ids` got a queued sub-job, the others a FAILED one; returns the queued id.
async fn check_sub_jobs(
    store: &dyn Store,
    p: &ProjectId,
    job_id: &JobId,
    ids: &[DesktopId],
) -> SubJobId {
    use DesktopStatus as S;
    let subs = subs_of(store, p, job_id).await;
    assert_eq!(subs.len(), 4, "one sub-job per desktop of the pool");
    let queued = &subs[&ids[1]];
    assert_eq!(
        (queued.status, queued.attempt, queued.operation),
        (SubJobStatus::Waiting, 1, Operation::Start)
    );
    let locked = get(store, p, &ids[1]).await;
    assert_eq!(locked.task_status, Some(TaskStatus::PoweringOn));
    assert_eq!(locked.busy_sub_job, Some(queued.id));
    refused_with(
        &subs[&ids[0]],
        Refusal::WrongState(S::Active),
        Operation::Start,
        3_000,
    );
    refused_with(
        &subs[&ids[2]],
        Refusal::Busy(TaskStatus::PoweringOn),
        Operation::Start,
        3_000,
    );
    refused_with(&subs[&ids[3]], Refusal::InError, Operation::Start, 3_000);
    assert_eq!(
        get(store, p, &ids[0]).await.task_status,
        None,
        "refused: untouched"
    );
    queued.id
}

/// Only the queued sub-job runs; the job then ends FAIL for the others.
async fn runs_only_the_queued(store: &dyn Store, p: &ProjectId, job_id: &JobId, queued: SubJobId) {
    use DesktopStatus as S;
    let claimed = store.claim(&holder("w"), 10, 4_000, 60_000).await.unwrap();
    let mine: Vec<_> = claimed.iter().filter(|c| c.job_id == *job_id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].sub_job_id, queued);
    let done: Vec<_> = claimed.iter().map(success).collect();
    store.complete(&holder("w"), &done, 5_000).await.unwrap();
    let fin = store.get_job(p, job_id).await.unwrap().expect("job");
    assert_eq!(
        (fin.status, fin.succeeded, fin.failed, fin.end_ms),
        (JobStatus::Fail, 1, 3, Some(5_000))
    );
    let codes = [
        Refusal::InError.code().wire(),
        Refusal::Busy(TaskStatus::PoweringOn).code().wire(),
        Refusal::WrongState(S::Active).code().wire(),
    ];
    assert!(
        codes.contains(&fin.error_code.as_deref().unwrap_or_default()),
        "{:?}",
        fin.error_code
    );
    let reason = fin.fail_reason.unwrap_or_default();
    assert!(
        reason.starts_with("3 of 4 sub-jobs failed; first: "),
        "{reason}"
    );
}

pub async fn nothing_applies_or_nothing_there(store: &dyn Store) {
    let p = project(store).await;
    let pool = pool_row(&p, "running", "STATIC", 10);
    let ids = pool_in(store, &pool, &[], &[DesktopStatus::Active; 2]).await;
    let j = action_job(&p, pool.id, 3_000);
    let out = store
        .submit_pool_action(&j, Operation::Start, &pool.id)
        .await
        .unwrap();
    assert_eq!((out.desktops, out.queued, out.not_applicable), (2, 0, 2));
    let written = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!(
        (written.status, written.failed, written.end_ms),
        (JobStatus::Fail, 2, Some(3_000)),
        "finished at once"
    );
    assert_eq!(
        written.error_code.as_deref(),
        Some(Refusal::WrongState(DesktopStatus::Active).code().wire())
    );
    let reason = written.fail_reason.unwrap_or_default();
    assert!(
        reason.starts_with("2 of 2 sub-jobs failed; first: Operation conflict."),
        "{reason}"
    );
    assert!(
        store
            .claim(&holder("w"), 10, 4_000, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    for id in &ids {
        assert_eq!(get(store, &p, id).await.busy_sub_job, None);
    }

    // No desktops left (or no pool): nothing is written.
    let empty = pool_row(&p, "emptied", "STATIC", 20);
    let gone = pool_in(store, &empty, &[], &[DesktopStatus::Active]).await;
    let del = job(&p, JobType::DeleteDesktops, 4_000);
    store
        .submit_batch(&del, Operation::Delete, false, Scope::Partial, &gone)
        .await
        .unwrap();
    run_all(store, 4_500, |c| {
        c.operation.succeeded(c.prev_status, c.prev_login)
    })
    .await;
    assert!(store.get_desktop(&p, &gone[0]).await.unwrap().is_none());
    for pool_id in [empty.id, PoolId::new()] {
        let j = action_job(&p, pool_id, 5_000);
        let out = store
            .submit_pool_action(&j, Operation::Start, &pool_id)
            .await
            .unwrap();
        assert_eq!(out, PoolActionOutcome::default());
        assert!(
            store.get_job(&p, &j.id).await.unwrap().is_none(),
            "no job for {pool_id}"
        );
    }
    let (_, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            job_type: Some(JobType::ExecuteDesktopsAction.as_str().into()),
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 2, "only the first action's sub-jobs");
}
