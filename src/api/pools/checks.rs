//! Validation of pool requests: names, sizes, retention, autoscale policy, members.

use super::super::create_plan;
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;
use crate::domain::pool::AutoscalePolicy as Policy;
use crate::domain::time::now_ms;
use crate::store::PoolMember;
use crate::wire::params::{AUTOSCALE_TYPES, OBJECT_TYPES};
use crate::wire::pools::{AuthorizedObjects, AutoscalePolicy};

pub(super) fn check_name(name: &str) -> ApiResult<()> {
    let ok = (1..=60).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid pool name {name:?}: use 1-60 letters, digits, - or _."
        )))
    }
}

pub(super) fn check_policy(p: AutoscalePolicy) -> ApiResult<Policy> {
    for (k, v) in [
        ("min_idle", p.min_idle),
        ("max_auto_created", p.max_auto_created),
    ] {
        if v.is_some_and(|v| !(0..=10_000).contains(&v)) {
            return Err(ApiError::invalid(format!(
                "autoscale_policy.{k} must be 0 to 10000."
            )));
        }
    }
    if let Some(t) = p
        .autoscale_type
        .as_deref()
        .filter(|t| !AUTOSCALE_TYPES.contains(t))
    {
        return Err(ApiError::invalid(format!(
            "Invalid autoscale_policy.autoscale_type {t:?}; allowed: ACCESS_CREATED, AUTO_CREATED."
        )));
    }
    Ok(p.into())
}

pub(super) fn retention(v: Option<i64>) -> ApiResult<Option<i64>> {
    match v {
        Some(m) if !(0..=43_200).contains(&m) => Err(ApiError::invalid(
            "disconnected_retention_period must be 0 to 43200 minutes.",
        )),
        other => Ok(other),
    }
}

pub(super) fn members_of(objects: Vec<AuthorizedObjects>) -> ApiResult<Vec<PoolMember>> {
    let now = now_ms();
    objects
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let object_type = o.object_type.unwrap_or_else(|| "USER".into());
            if !OBJECT_TYPES.contains(&object_type.as_str()) {
                return Err(ApiError::invalid(format!(
                    "objects[{i}].object_type {object_type:?}; allowed: USER, USER_GROUP."
                )));
            }
            let name = o.object_name.ok_or_else(|| {
                ApiError::invalid(format!("Missing parameter objects[{i}].object_name."))
            })?;
            create_plan::check_user_name(&name)
                .map_err(|e| ApiError::invalid(format!("objects[{i}]: {}", e.message)))?;
            Ok(PoolMember {
                object_type,
                object_id: o.object_id.unwrap_or_else(|| name.clone()),
                object_name: name,
                user_group: o.user_group,
                created_ms: now,
            })
        })
        .collect()
}

pub(super) fn size(st: &AppState, v: Option<i64>) -> ApiResult<usize> {
    let max = st.limits.max_pool_size;
    let n = v.ok_or_else(|| ApiError::invalid("Missing parameter size."))?;
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::invalid(format!("size must be 1 to {max}, not {n}.")))
}
