//! A [`SessionStore`] that answers session reads from memory and writes through to a backend.
//!
//! Verifying a session is the hottest path of the server; this keeps it free of I/O. The cache is
//! exact for this process's own writes, also when they race reads ([`Generation`]). Writes by
//! other processes reach it in one of two ways: on a shared deployment the change feed
//! invalidates entries ([`Coherent`]) and entries never age; on the embedded store (the
//! operator's CLI on the same database) an entry is read again after `max_age`.
//!
//! [`Generation`]: super::generation::Generation

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::coherence::Trust;
use super::{Change, Coherent, SessionStore, StoreResult};
use crate::session::SessionRecord;
use crate::{Clock, SessionId, Timestamp, TokenDigest, UserId};

/// Caches up to `capacity` live sessions by token digest in front of `backend`.
pub struct CachedSessionStore {
    cache: Cache<TokenDigest, (Arc<SessionRecord>, Timestamp)>,
    backend: Arc<dyn SessionStore>,
    trust: Trust,
}

impl CachedSessionStore {
    /// A cache of at most `capacity` sessions in front of `backend`. Each entry is trusted for
    /// `max_age` by `clock` before it is read again; `None` when a change feed keeps the cache
    /// exact.
    pub fn new(
        backend: Arc<dyn SessionStore>,
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

    /// Caches `session`, read or touched under generation `seen`, as fresh from `cached_at`.
    fn remember(&self, seen: u64, session: Arc<SessionRecord>, cached_at: Timestamp) {
        if self.trust.may_keep() {
            self.trust
                .changes
                .insert(&self.cache, seen, session.digest, (session, cached_at));
        }
    }

    fn forget(&self, ended: &[SessionRecord]) {
        for session in ended {
            self.cache.remove(&session.digest);
        }
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let seen = self.trust.changes.current();
        self.backend.create_session(session).await?;
        self.remember(seen, Arc::new(session.clone()), self.trust.now());
        Ok(())
    }

    async fn session_by_digest(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        if let Some(hit) = self.cached_session(digest, now) {
            return Ok(Some(hit));
        }
        let seen = self.trust.changes.current();
        let loaded = self.backend.session_by_digest(digest, now).await?;
        match &loaded {
            Some(session) => self.remember(seen, Arc::clone(session), now),
            None => {
                self.cache.remove(digest);
            }
        }
        Ok(loaded)
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        // Update the cached copy first, so concurrent requests see the touch and skip their own.
        // It keeps its age: a touch is no news from the backend.
        let seen = self.trust.changes.current();
        if let Some((_, cached_at)) = self.cache.get(&session.digest) {
            self.remember(seen, Arc::new(session.clone()), cached_at);
        }
        self.backend.touch_session(session).await
    }

    async fn sessions_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.backend.sessions_of_user(user_id, now).await
    }

    async fn delete_session(
        &self,
        user_id: UserId,
        id: SessionId,
    ) -> StoreResult<Option<SessionRecord>> {
        self.trust.changes.bump();
        let ended = self.backend.delete_session(user_id, id).await?;
        self.forget(ended.as_slice());
        Ok(ended)
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.trust.changes.bump();
        let ended = self.backend.delete_sessions_of_user(user_id, keep).await?;
        self.forget(&ended);
        Ok(ended)
    }

    async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        // Expired entries fail `is_live` on their next read and are dropped then.
        self.backend.purge_expired_sessions(now).await
    }

    fn cached_session(&self, digest: &TokenDigest, now: Timestamp) -> Option<Arc<SessionRecord>> {
        let (hit, cached_at) = self.cache.get(digest)?;
        // A copy past its idle deadline may only lag a touch by another instance: ask.
        (self.trust.fresh(cached_at, || now) && hit.is_live(now)).then_some(hit)
    }

    fn coherence(&self) -> Option<&dyn Coherent> {
        Some(self)
    }
}

impl Coherent for CachedSessionStore {
    fn invalidate(&self, change: &Change) {
        if let Change::SessionEnded(digest) = change {
            self.trust.changes.bump();
            self.cache.remove(digest);
        }
    }

    fn set_trusted(&self, trusted: bool) {
        if self.trust.set(trusted) {
            self.cache.clear();
        }
    }
}
