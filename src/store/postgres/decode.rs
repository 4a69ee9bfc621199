//! Reading PostgreSQL rows back into store types (the same column lists as SQLite).

use crate::store::{DesktopRow, JobRow, StoreError, StoreResult, SubJobRow};
use sqlx::Row;
use sqlx::postgres::PgRow;
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

/// Parse a stored wire spelling; a value the enum does not know is a corrupt row.
pub fn parse<T: FromStr>(what: &str, s: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: {s:?}")))
}

fn parse_opt<T: FromStr>(what: &str, s: Option<String>) -> StoreResult<Option<T>> {
    s.map(|s| parse(what, &s)).transpose()
}

/// A desktop from `DESKTOP_COLS` starting at column `at`.
pub fn desktop(r: &PgRow, at: usize) -> StoreResult<DesktopRow> {
    let s = |i: usize| -> Result<String, sqlx::Error> { r.try_get(at + i) };
    let o = |i: usize| -> Result<Option<String>, sqlx::Error> { r.try_get(at + i) };
    Ok(DesktopRow {
        id: s(0)?,
        project_id: s(1)?,
        computer_name: s(2)?,
        status: parse("status", &s(3)?)?,
        task_status: parse_opt("task_status", o(4)?)?,
        login_status: parse("login_status", &s(5)?)?,
        busy_sub_job: o(6)?,
        user_name: o(7)?,
        user_email: o(8)?,
        desktop_type: parse("desktop_type", &s(9)?)?,
        pool_id: o(10)?,
        product_id: s(11)?,
        image_id: s(12)?,
        image_type: s(13)?,
        availability_zone: s(14)?,
        ip_address: s(15)?,
        host: o(16)?,
        root_volume: s(17)?,
        data_volumes: s(18)?,
        tags: s(19)?,
        created_ms: r.try_get(at + 20)?,
    })
}

/// A sub-job from `SUB_JOB_COLS`.
pub fn sub_job(r: &PgRow) -> StoreResult<SubJobRow> {
    Ok(SubJobRow {
        id: r.try_get(0)?,
        job_id: r.try_get(1)?,
        project_id: r.try_get(2)?,
        job_type: parse("job_type", &r.try_get::<String, _>(3)?)?,
        desktop_id: r.try_get(4)?,
        desktop_name: r.try_get(5)?,
        user_name: r.try_get(6)?,
        product_id: r.try_get(7)?,
        ip_address: r.try_get(8)?,
        operation: parse("operation", &r.try_get::<String, _>(9)?)?,
        status: parse("sub-job status", &r.try_get::<String, _>(10)?)?,
        attempt: r.try_get(11)?,
        progress: r.try_get(12)?,
        host: r.try_get(13)?,
        error_code: r.try_get(14)?,
        fail_reason: r.try_get(15)?,
        requested_by: r.try_get(16)?,
        created_ms: r.try_get(17)?,
        begin_ms: r.try_get(18)?,
        end_ms: r.try_get(19)?,
    })
}

/// A job from `JOB_COLS`.
pub fn job(r: &PgRow) -> StoreResult<JobRow> {
    Ok(JobRow {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        job_type: parse("job_type", &r.try_get::<String, _>(2)?)?,
        status: parse("job status", &r.try_get::<String, _>(3)?)?,
        params: r.try_get(4)?,
        requested_by: r.try_get(5)?,
        total: r.try_get(6)?,
        succeeded: r.try_get(7)?,
        failed: r.try_get(8)?,
        error_code: r.try_get(9)?,
        fail_reason: r.try_get(10)?,
        created_ms: r.try_get(11)?,
        begin_ms: r.try_get(12)?,
        end_ms: r.try_get(13)?,
    })
}
