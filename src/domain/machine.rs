//! The desktop state machine: which operation may begin from which state, and
//! where a desktop settles when its operation succeeds or fails. Every layer asks
//! here; the store enforces the answer with guarded updates
//! (`... WHERE busy_sub_job IS NULL`), so two requests never both act on a desktop.
//!
//! Modelled on Nova (CONTRACT.md has the table; it is ours, not Huawei's).

use super::desktop::{DesktopStatus, LoginStatus, PowerMode, TaskStatus};
use super::error_code::Code;
use std::fmt;
use std::str::FromStr;

/// An operation applied to one desktop by one sub-job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Build the machine.
    Create,
    /// os-start: boot or resume.
    Start,
    /// os-stop.
    Stop(PowerMode),
    /// reboot.
    Reboot(PowerMode),
    /// os-hibernate.
    Hibernate,
    /// Recompose the system disk from an image.
    Rebuild,
    /// Log users off.
    Logoff,
    /// Remove the machine and its disks.
    Delete,
}

/// Why an operation cannot begin on a desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another operation holds the desktop.
    Busy(TaskStatus),
    /// The operation does not apply to this status.
    WrongState(DesktopStatus),
    /// The desktop is in ERROR and the operation cannot repair it.
    InError,
}

impl Refusal {
    /// The error code of this refusal.
    #[must_use]
    pub const fn code(self) -> Code {
        match self {
            Refusal::Busy(_) => Code::DesktopBusy,
            Refusal::WrongState(_) => Code::Conflict,
            Refusal::InError => Code::DesktopInError,
        }
    }

    /// Why `op` was refused on desktop `id`, in words (the 409 text of CONTRACT.md for state conflicts).
    #[must_use]
    pub fn message(self, id: &str, op: &str) -> String {
        match self {
            Refusal::Busy(task) => format!(
                "Desktop {id} is under another operation (task_status {task}); {op} refused."
            ),
            Refusal::InError => format!(
                "Desktop {id} is in ERROR state: only os-stop, HARD reboot, rebuild and delete apply; {op} refused."
            ),
            Refusal::WrongState(s) => format!(
                "Operation conflict. The desktop current instance status is [{s}] and deny operation [{op}], resource id [{id}]."
            ),
        }
    }
}

/// The observable state of a desktop, as far as the state machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// `status`.
    pub status: DesktopStatus,
    /// `task_status`, `None` when idle.
    pub task: Option<TaskStatus>,
    /// `login_status`.
    pub login: LoginStatus,
}

/// Where a desktop settles after its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The desktop stays, in this state, with an empty `task_status`.
    Stays(DesktopStatus, LoginStatus),
    /// The desktop is gone.
    Gone,
}

impl Operation {
    /// The `task_status` shown while the operation is queued or running.
    #[must_use]
    pub const fn task_status(self) -> TaskStatus {
        match self {
            Operation::Create => TaskStatus::Spawning,
            Operation::Start => TaskStatus::PoweringOn,
            Operation::Stop(_) => TaskStatus::PoweringOff,
            Operation::Reboot(PowerMode::Soft) => TaskStatus::Rebooting,
            Operation::Reboot(PowerMode::Hard) => TaskStatus::RebootingHard,
            Operation::Hibernate => TaskStatus::Hibernating,
            Operation::Rebuild => TaskStatus::Rebuilding,
            Operation::Logoff => TaskStatus::LoggingOff,
            Operation::Delete => TaskStatus::Deleting,
        }
    }

    /// May `op` begin on a desktop in `state`? `force` lets a delete take a busy desktop.
    pub fn check(self, state: Snapshot, force: bool) -> Result<TaskStatus, Refusal> {
        use DesktopStatus as S;
        if let Some(task) = state.task {
            return if force && self == Operation::Delete {
                Ok(self.task_status())
            } else {
                Err(Refusal::Busy(task))
            };
        }
        let allowed = match (state.status, self) {
            // A desktop under creation always carries a task; without one it is
            // a leftover that only delete may touch.
            (S::Build, op) => op == Operation::Delete,
            // A failed create leaves ERROR; retrying the job re-creates.
            (S::Error, Operation::Create) => true,
            (_, Operation::Create) => false,
            (_, Operation::Delete | Operation::Rebuild) => true,
            (S::Active, Operation::Start) => false,
            (S::Active, Operation::Stop(_) | Operation::Reboot(_) | Operation::Hibernate) => true,
            (S::Active | S::Shutoff | S::Hibernated, Operation::Logoff) => true,
            (S::Shutoff, Operation::Start | Operation::Reboot(PowerMode::Hard)) => true,
            (
                S::Shutoff,
                Operation::Stop(_) | Operation::Reboot(PowerMode::Soft) | Operation::Hibernate,
            ) => false,
            (S::Hibernated, Operation::Start | Operation::Stop(_)) => true,
            (S::Hibernated, Operation::Reboot(_) | Operation::Hibernate) => false,
            (S::Error, Operation::Stop(_) | Operation::Reboot(PowerMode::Hard)) => true,
            (
                S::Error,
                Operation::Start
                | Operation::Reboot(PowerMode::Soft)
                | Operation::Hibernate
                | Operation::Logoff,
            ) => return Err(Refusal::InError),
        };
        if allowed {
            Ok(self.task_status())
        } else {
            Err(Refusal::WrongState(state.status))
        }
    }

    /// Where a desktop that was in `before` settles when the operation succeeds.
    #[must_use]
    pub fn succeeded(self, before: DesktopStatus, login: LoginStatus) -> Settled {
        use DesktopStatus as S;
        let running = |l: LoginStatus| Settled::Stays(S::Active, l);
        match self {
            Operation::Create | Operation::Start | Operation::Reboot(_) => {
                running(LoginStatus::Registered)
            }
            Operation::Stop(_) => Settled::Stays(S::Shutoff, LoginStatus::Unregister),
            Operation::Hibernate => Settled::Stays(S::Hibernated, LoginStatus::Unregister),
            // The power state it had before; a hibernated memory image no longer
            // matches the new disk, so it is discarded (SHUTOFF). ERROR is repaired.
            Operation::Rebuild => match before {
                S::Active | S::Error | S::Build => running(LoginStatus::Registered),
                S::Shutoff | S::Hibernated => Settled::Stays(S::Shutoff, LoginStatus::Unregister),
            },
            Operation::Logoff => {
                let after = if login.has_session() {
                    LoginStatus::Registered
                } else {
                    login
                };
                Settled::Stays(before, after)
            }
            Operation::Delete => Settled::Gone,
        }
    }

    /// Where a desktop that was in `before` settles when the operation fails.
    #[must_use]
    pub fn failed(self, before: DesktopStatus, login: LoginStatus) -> Settled {
        match self {
            // The machine may be half made or half gone: only rebuild/delete help.
            Operation::Create | Operation::Rebuild | Operation::Delete => {
                Settled::Stays(DesktopStatus::Error, LoginStatus::Unregister)
            }
            Operation::Start
            | Operation::Stop(_)
            | Operation::Reboot(_)
            | Operation::Hibernate
            | Operation::Logoff => Settled::Stays(before, login),
        }
    }

    /// The name shown in messages and action history (`os-stop`, `reboot` ...).
    #[must_use]
    pub const fn wire_name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Start => "os-start",
            Operation::Stop(_) => "os-stop",
            Operation::Reboot(_) => "reboot",
            Operation::Hibernate => "os-hibernate",
            Operation::Rebuild => "rebuild",
            Operation::Logoff => "logoff",
            Operation::Delete => "delete",
        }
    }

    /// SOFT/HARD where it applies.
    #[must_use]
    pub const fn mode(self) -> Option<PowerMode> {
        match self {
            Operation::Stop(m) | Operation::Reboot(m) => Some(m),
            _ => None,
        }
    }
}

/// Stored form: `os-stop:SOFT`, `rebuild`, ...
impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode() {
            Some(m) => write!(f, "{}:{}", self.wire_name(), m),
            None => f.write_str(self.wire_name()),
        }
    }
}

impl FromStr for Operation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, mode) = match s.split_once(':') {
            Some((n, m)) => (n, Some(m.parse::<PowerMode>()?)),
            None => (s, None),
        };
        Ok(match (name, mode) {
            ("create", None) => Operation::Create,
            ("os-start", None) => Operation::Start,
            ("os-stop", Some(m)) => Operation::Stop(m),
            ("reboot", Some(m)) => Operation::Reboot(m),
            ("os-hibernate", None) => Operation::Hibernate,
            ("rebuild", None) => Operation::Rebuild,
            ("logoff", None) => Operation::Logoff,
            ("delete", None) => Operation::Delete,
            _ => return Err(s.to_owned()),
        })
    }
}

#[cfg(test)]
#[path = "machine_test.rs"]
mod tests;
