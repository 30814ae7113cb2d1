//! A [`UserStore`] that answers reads by id from memory and writes through to a backend, so that
//! authenticating a request needs no store round trip for its user.

use std::sync::Arc;

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::{StoreResult, UserStore};
use crate::UserId;
use crate::user::User;

/// Caches up to `capacity` users by id in front of `backend`. Coherent while this process is
/// the backend's only writer.
pub struct CachedUserStore {
    cache: Cache<UserId, Arc<User>>,
    backend: Arc<dyn UserStore>,
}

impl CachedUserStore {
    /// A cache of at most `capacity` users in front of `backend`.
    pub fn new(backend: Arc<dyn UserStore>, capacity: usize) -> Self {
        Self { cache: Cache::new(capacity.max(1)), backend }
    }
}

#[async_trait]
impl UserStore for CachedUserStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.backend.create_user(user).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        if let Some(hit) = self.cache.get(&id) {
            return Ok(Some((*hit).clone()));
        }
        let loaded = self.backend.user_by_id(id).await?;
        if let Some(user) = &loaded {
            self.cache.insert(id, Arc::new(user.clone()));
        }
        Ok(loaded)
    }

    async fn user_by_name(&self, canonical: &str) -> StoreResult<Option<User>> {
        self.backend.user_by_name(canonical).await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.backend.list_users().await
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> StoreResult<Option<User>> {
        let result = self.backend.set_roles(id, roles).await;
        self.cache.remove(&id);
        result
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool> {
        let result = self.backend.set_password_hash(id, password_hash).await;
        self.cache.remove(&id);
        result
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let result = self.backend.delete_user(id).await;
        self.cache.remove(&id);
        result
    }
}
