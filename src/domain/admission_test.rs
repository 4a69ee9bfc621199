use super::*;
use crate::domain::desktop::{DesktopStatus as S, LoginStatus, PowerMode};

fn p(id: &str) -> &'static ProjectId {
    Box::leak(Box::new(id.parse().expect("project id")))
}

fn s1() -> SubJobId {
    "6f0c7a9e-1f57-4e59-9a3c-2d8f0e6b7a11"
        .parse()
        .expect("sub-job id")
}

fn state(status: S, task: Option<TaskStatus>) -> Snapshot {
    Snapshot {
        status,
        task,
        login: LoginStatus::Unregister,
    }
}

fn desk(project: &str, status: S, held_by: Option<SubJobId>) -> Candidate<'static> {
    Candidate {
        project_id: p(project),
        state: state(status, held_by.map(|_| TaskStatus::PoweringOff)),
        held_by,
    }
}

#[test]
fn batch_verdicts_row_by_row() {
    let stop = Operation::Stop(PowerMode::Hard);
    let table: [(Option<Candidate<'static>>, Operation, bool, Verdict); 8] = [
        (None, stop, false, Verdict::Reject(Rejection::NotFound)),
        (
            Some(desk("p2", S::Active, None)),
            stop,
            false,
            Verdict::Reject(Rejection::OtherProject),
        ),
        // Another project's desktop is refused even when forced: nothing is revealed.
        (
            Some(desk("p2", S::Active, Some(s1()))),
            Operation::Delete,
            true,
            Verdict::Reject(Rejection::OtherProject),
        ),
        (
            Some(desk("p1", S::Active, None)),
            stop,
            false,
            Verdict::Accept { takes_over: None },
        ),
        (
            Some(desk("p1", S::Shutoff, None)),
            stop,
            false,
            Verdict::Reject(Rejection::State(Refusal::WrongState(S::Shutoff))),
        ),
        (
            Some(desk("p1", S::Active, Some(s1()))),
            stop,
            false,
            Verdict::Reject(Rejection::State(Refusal::Busy(TaskStatus::PoweringOff))),
        ),
        (
            Some(desk("p1", S::Active, Some(s1()))),
            Operation::Delete,
            false,
            Verdict::Reject(Rejection::State(Refusal::Busy(TaskStatus::PoweringOff))),
        ),
        // A forced delete takes the desktop and names the sub-job to cancel.
        (
            Some(desk("p1", S::Active, Some(s1()))),
            Operation::Delete,
            true,
            Verdict::Accept {
                takes_over: Some(s1()),
            },
        ),
    ];
    for (desktop, op, force, want) in table {
        assert_eq!(
            batch(op, force, p("p1"), desktop),
            want,
            "{op} force={force} on {desktop:?}"
        );
    }
}

#[test]
fn a_batch_writes_when_something_is_accepted_and_whole_ones_only_whole() {
    let yes = Verdict::Accept { takes_over: None };
    let no = Verdict::Reject(Rejection::NotFound);
    for (verdicts, scope, writes) in [
        (vec![], Scope::Partial, false),
        (vec![no.clone()], Scope::Partial, false),
        (vec![yes.clone(), no.clone()], Scope::Partial, true),
        (vec![yes.clone(), no.clone()], Scope::Whole, false),
        (vec![yes.clone(), yes.clone()], Scope::Whole, true),
        (vec![yes.clone(), yes.clone()], Scope::Check, false),
    ] {
        assert_eq!(
            batch_writes(&verdicts, scope),
            writes,
            "{verdicts:?} {scope:?}"
        );
    }
}

#[test]
fn retry_requires_an_existing_free_desktop_the_operation_applies_to() {
    let start = Operation::Start;
    let free_off = desk("p1", S::Shutoff, None);
    let busy_off = desk("p1", S::Shutoff, Some(s1()));
    let busy = Rejection::State(Refusal::Busy(TaskStatus::PoweringOff));
    let table = [
        (None, start, false, Verdict::Reject(Rejection::NotFound)),
        (
            Some(free_off),
            start,
            false,
            Verdict::Accept { takes_over: None },
        ),
        (
            Some(desk("p1", S::Active, None)),
            start,
            false,
            Verdict::Reject(Rejection::State(Refusal::WrongState(S::Active))),
        ),
        (Some(busy_off), start, false, Verdict::Reject(busy.clone())),
        // A forced delete's retry passes the state check but still never takes over.
        (
            Some(busy_off),
            Operation::Delete,
            true,
            Verdict::Reject(busy),
        ),
        (
            Some(free_off),
            Operation::Delete,
            true,
            Verdict::Accept { takes_over: None },
        ),
    ];
    for (desktop, op, force, want) in table {
        assert_eq!(
            retry(op, force, desktop),
            want,
            "{op} force={force} on {desktop:?}"
        );
    }
}

#[test]
fn pool_actions_never_take_over_and_refuse_what_does_not_apply() {
    let hibernate = Operation::Hibernate;
    assert_eq!(pool_action(hibernate, state(S::Active, None)), Ok(()));
    assert_eq!(
        pool_action(hibernate, state(S::Shutoff, None)),
        Err(Refusal::WrongState(S::Shutoff))
    );
    assert_eq!(
        pool_action(
            Operation::Delete,
            state(S::Active, Some(TaskStatus::Rebooting))
        ),
        Err(Refusal::Busy(TaskStatus::Rebooting))
    );
}
