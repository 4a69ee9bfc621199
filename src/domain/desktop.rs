//! Desktop states as the SDK spells them (DesktopDetailInfo `status`,
//! `task_status`, `login_status`; huaweicloudsdkworkspace 3.1.219).

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every wire spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The wire spelling.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The allowed wire spellings, joined for error messages.
            #[must_use]
            pub fn allowed() -> String {
                Self::NAMES.join(", ")
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(other.to_owned()),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// The stable power/health state of a desktop. `BUILD` (ours, as Nova) is
    /// shown only while a desktop is being created.
    DesktopStatus {
        /// Running.
        Active => "ACTIVE",
        /// Powered off.
        Shutoff => "SHUTOFF",
        /// Memory saved to disk (managed save).
        Hibernated => "HIBERNATED",
        /// Broken: only stop, hard reboot, rebuild and delete apply.
        Error => "ERROR",
        /// Being created.
        Build => "BUILD",
    }
);

wire_enum!(
    /// The operation in progress (`task_status`); empty when idle.
    TaskStatus {
        /// Creating.
        Spawning => "spawning",
        /// Starting or resuming.
        PoweringOn => "powering-on",
        /// Stopping.
        PoweringOff => "powering-off",
        /// SOFT reboot.
        Rebooting => "rebooting",
        /// HARD reboot.
        RebootingHard => "rebooting_hard",
        /// Hibernating (not in the SDK's list; Nova-style name, ours).
        Hibernating => "hibernating",
        /// Recomposing the system disk.
        Rebuilding => "rebuilding",
        /// Logging users off (ours).
        LoggingOff => "logging-off",
        /// Being deleted.
        Deleting => "deleting",
    }
);

wire_enum!(
    /// Whether the desktop agent is registered and a user is in session.
    LoginStatus {
        /// Not registered: powered off, hibernated or not yet booted.
        Unregister => "UNREGISTER",
        /// Ready for a user.
        Registered => "REGISTERED",
        /// A user is in session.
        Connected => "CONNECTED",
        /// A user's session dropped but is kept.
        Disconnected => "DISCONNECTED",
    }
);

wire_enum!(
    /// SOFT asks the guest; HARD forces.
    PowerMode {
        /// ACPI shutdown / guest reboot.
        Soft => "SOFT",
        /// Power off / reset.
        Hard => "HARD",
    }
);

wire_enum!(
    /// `op_type` of `POST /desktops/action` (seed 000).
    DesktopActionType {
        /// Start or resume.
        Start => "os-start",
        /// Shut down.
        Stop => "os-stop",
        /// Restart.
        Reboot => "reboot",
        /// Hibernate.
        Hibernate => "os-hibernate",
    }
);

wire_enum!(
    /// `op_type` of `POST /desktop-pools/{pool_id}/action` (seed 001): no `os-` on hibernate.
    PoolActionType {
        /// Start or resume.
        Start => "os-start",
        /// Shut down.
        Stop => "os-stop",
        /// Restart.
        Reboot => "reboot",
        /// Hibernate.
        Hibernate => "hibernate",
    }
);

wire_enum!(
    /// Desktop kinds of the SDK's DesktopDetailInfo.
    DesktopType {
        /// One user's desktop.
        Dedicated => "DEDICATED",
        /// A desktop of a pool.
        Pooled => "POOLED",
    }
);

/// A disk of a desktop or pool template: the SDK's Volume (`type`, `size` in
/// GiB), stored as this JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// SAS, SSD, GPSSD ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in GiB.
    pub size: i64,
}

/// A tag of a desktop or pool (the SDK's Tag), stored as this JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl DesktopStatus {
    /// The login status a desktop has when it settles in this status without sessions.
    #[must_use]
    pub const fn idle_login(self) -> LoginStatus {
        match self {
            DesktopStatus::Active => LoginStatus::Registered,
            DesktopStatus::Shutoff
            | DesktopStatus::Hibernated
            | DesktopStatus::Error
            | DesktopStatus::Build => LoginStatus::Unregister,
        }
    }
}

impl LoginStatus {
    /// Whether somebody holds a session (live or dropped).
    #[must_use]
    pub const fn has_session(self) -> bool {
        matches!(self, LoginStatus::Connected | LoginStatus::Disconnected)
    }
}

impl From<PoolActionType> for DesktopActionType {
    fn from(op: PoolActionType) -> Self {
        match op {
            PoolActionType::Start => DesktopActionType::Start,
            PoolActionType::Stop => DesktopActionType::Stop,
            PoolActionType::Reboot => DesktopActionType::Reboot,
            PoolActionType::Hibernate => DesktopActionType::Hibernate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spellings_round_trip() {
        for s in DesktopStatus::ALL {
            assert_eq!(s.as_str().parse::<DesktopStatus>().unwrap(), *s);
        }
        for t in TaskStatus::ALL {
            assert_eq!(t.as_str().parse::<TaskStatus>().unwrap(), *t);
        }
        assert_eq!(
            "os-hibernate".parse::<DesktopActionType>(),
            Ok(DesktopActionType::Hibernate)
        );
        assert!("hibernate".parse::<DesktopActionType>().is_err());
        assert_eq!(
            "hibernate".parse::<PoolActionType>(),
            Ok(PoolActionType::Hibernate)
        );
        assert_eq!(PowerMode::allowed(), "SOFT, HARD");
    }
}
