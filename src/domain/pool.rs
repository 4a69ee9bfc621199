//! Desktop pools: their autoscale policy (the SDK's AutoscalePolicy).

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
