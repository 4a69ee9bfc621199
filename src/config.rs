//! Configuration: one documented struct, from a TOML file overlaid with
//! `DESKPLANE_*` environment variables. Nesting in variable names uses a double
//! underscore: `DESKPLANE_SIM__STOP_MS=0` sets `[sim] stop_ms`, and
//! `DESKPLANE_DATABASE_URL` sets `database_url`. Values are read as TOML scalars
//! (numbers, booleans) when they parse as such, else as strings.

use crate::catalog::Catalog;
use crate::drivers::sim::SimConfig;
use crate::jobs::JobsConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which compute driver runs desktops.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// In-process simulator (default).
    #[default]
    Sim,
    /// KVM through libvirt (build with `--features libvirt`).
    Libvirt,
}

/// Request limits (`[limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `desktop_ids` per batch request (Huawei: 100).
    pub max_batch_ids: usize,
    /// Desktops per create request (Huawei: 100).
    pub max_create: usize,
    /// Request body size in bytes.
    pub max_body_bytes: usize,
    /// `limit` of list requests at most.
    pub max_page: i64,
    /// Desktops per pool create/expand request (Huawei: 100).
    pub max_pool_size: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_batch_ids: 100,
            max_create: 100,
            max_body_bytes: 1 << 20,
            max_page: 1000,
            max_pool_size: 100,
        }
    }
}

/// Authentication settings (`[auth]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted `X-Sdk-Date` distance from the server clock, in seconds.
    pub max_skew_secs: u64,
    /// Lifetime of tokens from `POST /v3/auth/tokens`, in seconds.
    pub token_ttl_secs: u64,
}

/// Per-credential request rate limits (`[rate_limit]`), off by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether requests are limited.
    pub enabled: bool,
    /// Sustained requests per second per credential.
    pub requests_per_second: f64,
    /// Requests allowed in a burst.
    pub burst: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            requests_per_second: 50.0,
            burst: 100.0,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_skew_secs: 15 * 60,
            token_ttl_secs: 24 * 3600,
        }
    }
}

/// What a fresh database is seeded with (`[bootstrap]`); random when unset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Project id of the default project.
    pub project_id: Option<String>,
    /// Its name.
    pub project_name: Option<String>,
    /// Access key of the first credential.
    pub access_key: Option<String>,
    /// Its secret key.
    pub secret_key: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// `sqlite://path.db` (default) or `postgres://...`.
    pub database_url: String,
    /// Connections of the pool: SQLite's read pool, PostgreSQL's whole pool
    /// (per node: nodes × this must stay under the server's `max_connections`).
    pub db_connections: u32,
    /// PostgreSQL: statements running longer are cancelled (0 = no limit), so a
    /// stuck lock or query cannot hold a worker or a request forever.
    pub db_statement_timeout_ms: u64,
    /// How long a request waits for a database connection (SQLite: also for a
    /// write lock held by another process) before it is refused with a 503.
    pub db_wait_ms: u64,
    /// Where the server key lives (when `server_key` is unset).
    pub data_dir: PathBuf,
    /// Base64 AES-256 key sealing secret keys at rest; else `<data_dir>/server.key`.
    pub server_key: Option<String>,
    /// Compute driver.
    pub driver: DriverKind,
    /// Node id (the sub-jobs' `host`); default: hostname-pid.
    pub node_id: Option<String>,
    /// Simulator.
    pub sim: SimConfig,
    /// Job engine.
    pub jobs: JobsConfig,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// First-start seed.
    pub bootstrap: BootstrapConfig,
    /// Products, images, zones.
    pub catalog: Catalog,
    /// libvirt driver settings.
    #[cfg(feature = "libvirt")]
    pub libvirt: crate::drivers::libvirt::LibvirtConfig,
    /// Log filter (`RUST_LOG` syntax).
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://deskplane.db".into(),
            db_connections: 8,
            db_statement_timeout_ms: 30_000,
            db_wait_ms: 5_000,
            data_dir: PathBuf::from("."),
            server_key: None,
            driver: DriverKind::Sim,
            node_id: None,
            sim: SimConfig::default(),
            jobs: JobsConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            bootstrap: BootstrapConfig::default(),
            catalog: Catalog::default(),
            #[cfg(feature = "libvirt")]
            libvirt: crate::drivers::libvirt::LibvirtConfig::default(),
            log: "info".into(),
        }
    }
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or an environment variable does not fit the schema.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load `file` (if given) and overlay `DESKPLANE_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut root = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("DESKPLANE_") else {
                continue;
            };
            if rest == "CONFIG" || rest.is_empty() {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut root, &path, scalar(&value))
                .map_err(|e| ConfigError::Invalid(format!("{key}: {e}")))?;
        }
        Config::deserialize(toml::Value::Table(root))
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The node id: configured, or `hostname-pid`.
    #[must_use]
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "node".into());
            format!("{}-{}", host.trim(), std::process::id())
        })
    }
}

fn scalar(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>() {
        return toml::Value::Float(f);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("{first} is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_readme() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://deskplane.db");
        assert_eq!(c.driver, DriverKind::Sim);
        assert_eq!(c.limits.max_batch_ids, 100);
        assert_eq!((c.db_connections, c.db_statement_timeout_ms), (8, 30_000));
    }

    #[test]
    fn env_overrides_file_and_nests_with_double_underscore() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n[sim]\nstop_ms = 5\n").unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("DESKPLANE_SIM__STOP_MS", "0"),
                ("DESKPLANE_DATABASE_URL", "sqlite://x.db"),
                ("DESKPLANE_DB_STATEMENT_TIMEOUT_MS", "2500"),
                ("OTHER", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.sim.stop_ms, 0);
        assert_eq!(c.database_url, "sqlite://x.db");
        assert_eq!(c.db_statement_timeout_ms, 2_500);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Config::load(None, env(&[("DESKPLANE_SIM__NOPE", "1")])).is_err());
        assert!(Config::load(None, env(&[("DESKPLANE_LISTEN", "not-an-address")])).is_err());
    }
}
