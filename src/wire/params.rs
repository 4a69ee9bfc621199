//! Path and query parameters of the operations, as the OpenAPI document
//! (`GET /openapi.json`) shows them. The handlers read query strings through
//! `api::extract::QueryParams`; the value lists below are the ones they accept,
//! so the document and the checks share one list.
//!
//! Names follow the SDK's request models (`ListDesktopsRequest` ...,
//! huaweicloudsdkworkspace 3.1.219). Repeatable parameters (`desktop_id` ...)
//! may be sent as repeated keys or as one comma-separated value.

use crate::domain::desktop::{DesktopStatus, DesktopType};
use crate::domain::job::{JobType, SubJobStatus};
use utoipa::IntoParams;
use utoipa::openapi::schema::Object;

/// Desktop `status` filter values.
pub const DESKTOP_STATUSES: &[&str] = DesktopStatus::NAMES;
/// `desktop_type` filter values.
pub const DESKTOP_TYPES: &[&str] = DesktopType::NAMES;
/// `sort_field` of the desktop lists.
pub const DESKTOP_SORT_FIELDS: &[&str] = &["created", "computer_name"];
/// `sort_type` values.
pub const SORT_TYPES: &[&str] = &["ASC", "DESC"];
/// `image_type` values.
pub const IMAGE_TYPES: &[&str] = &["gold", "private", "market"];
/// Notification record `type` values.
pub const NOTIFICATION_TYPES: &[&str] = &["EMAIL", "MESSAGE"];
/// `sort_field` of the notification records.
pub const NOTIFICATION_SORT_FIELDS: &[&str] = &["operate_time"];
/// Pool `type` values.
pub const POOL_TYPES: &[&str] = &["DYNAMIC", "STATIC"];
/// Rebuild `encrypt_type` values.
pub const ENCRYPT_TYPES: &[&str] = &["KEEP", "UNENCRYPTED", "ENCRYPTED"];
/// Pool member `object_type` values.
pub const OBJECT_TYPES: &[&str] = &["USER", "USER_GROUP"];
/// `action` of a pool-member change.
pub const MEMBER_ACTIONS: &[&str] = &["ADD", "REMOVE"];
/// `autoscale_policy.autoscale_type` values.
pub const AUTOSCALE_TYPES: &[&str] = &["ACCESS_CREATED", "AUTO_CREATED"];
/// Job `op_type` values.
pub const JOB_ACTIONS: &[&str] = &["retry"];

/// A string schema with these values, as a query parameter: the server
/// matches them case-insensitively.
fn one_of<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Object {
    super::values::exactly(
        values,
        &format!("{description} Matched case-insensitively."),
    )
}

fn desktop_status() -> Object {
    one_of(DESKTOP_STATUSES.iter().copied(), "Desktop status.")
}
fn desktop_type() -> Object {
    one_of(DESKTOP_TYPES.iter().copied(), "Desktop type.")
}
fn desktop_sort_field() -> Object {
    one_of(DESKTOP_SORT_FIELDS.iter().copied(), "Sort key.")
}
fn sort_type() -> Object {
    one_of(SORT_TYPES.iter().copied(), "Sort order.")
}
fn image_type() -> Object {
    one_of(IMAGE_TYPES.iter().copied(), "Image type.")
}
fn notification_type() -> Object {
    one_of(NOTIFICATION_TYPES.iter().copied(), "Notification kind.")
}
fn notification_sort_field() -> Object {
    one_of(NOTIFICATION_SORT_FIELDS.iter().copied(), "Sort key.")
}
fn pool_type() -> Object {
    one_of(POOL_TYPES.iter().copied(), "Pool type.")
}
fn job_type() -> Object {
    one_of(JobType::NAMES.iter().copied(), "Job type.")
}
fn sub_job_status() -> Object {
    one_of(SubJobStatus::NAMES.iter().copied(), "Sub-job status.")
}

/// `{project_id}`: every `/v2` path.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project; the credential (or token) must belong to it.
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub project_id: String,
}

/// `{desktop_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DesktopPath {
    /// The desktop (a UUID).
    pub desktop_id: String,
}

/// `{user_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The user (a UUID).
    pub user_id: String,
}

/// `{job_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    /// The job (a UUID).
    pub job_id: String,
}

/// `{pool_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PoolPath {
    /// The desktop pool (a UUID).
    pub pool_id: String,
}

/// `offset` + `limit`: paging of every list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Entries to skip (default 0).
    #[param(minimum = 0, maximum = 2_147_483_647)]
    pub offset: Option<i64>,
    /// Page size; at most `limits.max_page` (default 1000; catalog lists: 1000).
    #[param(minimum = 0)]
    pub limit: Option<i64>,
}

/// Filters of `GET /sim/v1/applied` (ours).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppliedQuery {
    /// Only this desktop's operations.
    pub desktop_id: Option<String>,
}

/// ListProductsRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    /// Only this product.
    pub product_id: Option<String>,
    /// Only this architecture (`x86`, `arm`).
    pub architecture: Option<String>,
    /// Only this series.
    pub package_type: Option<String>,
}

/// ListImagesRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListImagesQuery {
    /// Only this image type.
    #[param(schema_with = image_type)]
    pub image_type: Option<String>,
    /// Only this OS type (`Windows`, `Linux`), case-insensitively.
    pub os_type: Option<String>,
    /// Only this image.
    pub image_id: Option<String>,
}

/// ListUsersRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Names containing this.
    pub user_name: Option<String>,
}

/// ListNotificationRecordsRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListNotificationRecordsQuery {
    /// Only records of this desktop.
    pub desktop_id: Option<String>,
    /// Only records of desktops named this.
    pub desktop_name: Option<String>,
    /// Only records to this user.
    pub user_name: Option<String>,
    /// Only this kind.
    #[param(rename = "type", schema_with = notification_type)]
    pub kind: Option<String>,
    /// Sort key.
    #[param(schema_with = notification_sort_field)]
    pub sort_field: Option<String>,
    /// DESC (default, newest first) or ASC.
    #[param(schema_with = sort_type)]
    pub sort_type: Option<String>,
}

/// ListDesktopsRequest / ListDesktopsDetailRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDesktopsQuery {
    /// Only desktops in this status.
    #[param(schema_with = desktop_status)]
    pub status: Option<String>,
    /// Desktops whose user's name contains this.
    pub user_name: Option<String>,
    /// Desktops of users with exactly these names.
    #[param(explode = true)]
    pub user_names: Option<Vec<String>>,
    /// Desktops of this user (by id).
    pub user_id: Option<String>,
    /// Desktops named exactly these.
    #[param(explode = true)]
    pub computer_names: Option<Vec<String>>,
    /// Desktops whose name contains this.
    pub computer_name: Option<String>,
    /// Desktops with this IP address.
    pub desktop_ip: Option<String>,
    /// Only these desktops.
    #[param(explode = true)]
    pub desktop_id: Option<Vec<String>>,
    /// Only desktops of these pools.
    #[param(explode = true)]
    pub pool_id: Option<Vec<String>>,
    /// Only this desktop type.
    #[param(schema_with = desktop_type)]
    pub desktop_type: Option<String>,
    /// Only desktops of this image.
    pub image_id: Option<String>,
    /// Only desktops with these tags, each `key=value`.
    #[param(explode = true)]
    pub tag: Option<Vec<String>>,
    /// Only desktops in this zone.
    pub availability_zone: Option<String>,
    /// Sort key (default: creation).
    #[param(schema_with = desktop_sort_field)]
    pub sort_field: Option<String>,
    /// ASC (default) or DESC.
    #[param(schema_with = sort_type)]
    pub sort_type: Option<String>,
}

/// DeleteDesktopRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteDesktopQuery {
    /// Also delete the user when this was their last desktop (default false).
    pub delete_users: Option<bool>,
    /// Notify the user by e-mail (default true).
    pub email_notification: Option<bool>,
    /// Delete in any state, cancelling a running operation (default false).
    pub is_force_delete: Option<bool>,
}

/// ListItaSubJobsRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSubJobsQuery {
    /// Only sub-jobs of this job.
    pub job_id: Option<String>,
    /// Only sub-jobs of jobs of this type.
    #[param(schema_with = job_type)]
    pub job_type: Option<String>,
    /// Only sub-jobs in this status.
    #[param(schema_with = sub_job_status)]
    pub status: Option<String>,
    /// Only sub-jobs of this desktop.
    pub desktop_id: Option<String>,
    /// Only sub-jobs of this pool's jobs.
    pub desktop_pool_id: Option<String>,
}

/// ListDesktopPoolsRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDesktopPoolsQuery {
    /// Pools whose name contains this.
    pub name: Option<String>,
    /// Only this pool type.
    #[param(rename = "type", schema_with = pool_type)]
    pub pool_type: Option<String>,
}

/// ListPoolDesktopsDetailRequest.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListPoolDesktopsQuery {
    /// Only desktops in this status.
    #[param(schema_with = desktop_status)]
    pub status: Option<String>,
    /// Desktops whose user's name contains this.
    pub user_name: Option<String>,
    /// Desktops whose name contains this.
    pub computer_name: Option<String>,
    /// Only these desktops.
    #[param(explode = true)]
    pub desktop_id: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::desktop::{DesktopStatus, DesktopType};

    #[test]
    fn value_lists_match_the_domain() {
        let statuses: Vec<&str> = DesktopStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(statuses, DESKTOP_STATUSES);
        let types: Vec<&str> = DesktopType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(types, DESKTOP_TYPES);
    }
}
