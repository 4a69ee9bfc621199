//! Reading rows back into store types, once for both backends: the column
//! lists every query selects, and their decoders. A value an enum does not know
//! is a corrupt row, never a default.

use super::Row;
use crate::store::{
    ApiUserRow, Claimed, CredentialRow, DesktopRow, JobRow, NodeRow, NotificationRow, PoolMember,
    PoolRow, SimApplied, SimFault, StoreError, StoreResult, SubJobRow, TokenRow, UserRow,
};
use std::str::FromStr;

/// Columns of [`desktop`], prefixed with `d.`.
pub const DESKTOP_COLS: &str = "d.id, d.project_id, d.computer_name, d.status, d.task_status, \
    d.login_status, d.busy_sub_job, d.user_name, d.user_email, d.desktop_type, d.pool_id, \
    d.product_id, d.image_id, d.image_type, d.availability_zone, d.ip_address, d.host, \
    d.root_volume, d.data_volumes, d.tags, d.created_ms";

/// Columns of [`sub_job`], prefixed with `s.` (plus `j.requested_by`).
pub const SUB_JOB_COLS: &str = "s.id, s.job_id, s.project_id, s.job_type, s.desktop_id, \
    s.desktop_name, s.user_name, s.product_id, s.ip_address, s.operation, s.status, s.attempt, \
    s.progress, s.host, s.error_code, s.fail_reason, j.requested_by, s.created_ms, s.begin_ms, s.end_ms";

/// Columns of [`job`].
pub const JOB_COLS: &str = "id, project_id, job_type, status, params, requested_by, total, \
    succeeded, failed, error_code, fail_reason, created_ms, begin_ms, end_ms";

/// A pool with its desktop counts, for [`pool`].
pub const POOL_SELECT: &str = "SELECT p.id, p.project_id, p.name, p.pool_type, p.description, \
    p.product_id, p.image_id, p.image_type, p.availability_zone, p.root_volume, p.data_volumes, \
    p.tags, p.disconnected_retention_period, p.enable_autoscale, p.autoscale_policy, p.created_ms, \
    (SELECT COUNT(*) FROM desktops d WHERE d.pool_id = p.id), \
    (SELECT COUNT(*) FROM desktops d WHERE d.pool_id = p.id AND d.user_name IS NOT NULL) FROM pools p";

/// A user with the number of desktops assigned to them, for [`user`].
pub const USER_SELECT: &str = "SELECT u.id, u.project_id, u.user_name, u.user_email, \
    u.user_phone, u.description, u.created_ms, (SELECT COUNT(*) FROM desktops d \
    WHERE d.project_id = u.project_id AND d.user_name = u.user_name) FROM users u";

/// Columns of [`credential`].
pub const CREDENTIAL_COLS: &str = "access_key, project_id, secret_sealed, description, created_ms";

/// Columns of [`notification`].
pub const NOTIFICATION_COLS: &str = "id, project_id, desktop_id, desktop_name, user_name, \
    user_email, kind, message, job_id, created_ms";

/// Columns of [`member`].
pub const MEMBER_COLS: &str = "object_type, object_id, object_name, user_group, created_ms";

/// Columns of [`token`].
pub const TOKEN_COLS: &str = "token_hash, project_id, user_name, created_ms, expires_ms, revoked";

/// Columns of [`api_user`].
pub const API_USER_COLS: &str = "project_id, user_name, password_hash, created_ms";

/// Columns of [`node`].
pub const NODE_COLS: &str = "id, incarnation, address, started_ms, heartbeat_ms";

/// Columns of [`sim_fault`].
pub const SIM_FAULT_COLS: &str =
    "desktop_id, fail_remaining, fail_ops, error_code, error_msg, ignore_soft";

/// Columns of [`sim_applied`].
pub const SIM_APPLIED_COLS: &str = "op_id, desktop_id, operation, node, at_ms";

/// Parses a stored spelling; a value the type does not know is a corrupt row.
pub fn parse<T: FromStr>(what: &str, s: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {s:?}")))
}

fn parse_opt<T: FromStr>(what: &str, s: Option<String>) -> StoreResult<Option<T>> {
    s.map(|s| parse(what, &s)).transpose()
}

/// A typed value stored as text in column `i` (an id, an enum).
pub fn typed<T: FromStr>(r: &dyn Row, i: usize, what: &str) -> StoreResult<T> {
    parse(what, &r.text(i)?)
}

/// A nullable typed value stored as text in column `i`.
pub fn opt_typed<T: FromStr>(r: &dyn Row, i: usize, what: &str) -> StoreResult<Option<T>> {
    parse_opt(what, r.opt_text(i)?)
}

/// A value stored as JSON in column `i`; anything else is a corrupt row.
pub fn json<T: serde::de::DeserializeOwned>(r: &dyn Row, i: usize, what: &str) -> StoreResult<T> {
    let text = r.text(i)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
}

/// A nullable value stored as JSON in column `i`.
pub fn opt_json<T: serde::de::DeserializeOwned>(
    r: &dyn Row,
    i: usize,
    what: &str,
) -> StoreResult<Option<T>> {
    r.opt_text(i)?
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
        })
        .transpose()
}

/// Job parameters from column `i`.
fn params(r: &dyn Row, i: usize) -> StoreResult<crate::domain::job::JobParams> {
    crate::domain::job::JobParams::decode(&r.text(i)?).map_err(StoreError::Corrupt)
}

/// A desktop from `DESKTOP_COLS` starting at column `at`.
pub fn desktop_at(r: &dyn Row, at: usize) -> StoreResult<DesktopRow> {
    Ok(DesktopRow {
        id: typed(r, at, "desktop id")?,
        project_id: typed(r, at + 1, "project id")?,
        computer_name: r.text(at + 2)?,
        status: parse("status", &r.text(at + 3)?)?,
        task_status: parse_opt("task_status", r.opt_text(at + 4)?)?,
        login_status: parse("login_status", &r.text(at + 5)?)?,
        busy_sub_job: opt_typed(r, at + 6, "busy_sub_job")?,
        user_name: r.opt_text(at + 7)?,
        user_email: r.opt_text(at + 8)?,
        desktop_type: parse("desktop_type", &r.text(at + 9)?)?,
        pool_id: opt_typed(r, at + 10, "pool id")?,
        product_id: r.text(at + 11)?,
        image_id: r.text(at + 12)?,
        image_type: r.text(at + 13)?,
        availability_zone: r.text(at + 14)?,
        ip_address: r.text(at + 15)?,
        host: r.opt_text(at + 16)?,
        root_volume: json(r, at + 17, "root_volume")?,
        data_volumes: json(r, at + 18, "data_volumes")?,
        tags: json(r, at + 19, "tags")?,
        created_ms: r.int(at + 20)?,
    })
}

/// A desktop from `DESKTOP_COLS`.
pub fn desktop(r: &dyn Row) -> StoreResult<DesktopRow> {
    desktop_at(r, 0)
}

/// A sub-job from `SUB_JOB_COLS`.
pub fn sub_job(r: &dyn Row) -> StoreResult<SubJobRow> {
    Ok(SubJobRow {
        id: typed(r, 0, "sub-job id")?,
        job_id: typed(r, 1, "job id")?,
        project_id: typed(r, 2, "project id")?,
        job_type: parse("job_type", &r.text(3)?)?,
        desktop_id: typed(r, 4, "desktop id")?,
        desktop_name: r.text(5)?,
        user_name: r.opt_text(6)?,
        product_id: r.opt_text(7)?,
        ip_address: r.opt_text(8)?,
        operation: parse("operation", &r.text(9)?)?,
        status: parse("sub-job status", &r.text(10)?)?,
        attempt: r.int(11)?,
        progress: r.int(12)?,
        host: r.opt_text(13)?,
        error_code: r.opt_text(14)?,
        fail_reason: r.opt_text(15)?,
        requested_by: r.text(16)?,
        created_ms: r.int(17)?,
        begin_ms: r.opt_int(18)?,
        end_ms: r.opt_int(19)?,
    })
}

/// A job from `JOB_COLS`.
pub fn job(r: &dyn Row) -> StoreResult<JobRow> {
    Ok(JobRow {
        id: typed(r, 0, "job id")?,
        project_id: typed(r, 1, "project id")?,
        job_type: parse("job_type", &r.text(2)?)?,
        status: parse("job status", &r.text(3)?)?,
        params: params(r, 4)?,
        requested_by: r.text(5)?,
        total: r.int(6)?,
        succeeded: r.int(7)?,
        failed: r.int(8)?,
        error_code: r.opt_text(9)?,
        fail_reason: r.opt_text(10)?,
        created_ms: r.int(11)?,
        begin_ms: r.opt_int(12)?,
        end_ms: r.opt_int(13)?,
    })
}

/// A pool from `POOL_SELECT`.
pub fn pool(r: &dyn Row) -> StoreResult<PoolRow> {
    Ok(PoolRow {
        id: typed(r, 0, "pool id")?,
        project_id: typed(r, 1, "project id")?,
        name: r.text(2)?,
        pool_type: r.text(3)?,
        description: r.text(4)?,
        product_id: r.text(5)?,
        image_id: r.text(6)?,
        image_type: r.text(7)?,
        availability_zone: r.text(8)?,
        root_volume: json(r, 9, "root_volume")?,
        data_volumes: json(r, 10, "data_volumes")?,
        tags: json(r, 11, "tags")?,
        disconnected_retention_period: r.int(12)?,
        enable_autoscale: r.boolean(13)?,
        autoscale_policy: opt_json(r, 14, "autoscale_policy")?,
        created_ms: r.int(15)?,
        desktop_count: r.int(16)?,
        desktop_used: r.int(17)?,
    })
}

/// A pool member from `MEMBER_COLS`.
pub fn member(r: &dyn Row) -> StoreResult<PoolMember> {
    Ok(PoolMember {
        object_type: r.text(0)?,
        object_id: r.text(1)?,
        object_name: r.text(2)?,
        user_group: r.opt_text(3)?,
        created_ms: r.int(4)?,
    })
}

/// A user from `USER_SELECT`.
pub fn user(r: &dyn Row) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: typed(r, 0, "user id")?,
        project_id: typed(r, 1, "project id")?,
        user_name: r.text(2)?,
        user_email: r.opt_text(3)?,
        user_phone: r.opt_text(4)?,
        description: r.text(5)?,
        created_ms: r.int(6)?,
        total_desktops: r.int(7)?,
    })
}

/// A credential from `CREDENTIAL_COLS`.
pub fn credential(r: &dyn Row) -> StoreResult<CredentialRow> {
    Ok(CredentialRow {
        access_key: r.text(0)?,
        project_id: typed(r, 1, "project id")?,
        secret_sealed: r.blob(2)?,
        description: r.text(3)?,
        created_ms: r.int(4)?,
    })
}

/// A notification from `NOTIFICATION_COLS`.
pub fn notification(r: &dyn Row) -> StoreResult<NotificationRow> {
    Ok(NotificationRow {
        id: r.text(0)?,
        project_id: typed(r, 1, "project id")?,
        desktop_id: typed(r, 2, "desktop id")?,
        desktop_name: r.text(3)?,
        user_name: r.opt_text(4)?,
        user_email: r.opt_text(5)?,
        kind: r.text(6)?,
        message: r.text(7)?,
        job_id: opt_typed(r, 8, "job id")?,
        created_ms: r.int(9)?,
    })
}

/// A token from `TOKEN_COLS`.
pub fn token(r: &dyn Row) -> StoreResult<TokenRow> {
    Ok(TokenRow {
        token_hash: r.text(0)?,
        project_id: typed(r, 1, "project id")?,
        user_name: r.text(2)?,
        created_ms: r.int(3)?,
        expires_ms: r.int(4)?,
        revoked: r.boolean(5)?,
    })
}

/// An API user from `API_USER_COLS`.
pub fn api_user(r: &dyn Row) -> StoreResult<ApiUserRow> {
    Ok(ApiUserRow {
        project_id: typed(r, 0, "project id")?,
        user_name: r.text(1)?,
        password_hash: r.text(2)?,
        created_ms: r.int(3)?,
    })
}

/// A node from `NODE_COLS`.
pub fn node(r: &dyn Row) -> StoreResult<NodeRow> {
    Ok(NodeRow {
        id: r.text(0)?,
        incarnation: r.text(1)?,
        address: r.text(2)?,
        started_ms: r.int(3)?,
        heartbeat_ms: r.int(4)?,
    })
}

/// A simulator fault from `SIM_FAULT_COLS`.
pub fn sim_fault(r: &dyn Row) -> StoreResult<SimFault> {
    Ok(SimFault {
        desktop_id: typed(r, 0, "desktop id")?,
        fail_remaining: r.int(1)?,
        fail_ops: r.opt_text(2)?,
        error_code: r.opt_text(3)?,
        error_msg: r.opt_text(4)?,
        ignore_soft: r.boolean(5)?,
    })
}

/// What the simulator carried out, from `SIM_APPLIED_COLS`.
pub fn sim_applied(r: &dyn Row) -> StoreResult<SimApplied> {
    Ok(SimApplied {
        op_id: typed(r, 0, "sub-job id")?,
        desktop_id: typed(r, 1, "desktop id")?,
        operation: r.text(2)?,
        node: r.text(3)?,
        at_ms: r.int(4)?,
    })
}

/// A claimed sub-job from [`claimed_select`] (the desktop NULL when it is gone
/// or no longer held by the sub-job).
pub fn claimed(r: &dyn Row) -> StoreResult<Claimed> {
    let present = r.opt_text(10)?;
    Ok(Claimed {
        sub_job_id: typed(r, 0, "sub-job id")?,
        job_id: typed(r, 1, "job id")?,
        project_id: typed(r, 2, "project id")?,
        desktop_id: typed(r, 3, "desktop id")?,
        operation: typed(r, 4, "operation")?,
        prev_status: typed(r, 5, "prev_status")?,
        prev_login: typed(r, 6, "prev_login")?,
        params: params(r, 7)?,
        attempt: r.int(8)?,
        claim: typed(r, 9, "claim id")?,
        desktop: present.map(|_| desktop_at(r, 10)).transpose()?,
    })
}

/// The head of a query for [`claimed`] rows.
#[must_use]
pub fn claimed_select() -> String {
    format!(
        "SELECT s.id, s.job_id, s.project_id, s.desktop_id, s.operation, s.prev_status, \
         s.prev_login, j.params, s.attempt, s.claim_token, {DESKTOP_COLS} FROM sub_jobs s JOIN jobs j ON j.id = s.job_id \
         LEFT JOIN desktops d ON d.id = s.desktop_id AND d.busy_sub_job = s.id"
    )
}

/// The text in the first column.
pub fn text(r: &dyn Row) -> StoreResult<String> {
    r.text(0)
}
