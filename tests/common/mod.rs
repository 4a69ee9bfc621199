//! End-to-end harness: spawns the real `deskplane` binary on a free loopback port with a
//! fresh SQLite database in a temporary directory and fixed bootstrap credentials, and
//! drives it over HTTP with `deskplane::client::Client`, which signs like the SDK.
//!
//! The server's stdout and stderr (its tracing log and the `listening on` line) go to a
//! log file in that directory. The process is killed when the [`Server`] is dropped; if
//! the test is panicking, the directory is kept and its path printed, so the log of a
//! failed run can be read. Every wait polls with a bound and then fails with the last
//! observed state and the log directory.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

mod api;
pub mod db;
pub mod desktops;
pub mod pg;
mod server;

pub use api::{Api, Reply};
pub use server::Server;

use std::time::{Duration, Instant};

/// Project id seeded into every fresh database.
pub const PROJECT: &str = "0bec5db98280d2d02fd6c00c2de791ce";
/// Access key seeded with it.
pub const AK: &str = "HPUAXKZ7WQ3NPRVLD2EM";
/// Its secret key.
pub const SK: &str = "q8Zr1mTnW4yXc0VbK6sJdLfH2gPeA9uRiO3tY7wE";

/// The Windows gold image of the default catalog.
pub const WINDOWS_IMAGE: &str = "63aa8670-27ad-4747-8c44-6d8919e785a7";
/// The Linux gold image of the default catalog.
pub const LINUX_IMAGE: &str = "a9f8cd6e-4e5b-4c8e-9d0c-6f3f1a7b2c11";
/// The private image of the default catalog.
pub const PRIVATE_IMAGE: &str = "d7c0a5b4-7b60-4a4e-8a43-1f0b6e2f9c3d";
/// The smallest product of the default catalog.
pub const PRODUCT: &str = "workspace.x86.general.xlarge2";

/// The simulator operations whose duration can be configured.
pub const SIM_OPS: &[&str] = &[
    "CREATE",
    "START",
    "STOP",
    "REBOOT",
    "HIBERNATE",
    "REBUILD",
    "LOGOFF",
    "DELETE",
];

/// How the server is configured: `DESKPLANE_*` variables on top of test defaults
/// (every simulator duration 0, so tests run at the engine's speed unless they ask).
#[derive(Debug, Clone)]
pub struct Options {
    env: Vec<(String, String)>,
    /// A command the binary runs under (`unshare --pid --fork ...`), if any.
    wrapper: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        let mut o = Self {
            env: Vec::new(),
            wrapper: Vec::new(),
        };
        for op in SIM_OPS {
            o = o.set(&format!("DESKPLANE_SIM__{op}_MS"), "0");
        }
        o.set("DESKPLANE_LOG", "info")
    }
}

impl Options {
    /// Sets (or replaces) one variable.
    #[must_use]
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs the binary under `command` (its arguments first, the binary's after).
    #[must_use]
    pub fn wrapped_in(mut self, command: &[&str]) -> Self {
        self.wrapper = command.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets the simulated duration of one operation (`CREATE`, `STOP` ...).
    #[must_use]
    pub fn sim_ms(self, op: &str, ms: u64) -> Self {
        self.set(&format!("DESKPLANE_SIM__{op}_MS"), &ms.to_string())
    }

    /// Sets every simulated operation duration.
    #[must_use]
    pub fn all_sim_ms(mut self, ms: u64) -> Self {
        for op in SIM_OPS {
            self = self.sim_ms(op, ms);
        }
        self
    }
}

/// Polls `probe` every 20 ms until it returns `Ok`, for at most `bound`; then fails with
/// the last `Err` (the last observed state).
pub async fn poll<T>(
    what: &str,
    bound: Duration,
    logs: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    started.elapsed() <= bound,
                    "gave up waiting {bound:?} for {what}; last observed: {last}; server logs in {logs}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Query pairs from string slices.
#[must_use]
pub fn q(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}
