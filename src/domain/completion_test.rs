use super::*;
use crate::domain::machine::Operation;

fn done(job: JobId, op: Operation, before: DesktopStatus, outcome: Outcome) -> Completion {
    let settled = match &outcome {
        Outcome::Done(_) => op.succeeded(before, LoginStatus::Registered),
        Outcome::Failed { .. } => op.failed(before, LoginStatus::Registered),
    };
    Completion {
        sub_job_id: SubJobId::new(),
        claim: ClaimId::new(),
        job_id: job,
        desktop_id: DesktopId::new(),
        project_id: "p1".parse().expect("project id"),
        host: "node-1".into(),
        settled,
        outcome,
    }
}

fn failed() -> Outcome {
    Outcome::Failed {
        code: "WKS.X".into(),
        reason: "boom".into(),
    }
}

#[test]
fn each_completion_settles_its_desktop_and_counts_for_its_job() {
    let (a, b) = (JobId::new(), JobId::new());
    let stop = Operation::Stop(crate::domain::desktop::PowerMode::Hard);
    let rebuilt = Effect::Rebuilt {
        image_id: "img".into(),
        image_type: "gold".into(),
    };
    let list = [
        done(
            a,
            stop,
            DesktopStatus::Active,
            Outcome::Done(Effect::Nothing),
        ),
        done(a, stop, DesktopStatus::Active, failed()),
        done(
            b,
            Operation::Rebuild,
            DesktopStatus::Shutoff,
            Outcome::Done(rebuilt.clone()),
        ),
        // A failed rebuild leaves the machine half made: ERROR.
        done(b, Operation::Rebuild, DesktopStatus::Active, failed()),
    ];
    let p = plan(&list);
    let settled: Vec<(DesktopStatus, LoginStatus)> =
        p.stays.iter().map(|s| (s.status, s.login)).collect();
    assert_eq!(
        settled,
        [
            (DesktopStatus::Shutoff, LoginStatus::Unregister),
            (DesktopStatus::Active, LoginStatus::Registered),
            (DesktopStatus::Shutoff, LoginStatus::Unregister),
            (DesktopStatus::Error, LoginStatus::Unregister),
        ]
    );
    assert_eq!(p.stays[2].done.effect(), &rebuilt);
    assert_eq!(
        p.stays[3].done.effect(),
        &Effect::Nothing,
        "a failure changes nothing else"
    );
    assert!(p.gone.is_empty() && p.orphan_users.is_empty());
    assert_eq!(p.counts, BTreeMap::from([(a, (1, 1)), (b, (1, 1))]));
}

#[test]
fn deletes_remove_desktops_and_name_users_left_without_one() {
    let j = JobId::new();
    let removed = |user: Option<&str>| {
        Outcome::Done(Effect::Removed {
            orphan_user: user.map(str::to_owned),
        })
    };
    let list = [
        done(
            j,
            Operation::Delete,
            DesktopStatus::Active,
            removed(Some("erin")),
        ),
        done(j, Operation::Delete, DesktopStatus::Shutoff, removed(None)),
        // A failed delete keeps the desktop, in ERROR, and its user.
        done(j, Operation::Delete, DesktopStatus::Active, failed()),
    ];
    let p = plan(&list);
    assert_eq!(p.gone.len(), 2);
    assert_eq!(
        p.orphan_users,
        [("p1".parse().expect("project id"), "erin".to_owned())]
    );
    assert_eq!(p.stays.len(), 1);
    assert_eq!(p.stays[0].status, DesktopStatus::Error);
    assert_eq!(p.counts[&j], (2, 1));
}

#[test]
fn nothing_recorded_changes_nothing() {
    assert_eq!(plan(std::iter::empty()), Plan::default());
}
