//! A [`UserStore`] that answers reads by id from memory and writes through to a backend, so that
//! authenticating a request needs no store round trip for its user.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::coherence::Trust;
use super::{Change, Coherent, StoreResult, UserStore};
use crate::user::User;
use crate::{Clock, Timestamp, UserId};

/// Caches up to `capacity` users by id in front of `backend`. Exact for this process's own
/// writes, also when they race reads; other processes' writes arrive as for
/// [`super::CachedSessionStore`]: through the change feed, or within `max_age`.
///
/// With a change feed an entry keeps answering however old it is, so session and JWT checks
/// go on while the durable store is down.
pub struct CachedUserStore {
    cache: Cache<UserId, (Arc<User>, Timestamp)>,
    backend: Arc<dyn UserStore>,
    trust: Trust,
}

impl CachedUserStore {
    /// A cache of at most `capacity` users in front of `backend`. Each entry is trusted for
    /// `max_age` by `clock` before it is read again; `None` when a change feed keeps the cache
    /// exact.
    pub fn new(
        backend: Arc<dyn UserStore>,
        capacity: usize,
        max_age: Option<Duration>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            cache: Cache::new(capacity.max(1)),
            backend,
            trust: Trust::new(max_age, clock),
        }
    }

    /// Runs a write that changes or removes user `id`, then drops its cached entry.
    async fn changing<T>(
        &self,
        id: UserId,
        write: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.trust.changes.bump();
        let result = write.await;
        self.cache.remove(&id);
        result
    }
}

#[async_trait]
impl UserStore for CachedUserStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.backend.create_user(user).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        if let Some(hit) = self.cached_user(id) {
            return Ok(Some(hit));
        }
        let seen = self.trust.changes.current();
        let loaded = self.backend.user_by_id(id).await?;
        match &loaded {
            Some(user) if self.trust.may_keep() => {
                self.trust.changes.insert(
                    &self.cache,
                    seen,
                    id,
                    (Arc::clone(user), self.trust.now()),
                );
            }
            _ => {
                self.cache.remove(&id);
            }
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
        self.changing(id, self.backend.set_roles(id, roles)).await
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool> {
        self.changing(id, self.backend.set_password_hash(id, password_hash))
            .await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        self.changing(id, self.backend.delete_user(id)).await
    }

    fn cached_user(&self, id: UserId) -> Option<Arc<User>> {
        let (hit, cached_at) = self.cache.get(&id)?;
        self.trust
            .fresh(cached_at, || self.trust.now())
            .then_some(hit)
    }

    fn coherence(&self) -> Option<&dyn Coherent> {
        Some(self)
    }
}

impl Coherent for CachedUserStore {
    fn invalidate(&self, change: &Change) {
        if let Change::UserChanged(id) = change {
            self.trust.changes.bump();
            self.cache.remove(id);
        }
    }

    fn set_trusted(&self, trusted: bool) {
        if self.trust.set(trusted) {
            self.cache.clear();
        }
    }
}
