//! Submission: bulk create, and batches checked by the state machine.

use crate::harness::{
    STOP, count_statements, desktop, desktops_in, get, holder, job, project, success, user_row,
};
use deskplane::domain::admission::Scope;
use deskplane::domain::desktop::{DesktopStatus, TaskStatus};
use deskplane::domain::error_code::Code;
use deskplane::domain::ids::{DesktopId, JobId, ProjectId};
use deskplane::domain::job::{JobStatus, JobType};
use deskplane::domain::machine::{Operation, Refusal, Settled};
use deskplane::store::{
    BatchOutcome, BatchRefusal, DesktopFilter, NewDesktop, Store, SubJobFilter, UserFilter, UserRow,
};

fn user(project: &ProjectId, name: &str) -> UserRow {
    user_row(project, name, 5)
}

pub async fn create_thousand_in_few_statements(store: &dyn Store) {
    let p = project(store).await;
    let existing = user(&p, "user-0");
    store.insert_user(&existing).await.unwrap();
    let desktops: Vec<NewDesktop> = (0..1_000)
        .map(|i| {
            let mut row = desktop(&p, &format!("bulk-{i:04}"));
            row.user_name = Some(format!("user-{}", i % 10));
            NewDesktop { row }
        })
        .collect();
    // Every user once, plus one twice and one that already exists.
    let mut users: Vec<UserRow> = (0..10).map(|i| user(&p, &format!("user-{i}"))).collect();
    users.push(user(&p, "user-1"));
    let j = job(&p, JobType::CreateDesktops, 1_000);
    let (res, statements) = count_statements(store.submit_create(&j, &desktops, &users)).await;
    res.expect("submit_create of 1,000 desktops");
    eprintln!("submit_create of 1,000 desktops: {statements} SQL statements");
    // Over the network (PostgreSQL, through sqlx) a round trip per desktop would
    // dominate: set-based writes. SQLite runs in-process on rusqlite, where a
    // cached single-row statement per row is the fastest way; sqlx sees none.
    assert!(
        statements == 0 || (3..=16).contains(&statements),
        "1,000 desktops must take a handful of statements, not one per desktop: {statements}"
    );

    let (first, total) = store
        .list_desktops(
            &p,
            &DesktopFilter {
                limit: 2,
                ..DesktopFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 1_000);
    assert_eq!(first[0].computer_name, "bulk-0000");
    assert_eq!(first[1].computer_name, "bulk-0001");
    let (_, building) = store
        .list_desktops(
            &p,
            &DesktopFilter {
                status: Some("BUILD".into()),
                limit: 1,
                ..DesktopFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(building, 1_000);
    let job = store.get_job(&p, &j.id).await.unwrap().expect("job");
    assert_eq!((job.total, job.status), (1_000, JobStatus::Waiting));
    let (subs, total) = store
        .list_sub_jobs(&SubJobFilter {
            project_id: p.clone(),
            job_id: Some(j.id.to_string()),
            offset: 998,
            limit: 10,
            ..SubJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 1_000);
    let tail: Vec<&str> = subs.iter().map(|s| s.desktop_name.as_str()).collect();
    assert_eq!(tail, ["bulk-0998", "bulk-0999"], "sub-jobs in input order");
    users_created_once(store, &p, &existing).await;
}

/// Each missing user of the 1,000 desktops is created once; `existing` is kept.
async fn users_created_once(store: &dyn Store, p: &ProjectId, existing: &UserRow) {
    let (list, total) = store
        .list_users(
            p,
            &UserFilter {
                limit: 100,
                ..UserFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 10, "missing users created once each");
    let kept = list
        .iter()
        .find(|u| u.user_name == "user-0")
        .expect("user-0");
    assert_eq!(kept.id, existing.id, "an existing user is kept as it was");
    assert!(list.iter().all(|u| u.total_desktops == 100));
}

pub async fn refusals(store: &dyn Store) {
    use DesktopStatus as S;
    let p = project(store).await;
    let other = project(store).await;
    let ids = desktops_in(store, &p, &[S::Active, S::Shutoff, S::Error]).await;
    let theirs = desktops_in(store, &other, &[S::Shutoff]).await;
    let (active, shutoff, broken) = (&ids[0], &ids[1], &ids[2]);
    let batch_job = job(&p, JobType::OperateDesktops, 3_000);
    let missing = DesktopId::new();
    let asked = vec![*active, *shutoff, *broken, theirs[0], missing];
    let out = store
        .submit_batch(&batch_job, Operation::Start, false, Scope::Partial, &asked)
        .await
        .unwrap();
    let accepted: Vec<(DesktopId, DesktopStatus)> =
        out.accepted.iter().map(|d| (d.id, d.status)).collect();
    assert_eq!(
        accepted,
        [(*shutoff, S::Shutoff)],
        "accepted as it was before"
    );
    let named =
        |id: &DesktopId, why, name: &str, s| (id.to_string(), why, Some(name.into()), Some(s));
    let unseen = |id: &DesktopId, why| (id.to_string(), why, None, None);
    assert_eq!(
        refusals_of(&out),
        [
            named(
                active,
                BatchRefusal::State(Refusal::WrongState(S::Active)),
                "pc-000",
                S::Active
            ),
            named(
                broken,
                BatchRefusal::State(Refusal::InError),
                "pc-002",
                S::Error
            ),
            unseen(&theirs[0], BatchRefusal::OtherProject),
            unseen(&missing, BatchRefusal::NotFound),
        ],
        "in request order; nothing revealed about others' desktops"
    );
    assert!(out.cancelled_sub_jobs.is_empty());
    let written = store
        .get_job(&p, &batch_job.id)
        .await
        .unwrap()
        .expect("job written");
    assert_eq!(
        (written.total, written.job_type),
        (1, JobType::OperateDesktops)
    );
    let held = get(store, &p, shutoff).await;
    assert_eq!(held.task_status, Some(TaskStatus::PoweringOn));
    let claimed = store.claim(&holder("n1"), 10, 3_000, 9_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(held.busy_sub_job, Some(claimed[0].sub_job_id));
    assert_eq!(
        (claimed[0].prev_status, claimed[0].operation),
        (S::Shutoff, Operation::Start)
    );
    assert_eq!(
        get(store, &p, active).await.task_status,
        None,
        "refused: untouched"
    );
    one_at_a_time(store, &p, shutoff, broken).await;
}

/// (desktop id, reason, name, status) of each refused desktop.
type Refusals = Vec<(String, BatchRefusal, Option<String>, Option<DesktopStatus>)>;

fn refusals_of(out: &BatchOutcome) -> Refusals {
    out.refused
        .iter()
        .map(|r| {
            (
                r.desktop_id.clone(),
                r.reason.clone(),
                r.desktop_name.clone(),
                r.status,
            )
        })
        .collect()
}

/// `c` is held by a start, `e` is in ERROR.
async fn one_at_a_time(store: &dyn Store, p: &ProjectId, c: &DesktopId, e: &DesktopId) {
    // One operation at a time: a second batch on the held desktop is refused.
    let j2 = job(p, JobType::OperateDesktops, 3_100);
    let out = store
        .submit_batch(&j2, STOP, false, Scope::Partial, std::slice::from_ref(c))
        .await
        .unwrap();
    assert!(out.accepted.is_empty());
    assert_eq!(
        out.refused[0].reason,
        BatchRefusal::State(Refusal::Busy(TaskStatus::PoweringOn))
    );
    assert!(
        store.get_job(p, &j2.id).await.unwrap().is_none(),
        "no job when nothing is accepted"
    );
    // ERROR is repaired by rebuild.
    let j3 = job(p, JobType::RebuildDesktops, 3_200);
    let out = store
        .submit_batch(
            &j3,
            Operation::Rebuild,
            false,
            Scope::Partial,
            std::slice::from_ref(e),
        )
        .await
        .unwrap();
    assert_eq!(out.accepted.len(), 1);
    assert_eq!(
        get(store, p, e).await.task_status,
        Some(TaskStatus::Rebuilding)
    );
}

pub async fn atomic_and_empty_write_nothing(store: &dyn Store) {
    let p = project(store).await;
    let ids = desktops_in(store, &p, &[DesktopStatus::Active, DesktopStatus::Shutoff]).await;
    let j = job(&p, JobType::LogoffDesktops, 3_000);
    let out = store
        .submit_batch(&j, STOP, false, Scope::Whole, &ids)
        .await
        .unwrap();
    assert!(out.accepted.is_empty(), "atomic: all or nothing");
    assert_eq!(out.refused.len(), 1);
    assert_eq!(out.refused[0].desktop_id, ids[1].to_string());
    assert!(store.get_job(&p, &j.id).await.unwrap().is_none());
    let a = get(store, &p, &ids[0]).await;
    assert_eq!((a.task_status, a.busy_sub_job), (None, None), "not locked");
    assert_eq!(store.next_due_ms().await.unwrap(), None, "nothing queued");

    let out = store
        .submit_batch(&j, STOP, false, Scope::Partial, &[])
        .await
        .unwrap();
    assert!(out.accepted.is_empty() && out.refused.is_empty());
    assert!(store.get_job(&p, &j.id).await.unwrap().is_none());

    let out = store
        .submit_batch(&j, STOP, false, Scope::Whole, &ids[..1])
        .await
        .unwrap();
    assert_eq!(out.accepted.len(), 1, "atomic with nothing refused");
    assert_eq!(
        get(store, &p, &ids[0]).await.task_status,
        Some(TaskStatus::PoweringOff)
    );
}

pub async fn force_delete_cancels_holder(store: &dyn Store) {
    let p = project(store).await;
    let ids = desktops_in(store, &p, &[DesktopStatus::Active]).await;
    let a = &ids[0];
    let stop = job(&p, JobType::OperateDesktops, 3_000);
    store
        .submit_batch(&stop, STOP, false, Scope::Partial, &ids)
        .await
        .unwrap();
    let running = store
        .claim(&holder("node-a"), 10, 3_000, 60_000)
        .await
        .unwrap();
    assert_eq!(running.len(), 1);

    let del = job(&p, JobType::DeleteDesktops, 4_000);
    let out = store
        .submit_batch(&del, Operation::Delete, false, Scope::Partial, &ids)
        .await
        .unwrap();
    assert_eq!(
        out.refused[0].reason,
        BatchRefusal::State(Refusal::Busy(TaskStatus::PoweringOff)),
        "an unforced delete waits its turn"
    );
    let out = store
        .submit_batch(&del, Operation::Delete, true, Scope::Partial, &ids)
        .await
        .unwrap();
    assert_eq!(out.accepted.len(), 1);
    assert_eq!(out.cancelled_sub_jobs, [running[0].sub_job_id]);

    let code = Code::Cancelled;
    let old = store
        .get_job(&p, &stop.id)
        .await
        .unwrap()
        .expect("stop job");
    assert_eq!(
        (old.status, old.failed, old.succeeded),
        (JobStatus::Fail, 1, 0)
    );
    assert_eq!(old.error_code.as_deref(), Some(code.wire()));
    assert_eq!(
        old.fail_reason.as_deref(),
        Some(format!("1 of 1 sub-jobs failed; first: {}", code.default_message()).as_str())
    );
    assert_eq!(old.end_ms, Some(4_000));
    let held = get(store, &p, a).await;
    assert_eq!(held.task_status, Some(TaskStatus::Deleting));

    // The cancelled worker's late completion changes nothing.
    let late = store
        .complete(&holder("node-a"), &[success(&running[0])], 5_000)
        .await
        .unwrap();
    assert_eq!(late, 0);
    let after = get(store, &p, a).await;
    assert_eq!(after.busy_sub_job, held.busy_sub_job);
    assert_eq!(after.status, DesktopStatus::Active);
    forced_delete_runs(store, &p, a, &del.id).await;
}

/// The forced delete `job_id` of `a` runs and removes it.
async fn forced_delete_runs(store: &dyn Store, p: &ProjectId, a: &DesktopId, job_id: &JobId) {
    let claimed = store
        .claim(&holder("node-b"), 10, 5_000, 60_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].operation, Operation::Delete);
    assert_eq!(claimed[0].desktop.as_ref().map(|d| d.id), Some(*a));
    let done = success(&claimed[0]);
    assert_eq!(done.settled, Settled::Gone);
    assert_eq!(
        store
            .complete(&holder("node-b"), &[done], 6_000)
            .await
            .unwrap(),
        1
    );
    assert!(store.get_desktop(p, a).await.unwrap().is_none());
    let finished = store.get_job(p, job_id).await.unwrap().expect("delete job");
    assert_eq!(
        (finished.status, finished.succeeded),
        (JobStatus::Success, 1)
    );
}
