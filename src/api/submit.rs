//! What every job-creating handler shares: the job row, id-list validation and
//! turning refusals into `failed_operation_list` entries or one clear error.

use super::error::ApiError;
use super::state::{AppState, Caller};
use crate::domain::admission::Scope;
use crate::domain::error_code::Code;
use crate::domain::ids::DesktopId;
use crate::domain::job::JobType;
use crate::domain::time::now_ms;
use crate::jobs::JobParams;
use crate::store::{BatchRefusal, NewJob, Refused};
use crate::wire::batch::VmOperateResult;
use std::collections::HashSet;

/// A job row for `caller`.
pub fn new_job(
    caller: &Caller,
    job_type: JobType,
    params: &JobParams,
    pool_id: Option<crate::domain::ids::PoolId>,
) -> NewJob {
    NewJob {
        id: crate::domain::ids::JobId::new(),
        project_id: caller.project_id.clone(),
        job_type,
        params: params.clone(),
        requested_by: caller.principal.clone(),
        pool_id,
        run_after_ms: 0,
        now_ms: now_ms(),
    }
}

/// `desktop_ids`: present, non-empty, within the limit, without duplicates.
pub fn desktop_ids(st: &AppState, ids: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let ids = ids.ok_or_else(|| ApiError::invalid("Missing parameter desktop_ids."))?;
    if ids.is_empty() {
        return Err(ApiError::invalid("desktop_ids must not be empty."));
    }
    let max = st.limits.max_batch_ids;
    if ids.len() > max {
        return Err(ApiError::new(
            Code::TooManyIds,
            format!(
                "desktop_ids has {} ids; at most {max} are allowed per request.",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    for id in &ids {
        if id.trim().is_empty() {
            return Err(ApiError::invalid("desktop_ids contains an empty id."));
        }
        if !seen.insert(id.as_str()) {
            return Err(ApiError::invalid(format!(
                "desktop_ids contains {id} more than once."
            )));
        }
    }
    Ok(ids)
}

/// Submits `op` on the requested desktops. An id that cannot be a desktop's is
/// refused as not found, as an unknown one is (a whole request is then only
/// checked, so every refusal is still reported); refusals keep the request's order.
pub async fn batch(
    st: &AppState,
    job: &NewJob,
    op: crate::domain::machine::Operation,
    force: bool,
    scope: Scope,
    requested: &[String],
) -> Result<crate::store::BatchOutcome, ApiError> {
    let parsed: Vec<Option<DesktopId>> = requested.iter().map(|id| id.parse().ok()).collect();
    let valid: Vec<DesktopId> = parsed.iter().flatten().copied().collect();
    let scope = if scope == Scope::Whole && valid.len() < requested.len() {
        Scope::Check
    } else {
        scope
    };
    let mut out = st.store.submit_batch(job, op, force, scope, &valid).await?;
    let mut by_id: std::collections::HashMap<String, Refused> = out
        .refused
        .drain(..)
        .map(|r| (r.desktop_id.clone(), r))
        .collect();
    for (raw, id) in requested.iter().zip(&parsed) {
        let refusal = match id {
            None => Some(Refused {
                desktop_id: raw.clone(),
                desktop_name: None,
                status: None,
                reason: BatchRefusal::NotFound,
            }),
            Some(id) => by_id.remove(&id.to_string()),
        };
        out.refused.extend(refusal);
    }
    Ok(out)
}

/// The code and message of one refusal.
#[must_use]
pub fn refusal(r: &Refused, op: &str) -> (Code, String) {
    let id = &r.desktop_id;
    match &r.reason {
        BatchRefusal::NotFound => (
            Code::DesktopNotFound,
            format!("Desktop {id} does not exist."),
        ),
        BatchRefusal::OtherProject => (
            Code::ForbiddenProject,
            format!("Desktop {id} belongs to another project."),
        ),
        BatchRefusal::State(r) => (r.code(), r.message(id, op)),
    }
}

/// A `failed_operation_list` entry.
#[must_use]
pub fn failed_entry(r: &Refused, op: &str) -> VmOperateResult {
    let (code, msg) = refusal(r, op);
    VmOperateResult {
        desktop_id: r.desktop_id.clone(),
        desktop_name: r.desktop_name.clone(),
        error_code: code.wire().to_owned(),
        error_msg: msg,
    }
}

/// The one error for a request refused as a whole: 404 when no desktop exists,
/// 403 when none is the caller's, else the first refusal's code (409s); every
/// desktop's reason is in `error_detail` as JSON.
#[must_use]
pub fn refused_whole(refused: &[Refused], op: &str) -> ApiError {
    let entries: Vec<VmOperateResult> = refused.iter().map(|r| failed_entry(r, op)).collect();
    let all = |want: &BatchRefusal| refused.iter().all(|r| &r.reason == want);
    let code = if all(&BatchRefusal::NotFound) {
        Code::DesktopNotFound
    } else if refused.iter().all(|r| {
        matches!(
            r.reason,
            BatchRefusal::NotFound | BatchRefusal::OtherProject
        )
    }) {
        Code::ForbiddenProject
    } else {
        refused
            .iter()
            .find(|r| matches!(r.reason, BatchRefusal::State(_)))
            .map_or(Code::Conflict, |r| refusal(r, op).0)
    };
    let first = entries
        .first()
        .map(|e| e.error_msg.clone())
        .unwrap_or_default();
    let message = if entries.len() == 1 {
        first
    } else {
        format!(
            "{op} refused for {} desktops; first: {first}",
            entries.len()
        )
    };
    let detail = serde_json::to_string(&entries).unwrap_or_default();
    ApiError::new(code, message).with_detail(detail)
}
