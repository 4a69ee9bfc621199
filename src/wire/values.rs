//! The value lists of string fields in bodies, as the OpenAPI document shows
//! them (`#[schema(schema_with = ...)]`): request fields list what the handlers
//! accept, response fields what the server can send, taken from the domain's
//! enums where there is one, so the document follows the code.

use super::params::{
    AUTOSCALE_TYPES, DESKTOP_STATUSES, DESKTOP_TYPES, ENCRYPT_TYPES, IMAGE_TYPES, JOB_ACTIONS,
    MEMBER_ACTIONS, NOTIFICATION_TYPES, OBJECT_TYPES, POOL_TYPES,
};
use crate::domain::desktop::{
    DesktopActionType, LoginStatus, PoolActionType, PowerMode, TaskStatus,
};
use crate::domain::job::{JobStatus, JobType, SubJobStatus};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// A string body field with exactly these values.
pub(super) fn exactly<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

pub(super) fn desktop_action_op() -> Object {
    exactly(
        DesktopActionType::NAMES.iter().copied(),
        "The operation (required).",
    )
}
pub(super) fn pool_action_op() -> Object {
    exactly(
        PoolActionType::NAMES.iter().copied(),
        "The operation (required).",
    )
}
pub(super) fn power_mode() -> Object {
    exactly(PowerMode::NAMES.iter().copied(), "SOFT (default) or HARD.")
}
pub(super) fn image_type_field() -> Object {
    exactly(IMAGE_TYPES.iter().copied(), "Image type.")
}
pub(super) fn encrypt_type_field() -> Object {
    exactly(
        ENCRYPT_TYPES.iter().copied(),
        "KEEP (default), UNENCRYPTED, or ENCRYPTED (with kms_id).",
    )
}
pub(super) fn pool_type_field() -> Object {
    exactly(POOL_TYPES.iter().copied(), "Pool type (required).")
}
pub(super) fn object_type_field() -> Object {
    exactly(
        OBJECT_TYPES.iter().copied(),
        "USER (default) or USER_GROUP.",
    )
}
pub(super) fn member_action_field() -> Object {
    exactly(MEMBER_ACTIONS.iter().copied(), "ADD or REMOVE (required).")
}
pub(super) fn autoscale_type_field() -> Object {
    exactly(
        AUTOSCALE_TYPES.iter().copied(),
        "How autoscale creates desktops.",
    )
}
pub(super) fn job_action_field() -> Object {
    exactly(JOB_ACTIONS.iter().copied(), "`retry` (required).")
}

pub(super) fn desktop_status_field() -> Object {
    exactly(
        DESKTOP_STATUSES.iter().copied(),
        "ACTIVE, SHUTOFF, HIBERNATED, ERROR (BUILD while created).",
    )
}
pub(super) fn task_status_field() -> Object {
    exactly(
        std::iter::once("").chain(TaskStatus::NAMES.iter().copied()),
        "The operation in progress (Nova's task states); empty when idle.",
    )
}
pub(super) fn login_status_field() -> Object {
    exactly(
        LoginStatus::NAMES.iter().copied(),
        "UNREGISTER, REGISTERED, CONNECTED or DISCONNECTED.",
    )
}
pub(super) fn desktop_type_field() -> Object {
    exactly(DESKTOP_TYPES.iter().copied(), "DEDICATED or POOLED.")
}
pub(super) fn job_type_field() -> Object {
    exactly(JobType::NAMES.iter().copied(), "Job type.")
}
pub(super) fn job_status_field() -> Object {
    exactly(
        JobStatus::NAMES.iter().copied(),
        "WAITING, RUNNING, SUCCESS or FAIL.",
    )
}
pub(super) fn sub_job_status_field() -> Object {
    exactly(
        SubJobStatus::NAMES.iter().copied(),
        "WAITING, RUNNING, SUCCESS or FAILED.",
    )
}
pub(super) fn pool_type_out() -> Object {
    exactly(POOL_TYPES.iter().copied(), "DYNAMIC or STATIC.")
}
pub(super) fn pool_status_field() -> Object {
    exactly(
        ["STEADY", "TEMPORARY"],
        "STEADY when no desktop has an operation running, else TEMPORARY.",
    )
}
pub(super) fn notification_type_field() -> Object {
    exactly(
        NOTIFICATION_TYPES.iter().copied(),
        "EMAIL, or MESSAGE for text shown inside the desktop.",
    )
}
