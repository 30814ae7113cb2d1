//! [`UserStore`] on the `users` table. Roles are kept as a JSON array, in grant order; the
//! canonical (lower-case) username is unique.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use tessera_core::UserId;
use tessera_core::store::{StoreResult, UserStore};
use tessera_core::user::{User, Username};

use crate::error::DbResult;
use crate::{PostgresStore, codec};

/// The columns [`user`] reads.
macro_rules! columns {
    () => {
        "id, username, roles, password_hash, created_at"
    };
}

fn user(row: &PgRow) -> DbResult<User> {
    Ok(User {
        id: codec::user_id(row, "id")?,
        username: codec::parsed(row, "username", Username::parse)?,
        roles: codec::parsed(row, "roles", |text| {
            serde_json::from_str::<Vec<String>>(text)
        })?,
        password_hash: row.try_get("password_hash")?,
        created_at: codec::time(row, "created_at")?,
    })
}

fn roles_json(roles: &[String]) -> String {
    // A list of strings always serializes.
    serde_json::Value::from(roles).to_string()
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.call(async {
            sqlx::query(
                "INSERT INTO users (id, username, canonical, roles, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(user.id.as_bytes().as_slice())
            .bind(user.username.as_str())
            .bind(user.username.canonical())
            .bind(roles_json(&user.roles))
            .bind(user.password_hash.as_str())
            .bind(user.created_at.as_millis())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        self.call(async {
            let row = sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
                .bind(id.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(user).transpose().map(|u| u.map(Arc::new))
        })
        .await
    }

    async fn user_by_name(&self, canonical: &str) -> StoreResult<Option<User>> {
        self.call(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM users WHERE canonical = $1"
            ))
            .bind(canonical)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(user).transpose()
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.call(async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                columns!(),
                " FROM users ORDER BY created_at, seq"
            ))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(user).collect()
        })
        .await
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> StoreResult<Option<User>> {
        self.call(async {
            let row = sqlx::query(concat!(
                "UPDATE users SET roles = $2 WHERE id = $1 RETURNING ",
                columns!()
            ))
            .bind(id.as_bytes().as_slice())
            .bind(roles_json(roles))
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(user).transpose()
        })
        .await
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool> {
        self.call(async {
            let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(id.as_bytes().as_slice())
                .bind(password_hash)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        self.call(async {
            let done = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id.as_bytes().as_slice())
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
