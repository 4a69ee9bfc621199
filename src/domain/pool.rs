//! Desktop pools: their records and autoscale policy (the SDK's AutoscalePolicy).

use super::desktop::{Disk, Tag};
use super::ids::{PoolId, ProjectId};
use serde::{Deserialize, Serialize};

/// How a pool grows by itself, stored as this JSON. Only `min_idle` and
/// `max_auto_created` are acted on; the rest is kept and shown as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalePolicy {
    /// ACCESS_CREATED or AUTO_CREATED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale_type: Option<String>,
    /// Most desktops autoscale may create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auto_created: Option<i64>,
    /// Free desktops to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_idle: Option<i64>,
    /// Kept, not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub once_auto_created: Option<i64>,
    /// Kept, not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retention: Option<i64>,
    /// Kept, not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_retention_duration: Option<i64>,
}

impl AutoscalePolicy {
    /// How many desktops to create now for a pool with `free` desktops without a
    /// user (those being built included, so one shortfall is filled once), of
    /// which autoscale already made `made`: up to `min_idle` free, never more
    /// than `max_auto_created` made in all.
    #[must_use]
    pub fn shortfall(&self, free: i64, made: i64) -> i64 {
        let min_idle = self.min_idle.unwrap_or(0).max(0);
        let max_made = self.max_auto_created.unwrap_or(0).max(0);
        (min_idle - free).min(max_made - made).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::AutoscalePolicy;

    #[test]
    fn autoscale_fills_the_idle_shortfall_within_its_budget() {
        let p = AutoscalePolicy {
            min_idle: Some(3),
            max_auto_created: Some(5),
            ..AutoscalePolicy::default()
        };
        for (free, made, want) in [
            (0, 0, 3),
            (2, 0, 1),
            (3, 0, 0),
            (0, 4, 1),
            (0, 5, 0),
            (5, 9, 0),
        ] {
            assert_eq!(p.shortfall(free, made), want, "free {free}, made {made}");
        }
        assert_eq!(
            AutoscalePolicy::default().shortfall(0, 0),
            0,
            "no policy, nothing"
        );
    }
}

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
