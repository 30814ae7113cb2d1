//! A [`SessionStore`] that answers session reads from memory and writes through to a backend.
//!
//! Verifying a session is the hottest path of the server; this keeps it free of I/O. The cache is
//! exact for this process's own writes, also when they race reads ([`Generation`]); writes by
//! another process (the operator's CLI on the same database) are seen within `max_age`, after
//! which an entry is read from the backend again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::generation::Generation;
use super::{SessionStore, StoreResult};
use crate::session::SessionRecord;
use crate::{SessionId, Timestamp, TokenDigest, UserId};

/// Caches up to `capacity` live sessions by token digest in front of `backend`.
pub struct CachedSessionStore {
    cache: Cache<TokenDigest, (Arc<SessionRecord>, Instant)>,
    backend: Arc<dyn SessionStore>,
    max_age: Duration,
    deletions: Generation,
}

impl CachedSessionStore {
    /// A cache of at most `capacity` sessions in front of `backend`, each entry trusted for
    /// `max_age` before it is read again.
    pub fn new(backend: Arc<dyn SessionStore>, capacity: usize, max_age: Duration) -> Self {
        Self {
            cache: Cache::new(capacity.max(1)),
            backend,
            max_age,
            deletions: Generation::default(),
        }
    }

    /// Caches `session`, read or touched under generation `seen`, as fresh from `cached_at`.
    fn remember(&self, seen: u64, session: Arc<SessionRecord>, cached_at: Instant) {
        self.deletions
            .insert(&self.cache, seen, session.digest, (session, cached_at));
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
        let seen = self.deletions.current();
        self.backend.create_session(session).await?;
        self.remember(seen, Arc::new(session.clone()), Instant::now());
        Ok(())
    }

    async fn session_by_digest(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        if let Some((hit, cached_at)) = self.cache.get(digest)
            && cached_at.elapsed() < self.max_age
        {
            if hit.is_live(now) {
                return Ok(Some(hit));
            }
            self.cache.remove(digest);
            return Ok(None);
        }
        let seen = self.deletions.current();
        let loaded = self.backend.session_by_digest(digest, now).await?;
        match &loaded {
            Some(session) => self.remember(seen, Arc::clone(session), Instant::now()),
            None => {
                self.cache.remove(digest);
            }
        }
        Ok(loaded)
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        // Update the cached copy first, so concurrent requests see the touch and skip their own.
        // It keeps its age: a touch is no news from the backend.
        let seen = self.deletions.current();
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
        self.deletions.bump();
        let ended = self.backend.delete_session(user_id, id).await?;
        self.forget(ended.as_slice());
        Ok(ended)
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.deletions.bump();
        let ended = self.backend.delete_sessions_of_user(user_id, keep).await?;
        self.forget(&ended);
        Ok(ended)
    }

    async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        // Expired entries fail `is_live` on their next read and are dropped then.
        self.backend.purge_expired_sessions(now).await
    }
}
