//! Every error code deskplane emits, with its HTTP status and default message.
//! This is the only place a status is chosen; `docs/error-codes.md` is rendered
//! from it (a test fails when the doc is stale). Codes seen in Huawei's service
//! are reused where the meaning matches (CONTRACT.md); the rest are ours.

macro_rules! codes {
    ($($variant:ident => ($status:literal, $wire:literal, $msg:literal)),+ $(,)?) => {
        /// An error code of the wire contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $(#[doc = $msg] $variant),+ }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The HTTP status it is sent with.
            #[must_use]
            pub const fn http_status(self) -> u16 {
                match self { $(Code::$variant => $status),+ }
            }

            /// The `error_code` text.
            #[must_use]
            pub const fn wire(self) -> &'static str {
                match self { $(Code::$variant => $wire),+ }
            }

            /// The default `error_msg`.
            #[must_use]
            pub const fn default_message(self) -> &'static str {
                match self { $(Code::$variant => $msg),+ }
            }
        }
    };
}

codes! {
    EmptyBody => (400, "WKS.0001", "The request body is empty."),
    InvalidParameter => (400, "WKS.00211102", "A request parameter is invalid."),
    MalformedJson => (400, "WKS.00211103", "The request body is not valid JSON."),
    TooManyIds => (400, "WKS.00211104", "Too many ids in one request."),
    ImageNotFound => (400, "WKS.00211105", "The image does not exist in the catalog."),
    ProductNotFound => (400, "WKS.00211106", "The product does not exist in the catalog."),
    ZoneNotFound => (400, "WKS.00211107", "The availability zone does not exist."),
    NoDesktopApplicable => (400, "WKS.00211108", "The operation applies to none of the desktops."),
    BadPathProject => (400, "WKS.00211109", "The project id in the path is malformed."),
    RequestTooLarge => (413, "APIGW.0201", "Request entity too large."),
    AuthFailed => (401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail."),
    TokenInvalid => (401, "WKS.00211302", "User authorization error."),
    ForbiddenProject => (403, "WKS.00081102", "No permission for this resource."),
    DesktopNotFound => (404, "WKS.00010404", "The desktop does not exist."),
    JobNotFound => (404, "WKS.00010405", "The job does not exist."),
    UserNotFound => (404, "WKS.00010406", "The user does not exist."),
    PoolNotFound => (404, "WKS.00010407", "The desktop pool does not exist."),
    RouteNotFound => (404, "WKS.00000404", "No such API."),
    MethodNotAllowed => (405, "WKS.00000405", "Method not allowed."),
    UnsupportedMediaType => (415, "WKS.00000415", "Unsupported media type: send application/json."),
    Conflict => (409, "WKS.00010032", "Operation conflict."),
    DesktopBusy => (409, "WKS.00010033", "The desktop is under another operation."),
    DesktopInError => (409, "WKS.00010034", "The desktop is in ERROR state."),
    UserExists => (409, "WKS.00010035", "A user with this name already exists."),
    UserHasDesktops => (409, "WKS.00010036", "The user still has desktops."),
    JobNotFinished => (409, "WKS.00010037", "The job has not finished."),
    PoolNotEmpty => (409, "WKS.00010038", "The desktop pool still has desktops."),
    PoolExists => (409, "WKS.00010039", "A desktop pool with this name already exists."),
    ComputerNameExists => (409, "WKS.00010040", "A desktop with this computer_name already exists."),
    ProjectNotFound => (404, "WKS.00010408", "The project does not exist."),
    PoolHasNoDesktops => (409, "WKS.00010041", "The desktop pool has no desktops."),
    NoFreeDesktop => (409, "WKS.00010042", "No free desktop in the pool."),
    RateLimited => (429, "WKS.00000429", "Too many requests."),
    Internal => (500, "WKS.00211401", "Operation failed, try again later."),
    Unavailable => (503, "WKS.00050902", "Service unavailable."),
    StorageFull => (503, "WKS.00050903", "The database's storage is full: nothing of the request was written."),
    StorageReadOnly => (503, "WKS.00050904", "The database is read-only: nothing of the request was written."),
    StorageIo => (503, "WKS.00050905", "The database reported an I/O error: nothing of the request was written."),
    StorageUnreachable => (503, "WKS.00050906", "The database cannot be reached: the request was not accepted."),
    StorageTimeout => (503, "WKS.00050907", "The database did not answer in time: the request was not accepted."),
    StorageLocked => (503, "WKS.00050908", "Another process holds the database's write lock: nothing of the request was written."),
    // Sub-job failures: `error_code` of a FAILED sub-job, never an HTTP answer.
    OperationTimeout => (500, "WKS.00211402", "The guest did not respond before the timeout."),
    DriverFailed => (500, "WKS.00211403", "The compute driver failed the operation."),
    Interrupted => (500, "WKS.00211404", "The operation was interrupted and could not be resumed."),
    Cancelled => (500, "WKS.00211405", "The operation was cancelled by a forced delete."),
    NoGuestAgent => (500, "WKS.00211406", "No guest agent answered."),
}

impl Code {
    /// The table as Markdown, for `docs/error-codes.md`.
    #[must_use]
    pub fn markdown_table() -> String {
        use std::fmt::Write as _;
        let mut out = String::from(
            "# Error codes\n\nGenerated from `src/domain/error_code.rs` (a test keeps it current).\n\
             Codes answered over HTTP carry this status; the `WKS.002114xx` codes at 500\n\
             appear only as the `error_code` of FAILED sub-jobs.\n\n\
             | error_code | HTTP | meaning |\n| --- | --- | --- |\n",
        );
        for c in Self::ALL {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                c.wire(),
                c.http_status(),
                c.default_message()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn wire_codes_are_unique() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.wire()), "duplicate {}", c.wire());
        }
    }

    #[test]
    fn docs_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/error-codes.md");
        let want = Code::markdown_table();
        let have = std::fs::read_to_string(path).unwrap_or_default();
        if have != want {
            if std::env::var_os("DESKPLANE_BLESS").is_some() {
                std::fs::write(path, &want).unwrap();
            } else {
                panic!("docs/error-codes.md is stale: rerun with DESKPLANE_BLESS=1");
            }
        }
    }
}
