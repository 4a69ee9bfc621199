//! Keystone v3 token shapes (`POST /v3/auth/tokens`): the parts of the request
//! deskplane reads and the token it answers with. OpenStack Identity v3, as
//! Huawei IAM serves it; `catalog` is always empty here.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystoneAuthRequest {
    /// Identity and scope.
    pub auth: KeystoneAuth,
}

/// `auth`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystoneAuth {
    /// Who.
    pub identity: KeystoneIdentity,
    /// Which project the token is for (required: tokens are project-scoped).
    #[schema(required = true, nullable = false)]
    pub scope: Option<KeystoneScope>,
}

/// `auth.identity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystoneIdentity {
    /// Must include `password`.
    pub methods: Vec<String>,
    /// The password method's credentials (required).
    #[schema(required = true, nullable = false)]
    pub password: Option<KeystonePasswordIdentity>,
}

/// `auth.identity.password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystonePasswordIdentity {
    /// The API user.
    pub user: KeystonePasswordUser,
}

/// `auth.identity.password.user`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystonePasswordUser {
    /// API user name (`deskplane api-users create`).
    pub name: String,
    /// Its password.
    pub password: String,
}

/// `auth.scope`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystoneScope {
    /// The project.
    #[schema(required = true, nullable = false)]
    pub project: Option<KeystoneProjectScope>,
}

/// `auth.scope.project`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeystoneProjectScope {
    /// Project id (required).
    #[schema(required = true, nullable = false)]
    pub id: Option<String>,
}

/// An id and a name (`token.project`, `token.user`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeystoneRef {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// `token`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeystoneToken {
    /// `["password"]`.
    pub methods: Vec<String>,
    /// When issued (RFC 3339).
    pub issued_at: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// The project it is scoped to.
    pub project: KeystoneRef,
    /// The API user.
    pub user: KeystoneRef,
    /// Service catalog: always empty (only in the answer to `POST`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub catalog: Option<Vec<serde_json::Value>>,
}

/// The answer of `POST` and `GET /v3/auth/tokens`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeystoneTokenResponse {
    /// The token's description (the token itself is in `X-Subject-Token`).
    pub token: KeystoneToken,
}
