//! Identifier newtypes. Desktop, job and sub-job ids are UUIDs (as Huawei's are);
//! project ids are 32 lowercase hex characters, like an IAM project id.

use std::fmt;
use std::str::FromStr;

/// A malformed identifier in a path or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {value:?}")]
pub struct BadId {
    /// What kind of id was expected.
    pub kind: &'static str,
    /// The offending input (truncated).
    pub value: String,
}

macro_rules! uuid_id {
    ($name:ident, $kind:literal) => {
        #[doc = concat!("A ", $kind, " (a UUID in its hyphenated form).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh id: a time-ordered UUID (version 7), so that rows made
            /// together land together at the end of every index on their id
            /// instead of on random pages.
            #[must_use]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            /// Only the form we issue (lowercase, hyphenated): ids are matched
            /// as sent, so another spelling of an id names no resource.
            fn from_str(s: &str) -> Result<Self, BadId> {
                let mut buf = uuid::Uuid::encode_buffer();
                uuid::Uuid::try_parse(s)
                    .ok()
                    .filter(|u| u.hyphenated().encode_lower(&mut buf) == s)
                    .map(Self)
                    .ok_or_else(|| BadId {
                        kind: $kind,
                        value: s.chars().take(64).collect(),
                    })
            }
        }
    };
}

uuid_id!(DesktopId, "desktop id");
uuid_id!(JobId, "job id");
uuid_id!(SubJobId, "sub-job id");
uuid_id!(UserId, "user id");
uuid_id!(PoolId, "pool id");
uuid_id!(ClaimId, "claim id");

/// A project id: 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

impl ProjectId {
    /// A fresh random project id.
    #[must_use]
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ProjectId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ProjectId {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, BadId> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadId {
                kind: "project id",
                value: s.chars().take(64).collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip_and_reject_garbage() {
        let id = DesktopId::new();
        assert_eq!(id.to_string().parse::<DesktopId>().unwrap(), id);
        let err = "not-a-uuid".parse::<DesktopId>().unwrap_err();
        assert_eq!(err.kind, "desktop id");
        let other_spellings = [id.0.simple().to_string(), id.to_string().to_uppercase()];
        for s in other_spellings {
            assert!(
                s.parse::<DesktopId>().is_err(),
                "{s} is not how we spell ids"
            );
        }
    }

    #[test]
    fn project_ids_accept_iam_style_and_reject_braces() {
        assert!(
            "0bec5db98280d2d02fd6c00c2de791ce"
                .parse::<ProjectId>()
                .is_ok()
        );
        assert!("{project_id}".parse::<ProjectId>().is_err());
        assert!("".parse::<ProjectId>().is_err());
    }
}
