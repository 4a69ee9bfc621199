//! Why the database cannot take a write right now. A request that meets one is
//! refused with a 503 naming it, and nothing of it is written; `/ready` says so
//! until writes succeed again.

use super::error_code::Code;

/// A storage failure that is the environment's, not the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageFault {
    /// No space left for the database or its journal.
    DiskFull,
    /// The database file or its filesystem is read-only.
    ReadOnly,
    /// The operating system failed a read or write.
    Io,
    /// The database server cannot be reached or dropped the connection.
    Unreachable,
    /// The database did not answer within the configured time.
    Timeout,
    /// Another process holds the database's write lock.
    Locked,
}

impl StorageFault {
    /// The error code a request refused for this fault carries.
    #[must_use]
    pub const fn code(self) -> Code {
        match self {
            StorageFault::DiskFull => Code::StorageFull,
            StorageFault::ReadOnly => Code::StorageReadOnly,
            StorageFault::Io => Code::StorageIo,
            StorageFault::Unreachable => Code::StorageUnreachable,
            StorageFault::Timeout => Code::StorageTimeout,
            StorageFault::Locked => Code::StorageLocked,
        }
    }

    /// A short name for logs and `/ready`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            StorageFault::DiskFull => "disk-full",
            StorageFault::ReadOnly => "read-only",
            StorageFault::Io => "io-error",
            StorageFault::Unreachable => "unreachable",
            StorageFault::Timeout => "timeout",
            StorageFault::Locked => "locked",
        }
    }
}
