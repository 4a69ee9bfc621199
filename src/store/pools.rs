//! Pool rows.

use crate::domain::desktop::{Disk, Tag};
use crate::domain::ids::{PoolId, ProjectId};
use crate::domain::pool::AutoscalePolicy;

/// A stored desktop pool with its desktop counts.
#[derive(Debug, Clone)]
pub struct PoolRow {
    /// Pool id.
    pub id: PoolId,
    /// Project.
    pub project_id: ProjectId,
    /// Unique name in the project.
    pub name: String,
    /// DYNAMIC or STATIC.
    pub pool_type: String,
    /// Description.
    pub description: String,
    /// Product of its desktops.
    pub product_id: String,
    /// Image of its desktops.
    pub image_id: String,
    /// Image type.
    pub image_type: String,
    /// Zone.
    pub availability_zone: String,
    /// System disk (JSON Volume).
    pub root_volume: Disk,
    /// Data disks (JSON array).
    pub data_volumes: Vec<Disk>,
    /// Tags (JSON array).
    pub tags: Vec<Tag>,
    /// Minutes a DYNAMIC pool keeps a disconnected user's binding.
    pub disconnected_retention_period: i64,
    /// Autoscale on.
    pub enable_autoscale: bool,
    /// AutoscalePolicy (JSON), if set.
    pub autoscale_policy: Option<AutoscalePolicy>,
    /// Creation.
    pub created_ms: i64,
    /// Desktops in the pool (filled by reads).
    pub desktop_count: i64,
    /// Desktops bound to a user (filled by reads).
    pub desktop_used: i64,
}

/// An authorized user or group of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMember {
    /// USER or USER_GROUP.
    pub object_type: String,
    /// Id.
    pub object_id: String,
    /// Name.
    pub object_name: String,
    /// Privilege group (sudo, default, administrators, users).
    pub user_group: Option<String>,
    /// When authorized.
    pub created_ms: i64,
}

/// Filters of `GET /desktop-pools`.
#[derive(Debug, Clone, Default)]
pub struct PoolFilter {
    /// Name substring.
    pub name: Option<String>,
    /// DYNAMIC / STATIC.
    pub pool_type: Option<String>,
    /// Paging.
    pub offset: i64,
    /// Paging.
    pub limit: i64,
}

/// Changes of `PUT /desktop-pools/{id}`; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct PoolUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags (JSON).
    pub tags: Option<Vec<Tag>>,
    /// New retention.
    pub disconnected_retention_period: Option<i64>,
    /// Autoscale on/off.
    pub enable_autoscale: Option<bool>,
    /// New policy (JSON).
    pub autoscale_policy: Option<AutoscalePolicy>,
}

/// What `delete_pool` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolDeletion {
    /// No such pool in the project.
    NotFound,
    /// The pool still has this many desktops.
    NotEmpty(i64),
    /// Gone.
    Deleted,
}

/// What a pool action queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolActionOutcome {
    /// Desktops in the pool.
    pub desktops: usize,
    /// Sub-jobs queued.
    pub queued: usize,
    /// Desktops the operation did not apply to, recorded as FAILED sub-jobs.
    pub not_applicable: usize,
}

/// A pool that autoscale should grow.
#[derive(Debug, Clone)]
pub struct AutoscaleNeed {
    /// The pool.
    pub pool: PoolRow,
    /// Desktops to create now.
    pub create: usize,
}
