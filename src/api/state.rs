//! Shared state of the HTTP handlers.

use crate::auth::Sealer;
use crate::catalog::Catalog;
use crate::config::{AuthConfig, LimitsConfig};
use crate::drivers::sim::SimDriver;
use crate::jobs::Engine;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Everything a handler may need.
#[derive(Clone)]
pub struct AppState {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Whether the store can write now (for `/ready`).
    pub health: Arc<crate::store::health::Health>,
    /// Job engine (to wake it and cancel work).
    pub engine: Engine,
    /// Products, images, zones.
    pub catalog: Arc<Catalog>,
    /// Seals secret keys at rest.
    pub sealer: Arc<Sealer>,
    /// Request limits.
    pub limits: Arc<LimitsConfig>,
    /// Authentication settings.
    pub auth: Arc<AuthConfig>,
    /// The simulator, when it is the driver (enables `/sim/v1`).
    pub sim: Option<Arc<SimDriver>>,
    /// Per-credential rate limits.
    pub rate: Arc<super::ratelimit::RateLimiter>,
    /// Token lifetime in seconds.
    pub token_ttl_secs: u64,
    /// Opened secret keys by access key, briefly cached so a signature check
    /// costs no database read; entries expire so CLI deletions take effect.
    pub credentials: Arc<RwLock<HashMap<String, CachedCredential>>>,
}

/// A credential ready for signature checks.
#[derive(Clone)]
pub struct CachedCredential {
    /// Its project.
    pub project_id: crate::domain::ids::ProjectId,
    /// The secret key in clear.
    pub secret: Vec<u8>,
    /// When it was loaded.
    pub loaded: Instant,
}

/// Who is calling: set by the authentication middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The project of the path, which the credential may act on.
    pub project_id: crate::domain::ids::ProjectId,
    /// Access key (or token user) — the "who asked" of action history.
    pub principal: String,
}

/// The request id, set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);
