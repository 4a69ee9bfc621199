//! Desktop users: CreateUserRequest, User, UserDetail, notification records.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// CreateUserRequest — `POST /users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// Name (required; letters, digits, `-`, `_`; 1..=64).
    #[schema(
        required = true,
        nullable = false,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    )]
    pub user_name: Option<String>,
    /// E-mail.
    pub user_email: Option<String>,
    /// Phone.
    pub user_phone: Option<String>,
    /// Free text, at most 255 characters.
    pub description: Option<String>,
}

/// CreateDesktopUserResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreateDesktopUserResponse {
    /// The new user's id.
    pub id: String,
}

/// User — an item of ListUsersResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    /// Id.
    pub id: String,
    /// Name.
    pub user_name: String,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_phone: Option<String>,
    /// Description.
    pub description: String,
    /// Desktops assigned.
    pub total_desktops: i64,
}

/// ListUsersResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListUsersResponse {
    /// Matches before paging.
    pub total_count: i64,
    /// The page.
    pub users: Vec<User>,
}

/// UserDetail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserDetail {
    /// Id.
    pub id: String,
    /// Name.
    pub user_name: String,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_phone: Option<String>,
    /// Description.
    pub description: String,
    /// Creation (`yyyy-MM-ddTHH:mm:ss.SSSZ`).
    pub when_created: String,
    /// Desktops assigned.
    pub total_desktops: i64,
    /// 0: user.
    pub account_type: i64,
}

/// ListUserDetailResponse — `GET /users/{user_id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListUserDetailResponse {
    /// The user.
    pub user_detail: UserDetail,
}

/// NotificationRecordInfo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationRecordInfo {
    /// Project.
    pub project_id: String,
    /// EMAIL, or MESSAGE for text shown inside the desktop (ours).
    #[serde(rename = "type")]
    #[schema(schema_with = super::values::notification_type_field)]
    pub kind: String,
    /// Recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Desktop.
    pub desktop_name: String,
    /// `success`: recorded (deskplane sends no real mail).
    pub result: String,
    /// The text sent.
    pub error_message: String,
    /// When.
    pub operate_time: String,
}

/// ListNotificationRecordsResponse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListNotificationRecordsResponse {
    /// Matches before paging.
    pub total_count: i64,
    /// The page, newest first.
    pub notification_records: Vec<NotificationRecordInfo>,
}
