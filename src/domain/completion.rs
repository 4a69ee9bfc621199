//! Finished sub-jobs and what recording them changes. A worker reports each
//! sub-job as a [`Completion`]; the store records those still under its lease
//! and asks [`plan`] what follows: which desktops settle where (with what the
//! operation changed), which are gone, which users lost their last desktop,
//! and how each job's counters move.

use super::desktop::{DesktopStatus, LoginStatus};
use super::ids::{ClaimId, DesktopId, JobId, ProjectId, SubJobId};
use super::machine::Settled;
use std::collections::BTreeMap;

/// What a successful operation changed besides the desktop's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Effect {
    /// Nothing else (power and session operations).
    #[default]
    Nothing,
    /// A create placed the machine: its compute host and address, when known.
    Placed {
        /// The host (libvirt URI) it lives on.
        host: Option<String>,
        /// Its IP address.
        ip: Option<String>,
    },
    /// A rebuild put this image on the system disk.
    Rebuilt {
        /// The new image.
        image_id: String,
        /// Its type.
        image_type: String,
    },
    /// A delete removed the machine; with `delete_users`, its user goes too when
    /// left without desktops.
    Removed {
        /// The user to delete if this was their last desktop.
        orphan_user: Option<String>,
    },
}

/// How a sub-job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out.
    Done(Effect),
    /// Failed: the sub-job's `error_code` and `fail_reason`.
    Failed {
        /// `error_code`.
        code: String,
        /// `fail_reason`.
        reason: String,
    },
}

/// A finished sub-job, as its worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The sub-job.
    pub sub_job_id: SubJobId,
    /// The claim it ran under: only the sub-job's current claim is recorded, so
    /// a run that lost its lease (and was claimed again) counts for nothing.
    pub claim: ClaimId,
    /// Its job.
    pub job_id: JobId,
    /// Its desktop.
    pub desktop_id: DesktopId,
    /// The desktop's project.
    pub project_id: ProjectId,
    /// The node that ran it (the sub-job's `host`).
    pub host: String,
    /// Where the desktop settles.
    pub settled: Settled,
    /// How it ended.
    pub outcome: Outcome,
}

impl Completion {
    /// The failure's code and reason, if it failed.
    #[must_use]
    pub fn failure(&self) -> Option<(&str, &str)> {
        match &self.outcome {
            Outcome::Failed { code, reason } => Some((code, reason)),
            Outcome::Done(_) => None,
        }
    }

    /// What the operation changed, if it succeeded.
    #[must_use]
    pub fn effect(&self) -> &Effect {
        match &self.outcome {
            Outcome::Done(e) => e,
            Outcome::Failed { .. } => &Effect::Nothing,
        }
    }
}

/// A desktop that stays, where it settles, and what its operation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay<'a> {
    /// Its completion.
    pub done: &'a Completion,
    /// Its status now.
    pub status: DesktopStatus,
    /// Its login status now.
    pub login: LoginStatus,
}

/// What recording a set of completions changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Desktops that stay, unlocked.
    pub stays: Vec<Stay<'a>>,
    /// Desktops that are gone.
    pub gone: Vec<&'a Completion>,
    /// Users to delete if they have no desktop left: (project, user name).
    pub orphan_users: Vec<(ProjectId, String)>,
    /// (succeeded, failed) to add per job, in id order (the lock order).
    pub counts: BTreeMap<JobId, (i64, i64)>,
}

/// What recording `recorded` (the completions still under their lease) changes.
#[must_use]
pub fn plan<'a>(recorded: impl IntoIterator<Item = &'a Completion>) -> Plan<'a> {
    let mut p = Plan::default();
    for c in recorded {
        match c.settled {
            Settled::Stays(status, login) => p.stays.push(Stay {
                done: c,
                status,
                login,
            }),
            Settled::Gone => {
                p.gone.push(c);
                if let Effect::Removed {
                    orphan_user: Some(user),
                } = c.effect()
                {
                    p.orphan_users.push((c.project_id.clone(), user.clone()));
                }
            }
        }
        let e = p.counts.entry(c.job_id).or_default();
        if c.failure().is_none() {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    p
}

#[cfg(test)]
#[path = "completion_test.rs"]
mod tests;
