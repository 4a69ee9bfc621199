//! Admission: which desktops of a request get a sub-job, and why the others do
//! not. The store loads (and locks) the desktops a request names and asks here;
//! it then writes what was decided. Three requests admit differently:
//!
//! - a batch (`desktops/action`, rebuild, logoff, delete) refuses per desktop —
//!   not found, another project's, or the state machine's refusal — and a forced
//!   delete takes over a busy desktop, cancelling the sub-job that held it;
//! - a retry re-queues a failed sub-job only when its desktop still exists, the
//!   operation applies again and nothing holds the desktop (it never takes over);
//! - a pool action gives a desktop the operation does not apply to a FAILED
//!   sub-job instead of a refusal, so its job says what happened.

use super::desktop::TaskStatus;
use super::ids::{ProjectId, SubJobId};
use super::machine::{Operation, Refusal, Snapshot};

/// A desktop as admission sees it: its project, state and holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its project.
    pub project_id: &'a ProjectId,
    /// Its state.
    pub state: Snapshot,
    /// The sub-job holding it, if any.
    pub held_by: Option<SubJobId>,
}

/// Why a desktop of a request gets no sub-job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No such desktop.
    NotFound,
    /// The desktop belongs to another project.
    OtherProject,
    /// The state machine refused.
    State(Refusal),
}

/// The decision for one desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It gets a sub-job; a forced delete first cancels `takes_over`.
    Accept {
        /// The sub-job a forced delete cancels, if one held the desktop.
        takes_over: Option<SubJobId>,
    },
    /// It gets none, for this reason.
    Reject(Rejection),
}

impl Verdict {
    /// Whether the desktop gets a sub-job.
    #[must_use]
    pub fn accepted(&self) -> bool {
        matches!(self, Verdict::Accept { .. })
    }
}

/// A batch on behalf of `project_id`: may `op` begin on `desktop` (absent when
/// no desktop has the requested id)? `force` lets a delete take a busy desktop.
#[must_use]
pub fn batch(
    op: Operation,
    force: bool,
    project_id: &ProjectId,
    desktop: Option<Candidate<'_>>,
) -> Verdict {
    let Some(d) = desktop else {
        return Verdict::Reject(Rejection::NotFound);
    };
    if d.project_id != project_id {
        return Verdict::Reject(Rejection::OtherProject);
    }
    match op.check(d.state, force) {
        Ok(_) => Verdict::Accept {
            takes_over: d.held_by,
        },
        Err(r) => Verdict::Reject(Rejection::State(r)),
    }
}

/// How much of a batch a request may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The desktops that can be (`desktops/action`, rebuild).
    Partial,
    /// All of them or nothing (logoff, delete).
    Whole,
    /// Nothing: only the verdicts (a whole request already refused for
    /// something the store never saw).
    Check,
}

/// Whether a batch writes anything: something accepted, and for a `Whole`
/// request nothing rejected.
#[must_use]
pub fn batch_writes(verdicts: &[Verdict], scope: Scope) -> bool {
    let accepted = verdicts.iter().filter(|v| v.accepted()).count();
    match scope {
        Scope::Partial => accepted > 0,
        Scope::Whole => accepted > 0 && accepted == verdicts.len(),
        Scope::Check => false,
    }
}

/// A retry of a failed sub-job of `op` whose job forced deletes when
/// `force_delete`: the desktop must exist, take `op` again and be free.
#[must_use]
pub fn retry(op: Operation, force_delete: bool, desktop: Option<Candidate<'_>>) -> Verdict {
    let Some(d) = desktop else {
        return Verdict::Reject(Rejection::NotFound);
    };
    match op.check(d.state, force_delete && op == Operation::Delete) {
        Ok(_) if d.held_by.is_none() => Verdict::Accept { takes_over: None },
        // Forced past the state check, but a retry never takes a desktop over.
        Ok(_) => Verdict::Reject(Rejection::State(Refusal::Busy(
            d.state.task.unwrap_or(TaskStatus::Deleting),
        ))),
        Err(e) => Verdict::Reject(Rejection::State(e)),
    }
}

/// A pool action on one of the pool's desktops: a sub-job, or the refusal its
/// FAILED sub-job records.
pub fn pool_action(op: Operation, state: Snapshot) -> Result<(), Refusal> {
    op.check(state, false).map(drop)
}

#[cfg(test)]
#[path = "admission_test.rs"]
mod tests;
