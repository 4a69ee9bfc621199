//! Projects, credentials, API users and tokens: written once for every backend.

use super::decode::{self, API_USER_COLS, CREDENTIAL_COLS, TOKEN_COLS};
use super::{Db, Exec, q};
use crate::domain::ids::ProjectId;
use crate::store::{Accounts, ApiUserRow, CredentialRow, StoreResult, TokenRow, Tokens};

#[async_trait::async_trait]
impl<D: Db> Accounts for D {
    async fn count_projects(&self) -> StoreResult<i64> {
        self.reader()
            .scalar(q!("SELECT COUNT(*) FROM projects"))
            .await
    }

    async fn ensure_project(&self, id: &ProjectId, name: &str, now_ms: i64) -> StoreResult<()> {
        let sql = "INSERT INTO projects (id, name, created_ms) VALUES ($1, $2, $3) \
                   ON CONFLICT (id) DO NOTHING";
        self.write(q!(sql; id, name, now_ms)).await.map(drop)
    }

    async fn project_exists(&self, id: &ProjectId) -> StoreResult<bool> {
        let sql = "SELECT COUNT(*) FROM projects WHERE id = $1";
        Ok(self.reader().scalar(q!(sql; id)).await? > 0)
    }

    async fn insert_credential(&self, c: &CredentialRow) -> StoreResult<()> {
        let sql = "INSERT INTO credentials (access_key, project_id, secret_sealed, description, \
                   created_ms) VALUES ($1, $2, $3, $4, $5)";
        let stmt = q!(sql; &c.access_key, &c.project_id, c.secret_sealed.as_slice(), &c.description, c.created_ms);
        self.write(stmt)
            .await
            .map_err(|e| e.conflict_on(&c.access_key))
            .map(drop)
    }

    async fn get_credential(&self, access_key: &str) -> StoreResult<Option<CredentialRow>> {
        let sql = format!("SELECT {CREDENTIAL_COLS} FROM credentials WHERE access_key = $1");
        let stmt = q!(&sql; access_key);
        self.reader().fetch_optional(stmt, decode::credential).await
    }

    async fn list_credentials(
        &self,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<CredentialRow>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLS} FROM credentials WHERE ($1 IS NULL OR project_id = $1) \
             ORDER BY created_ms, {}",
            D::DIALECT.collated("access_key")
        );
        self.reader()
            .fetch(q!(&sql; project_id), decode::credential)
            .await
    }

    async fn delete_credential(&self, access_key: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM credentials WHERE access_key = $1";
        Ok(self.write(q!(sql; access_key)).await? > 0)
    }
}

#[async_trait::async_trait]
impl<D: Db> Tokens for D {
    async fn put_api_user(&self, u: &ApiUserRow) -> StoreResult<()> {
        let sql = "INSERT INTO api_users (project_id, user_name, password_hash, created_ms) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, user_name) \
                   DO UPDATE SET password_hash = excluded.password_hash";
        let stmt = q!(sql; &u.project_id, &u.user_name, &u.password_hash, u.created_ms);
        self.write(stmt).await.map(drop)
    }

    async fn get_api_user(
        &self,
        project_id: &ProjectId,
        user_name: &str,
    ) -> StoreResult<Option<ApiUserRow>> {
        let sql = format!(
            "SELECT {API_USER_COLS} FROM api_users WHERE project_id = $1 AND user_name = $2"
        );
        self.reader()
            .fetch_optional(q!(&sql; project_id, user_name), decode::api_user)
            .await
    }

    async fn list_api_users(&self, project_id: Option<&ProjectId>) -> StoreResult<Vec<ApiUserRow>> {
        let sql = format!(
            "SELECT {API_USER_COLS} FROM api_users WHERE ($1 IS NULL OR project_id = $1) \
             ORDER BY {}, {}",
            D::DIALECT.collated("project_id"),
            D::DIALECT.collated("user_name")
        );
        self.reader()
            .fetch(q!(&sql; project_id), decode::api_user)
            .await
    }

    async fn delete_api_user(&self, project_id: &ProjectId, user_name: &str) -> StoreResult<bool> {
        // Their tokens are revoked in the same transaction: none outlives its user.
        let mut tx = self.begin().await?;
        let revoke = "UPDATE tokens SET revoked = TRUE WHERE project_id = $1 AND user_name = $2";
        tx.execute(q!(revoke; project_id, user_name)).await?;
        let delete = "DELETE FROM api_users WHERE project_id = $1 AND user_name = $2";
        let n = tx.execute(q!(delete; project_id, user_name)).await?;
        D::commit(tx).await?;
        Ok(n > 0)
    }

    async fn insert_token(&self, t: &TokenRow) -> StoreResult<()> {
        let sql = "INSERT INTO tokens (token_hash, project_id, user_name, created_ms, expires_ms, \
                   revoked) VALUES ($1, $2, $3, $4, $5, $6)";
        let stmt = q!(sql; &t.token_hash, &t.project_id, &t.user_name, t.created_ms, t.expires_ms, t.revoked);
        self.write(stmt).await.map(drop)
    }

    async fn get_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE token_hash = $1");
        self.reader()
            .fetch_optional(q!(&sql; token_hash), decode::token)
            .await
    }

    async fn revoke_token(&self, token_hash: &str) -> StoreResult<bool> {
        let sql = "UPDATE tokens SET revoked = TRUE WHERE token_hash = $1";
        Ok(self.write(q!(sql; token_hash)).await? > 0)
    }
}
