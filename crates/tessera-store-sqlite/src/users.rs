//! [`UserStore`] on the `users` table. Roles are kept as a JSON array, in grant order.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use tessera_core::UserId;
use tessera_core::store::{StoreResult, UserStore};
use tessera_core::user::{User, Username};

use crate::{SqliteStore, codec};

/// The columns [`user`] reads, in its order.
macro_rules! columns {
    () => {
        "id, username, roles, password_hash, created_at"
    };
}

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: codec::user_id(row, 0)?,
        username: codec::parsed(row, 1, Username::parse)?,
        roles: codec::parsed(row, 2, |text| serde_json::from_str::<Vec<String>>(text))?,
        password_hash: row.get(3)?,
        created_at: codec::time(row, 4)?,
    })
}

fn roles_json(roles: &[String]) -> String {
    // A list of strings always serializes.
    serde_json::Value::from(roles).to_string()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.pool
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO users (id, username, canonical, roles, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    user.id.as_bytes().as_slice(),
                    user.username.as_str(),
                    user.username.canonical(),
                    roles_json(&user.roles),
                    user.password_hash,
                    user.created_at.as_millis(),
                ])
                .map(drop)
            })
            .await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        self.pool
            .read(move |conn| {
                conn.prepare_cached(concat!("SELECT ", columns!(), " FROM users WHERE id = ?1"))?
                    .query_row([id.as_bytes().as_slice()], user)
                    .optional()
            })
            .await
            .map(|found| found.map(Arc::new))
    }

    async fn user_by_name(&self, canonical: &str) -> StoreResult<Option<User>> {
        let canonical = canonical.to_owned();
        self.pool
            .read(move |conn| {
                conn.prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM users WHERE canonical = ?1"
                ))?
                .query_row([canonical], user)
                .optional()
            })
            .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.pool
            .read(|conn| {
                conn.prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM users ORDER BY created_at, rowid"
                ))?
                .query_map([], user)?
                .collect()
            })
            .await
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> StoreResult<Option<User>> {
        let roles = roles_json(roles);
        self.pool
            .write(move |conn| {
                conn.prepare_cached(concat!(
                    "UPDATE users SET roles = ?2 WHERE id = ?1 RETURNING ",
                    columns!()
                ))?
                .query_row(params![id.as_bytes().as_slice(), roles], user)
                .optional()
            })
            .await
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool> {
        let password_hash = password_hash.to_owned();
        self.pool
            .write(move |conn| {
                let changed = conn
                    .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
                    .execute(params![id.as_bytes().as_slice(), password_hash])?;
                Ok(changed > 0)
            })
            .await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        self.pool
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM users WHERE id = ?1")?
                    .execute([id.as_bytes().as_slice()])?;
                Ok(deleted > 0)
            })
            .await
    }
}
