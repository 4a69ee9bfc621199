//! Jobs and sub-jobs: one job per request, one sub-job per desktop.

use super::desktop::wire_enum;
use serde::{Deserialize, Serialize};

wire_enum!(
    /// `job_type` values (the SDK's ListItaSubJobsRequest list, plus `logoffDesktops`, ours).
    JobType {
        /// POST /desktops.
        CreateDesktops => "createDesktops",
        /// DELETE /desktops/{id}, POST /desktops/batch-delete.
        DeleteDesktops => "deleteDesktops",
        /// POST /desktops/rebuild.
        RebuildDesktops => "rebuildDesktops",
        /// POST /desktops/action.
        OperateDesktops => "operateDesktops",
        /// POST /desktops/logoff (ours: the SDK lists no type for it).
        LogoffDesktops => "logoffDesktops",
        /// POST /desktop-pools/{id}/action.
        ExecuteDesktopsAction => "executeDesktopsAction",
        /// POST /desktop-pools.
        CreateDesktopPool => "createDesktopPool",
        /// POST /desktop-pools/{id}/expand.
        ExpandDesktopPool => "expandDesktopPool",
    }
);

wire_enum!(
    /// A job's status: terminal at SUCCESS or FAIL.
    JobStatus {
        /// No sub-job started yet.
        Waiting => "WAITING",
        /// Some sub-job started, not all finished.
        Running => "RUNNING",
        /// Every sub-job succeeded.
        Success => "SUCCESS",
        /// Every sub-job finished and at least one failed.
        Fail => "FAIL",
    }
);

wire_enum!(
    /// A sub-job's status.
    SubJobStatus {
        /// Queued.
        Waiting => "WAITING",
        /// Claimed by a worker.
        Running => "RUNNING",
        /// Done.
        Success => "SUCCESS",
        /// Done, with `error_code` and `fail_reason`.
        Failed => "FAILED",
    }
);

impl SubJobStatus {
    /// SUCCESS or FAILED.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, SubJobStatus::Success | SubJobStatus::Failed)
    }
}

impl JobStatus {
    /// A job's status derived from its sub-job counts: the one rule for it.
    #[must_use]
    pub const fn from_counts(total: i64, started: i64, succeeded: i64, failed: i64) -> Self {
        if succeeded + failed >= total {
            if failed == 0 {
                JobStatus::Success
            } else {
                JobStatus::Fail
            }
        } else if started > 0 || succeeded + failed > 0 {
            JobStatus::Running
        } else {
            JobStatus::Waiting
        }
    }

    /// SUCCESS or FAIL.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Fail)
    }
}

/// Parameters of a job, stored with it as JSON and read by its sub-jobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct JobParams {
    /// Rebuild: the new image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Rebuild: its type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_type: Option<String>,
    /// Rebuild: minutes users get to save their work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_time: Option<u32>,
    /// Rebuild / logoff: the message shown to users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Delete: remove users left without desktops.
    pub delete_users: bool,
    /// Delete: notify users by e-mail.
    pub email_notification: bool,
    /// Delete: take desktops in any state.
    pub is_force_delete: bool,
}

impl JobParams {
    /// Reads stored parameters; anything but a JSON object of these fields is
    /// an error (a corrupt row), never a default.
    pub fn decode(stored: &str) -> Result<Self, String> {
        serde_json::from_str(stored).map_err(|e| format!("job parameters {stored:?}: {e}"))
    }

    /// The stored form.
    #[must_use]
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_status_follows_sub_job_counts() {
        assert_eq!(JobStatus::from_counts(3, 0, 0, 0), JobStatus::Waiting);
        assert_eq!(JobStatus::from_counts(3, 1, 0, 0), JobStatus::Running);
        assert_eq!(JobStatus::from_counts(3, 0, 1, 0), JobStatus::Running);
        assert_eq!(JobStatus::from_counts(3, 0, 3, 0), JobStatus::Success);
        assert_eq!(JobStatus::from_counts(3, 0, 2, 1), JobStatus::Fail);
        assert_eq!(JobStatus::from_counts(0, 0, 0, 0), JobStatus::Success);
        assert!(JobStatus::Fail.is_terminal() && !JobStatus::Running.is_terminal());
        assert!(SubJobStatus::Failed.is_terminal() && !SubJobStatus::Waiting.is_terminal());
    }
}
