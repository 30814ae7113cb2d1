//! A [`UserStore`] that keeps a copy of each user it reads in a hot store beside the durable
//! one, so that session and JWT checks (which read users by id) go on while the durable store
//! is down, on every instance, warm or not.

use std::sync::Arc;

use async_trait::async_trait;

use super::{StoreResult, UserStore};
use crate::UserId;
use crate::user::User;

/// Where the copies live (Redis, on a shared deployment).
#[async_trait]
pub trait UserMirror: Send + Sync {
    /// The copy of user `id`, if one is held.
    async fn mirrored_user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// Keeps a copy of `user`, unless the user was changed a moment ago (a read that raced
    /// the change must not put the old record back).
    async fn mirror_user(&self, user: &User) -> StoreResult<()>;
    /// Drops the copy of user `id` (it changed or was removed), and refuses new copies for a
    /// moment.
    async fn forget_user(&self, id: UserId) -> StoreResult<()>;
}

/// Reads users by id from `mirror` first, else from `durable` (then keeping a copy); every
/// write goes to `durable` and drops the copy. Lookups by name (logins) and lists always read
/// `durable`, which alone is authoritative.
pub struct MirroredUserStore {
    durable: Arc<dyn UserStore>,
    mirror: Arc<dyn UserMirror>,
}

impl MirroredUserStore {
    /// `durable` with copies of its users in `mirror`.
    pub fn new(durable: Arc<dyn UserStore>, mirror: Arc<dyn UserMirror>) -> Self {
        Self { durable, mirror }
    }

    async fn changed<T>(&self, id: UserId, result: StoreResult<T>) -> StoreResult<T> {
        // Even a failed write may have reached the durable store: drop the copy either way.
        self.mirror.forget_user(id).await?;
        result
    }
}

#[async_trait]
impl UserStore for MirroredUserStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.durable.create_user(user).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        if let Ok(Some(copy)) = self.mirror.mirrored_user(id).await {
            return Ok(Some(Arc::new(copy)));
        }
        let user = self.durable.user_by_id(id).await?;
        if let Some(user) = &user {
            // A copy that cannot be kept now is kept by a later read.
            let _ = self.mirror.mirror_user(user).await;
        }
        Ok(user)
    }

    async fn user_by_name(&self, canonical: &str) -> StoreResult<Option<User>> {
        self.durable.user_by_name(canonical).await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.durable.list_users().await
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> StoreResult<Option<User>> {
        let result = self.durable.set_roles(id, roles).await;
        self.changed(id, result).await
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool> {
        let result = self.durable.set_password_hash(id, password_hash).await;
        self.changed(id, result).await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let result = self.durable.delete_user(id).await;
        self.changed(id, result).await
    }
}
