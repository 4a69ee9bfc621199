//! The multi-row writes of a job, which each backend makes its own way: SQLite
//! runs one prepared single-row statement per row on its one connection,
//! PostgreSQL binds one array per column (`UNNEST`) so a 1,000-desktop job is a
//! fixed handful of statements. Their meaning is the same; the shared code
//! (`jobs`, `pools`, `settle`) decides what to write and calls these.

use super::Exec;
use crate::domain::completion::Stay;
use crate::domain::desktop::{DesktopStatus, LoginStatus};
use crate::domain::ids::{ClaimId, DesktopId, JobId, PoolId, ProjectId, SubJobId};
use crate::domain::machine::Operation;
use crate::store::{
    Completion, DesktopRow, NewJob, NotificationRow, PoolMember, StoreResult, UserRow,
};
use std::collections::HashSet;
use std::future::Future;

/// A sub-job about to be inserted.
#[derive(Debug)]
pub struct NewSub<'a> {
    /// Its id (also written to the desktop it holds).
    pub id: SubJobId,
    /// The desktop, as it was when the sub-job was made.
    pub desktop: &'a DesktopRow,
    /// What it does.
    pub operation: Operation,
}

impl<'a> NewSub<'a> {
    /// A sub-job of `operation` on `desktop` with a fresh id.
    #[must_use]
    pub fn new(desktop: &'a DesktopRow, operation: Operation) -> Self {
        Self {
            id: SubJobId::new(),
            desktop,
            operation,
        }
    }

    /// The status and login the desktop had before: a desktop being created
    /// has neither yet (BUILD, not registered).
    #[must_use]
    pub fn before(&self) -> (DesktopStatus, LoginStatus) {
        let d = self.desktop;
        if self.operation == Operation::Create && d.status == DesktopStatus::Build {
            (DesktopStatus::Build, LoginStatus::Unregister)
        } else {
            (d.status, d.login_status)
        }
    }
}

/// A sub-job recorded FAILED at once: the operation does not apply to its desktop.
#[derive(Debug)]
pub struct RefusedSub<'a> {
    /// The desktop.
    pub desktop: &'a DesktopRow,
    /// `error_code`.
    pub code: String,
    /// `fail_reason`.
    pub reason: String,
}

/// A FAILED sub-job put back in the queue by a retry, with its desktop's state now.
#[derive(Debug)]
pub struct Requeue<'a> {
    /// The sub-job.
    pub sub_job_id: SubJobId,
    /// Its desktop, as loaded.
    pub desktop: &'a DesktopRow,
    /// Its operation (the desktop shows its task).
    pub operation: Operation,
}

/// A desktop whose status reconciliation corrects: `(id, expected, status, login)`.
pub type Correction = (DesktopId, DesktopStatus, DesktopStatus, LoginStatus);

/// Multi-row writes, inside a write transaction.
pub trait Bulk: Exec {
    /// The desktops with these ids, locked against other writers until the
    /// transaction ends (PostgreSQL: `FOR UPDATE`, in id order, the order every
    /// transaction takes; SQLite: its one writer already excludes the others).
    fn lock_desktops(
        &mut self,
        ids: &[DesktopId],
    ) -> impl Future<Output = StoreResult<Vec<DesktopRow>>> + Send;

    /// Keeps creates in `project` from running beside this transaction until it
    /// ends, so the computer names it finds free stay free (SQLite: its one
    /// writer already does).
    fn lock_names(&mut self, project: &ProjectId) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts the users that do not exist yet.
    fn insert_users(&mut self, users: &[UserRow]) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts new desktops in BUILD, each held by its create sub-job.
    fn insert_desktops(
        &mut self,
        subs: &[NewSub<'_>],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts a job's sub-jobs WAITING, in order (their `seq` follows it).
    fn insert_sub_jobs(
        &mut self,
        job: &NewJob,
        subs: &[NewSub<'_>],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts sub-jobs FAILED at once, in order after the job's others.
    fn insert_refused_sub_jobs(
        &mut self,
        job: &NewJob,
        op: Operation,
        refused: &[RefusedSub<'_>],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Marks desktops busy with their new sub-jobs (already locked).
    fn mark_busy(&mut self, subs: &[NewSub<'_>]) -> impl Future<Output = StoreResult<()>> + Send;

    /// Fails WAITING or RUNNING sub-jobs (a forced delete took their desktop);
    /// returns the job of each one failed.
    fn cancel_sub_jobs(
        &mut self,
        ids: &[SubJobId],
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<Vec<JobId>>> + Send;

    /// Records finished sub-jobs still RUNNING under `incarnation`'s lease and
    /// the claim each completion names; returns the (sub-job, claim) pairs it
    /// recorded (the others are no longer theirs to finish).
    fn finish_sub_jobs(
        &mut self,
        incarnation: &str,
        done: &[Completion],
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<HashSet<(SubJobId, ClaimId)>>> + Send;

    /// Settles desktops still held by the completing sub-jobs: status, login,
    /// new image or placement, unlocked.
    fn settle_desktops(
        &mut self,
        stays: &[Stay<'_>],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes desktops still held by the completing (delete) sub-jobs.
    fn remove_desktops(
        &mut self,
        gone: &[&Completion],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes these `(project, user name)` users if they have no desktop left.
    fn delete_orphan_users(
        &mut self,
        users: &[(ProjectId, String)],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Puts FAILED sub-jobs back in the queue as a new attempt, and their
    /// desktops under them again.
    fn requeue_failed(
        &mut self,
        job_id: &JobId,
        subs: &[Requeue<'_>],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Adds or updates (privilege group) a pool's authorized members.
    fn insert_members(
        &mut self,
        pool_id: &PoolId,
        members: &[PoolMember],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts notification records, in order.
    fn insert_notifications(
        &mut self,
        list: &[NotificationRow],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Applies corrections to desktops still idle and in the expected status;
    /// returns how many changed.
    fn reconcile(
        &mut self,
        changes: &[Correction],
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}
