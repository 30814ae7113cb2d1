//! Sessions, by id and by token digest.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::session::SessionRecord;
use tessera_core::store::{SessionStore, StoreError, StoreResult};
use tessera_core::{SessionId, Timestamp, TokenDigest, UserId};

use crate::{MemoryStore, lock};

/// The sessions, with the index from token digest to session id.
#[derive(Default)]
pub(crate) struct Sessions {
    /// Each session with its insertion number (ties in `created_at` list in insertion order).
    by_id: HashMap<SessionId, (u64, SessionRecord)>,
    by_digest: HashMap<TokenDigest, SessionId>,
    inserted: u64,
}

impl Sessions {
    /// Removes the session `id` from both maps.
    fn remove(&mut self, id: SessionId) -> Option<(u64, SessionRecord)> {
        let removed = self.by_id.remove(&id)?;
        self.by_digest.remove(&removed.1.digest);
        Some(removed)
    }

    /// Removes the sessions `ended` picks; the removed records, oldest first.
    fn remove_where(&mut self, ended: impl Fn(&SessionRecord) -> bool) -> Vec<SessionRecord> {
        let ids: Vec<SessionId> = self
            .by_id
            .iter()
            .filter(|(_, (_, s))| ended(s))
            .map(|(id, _)| *id)
            .collect();
        let mut removed: Vec<(u64, SessionRecord)> =
            ids.into_iter().filter_map(|id| self.remove(id)).collect();
        removed.sort_by_key(|(seq, s)| (s.created_at, *seq));
        removed.into_iter().map(|(_, s)| s).collect()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut sessions = lock(&self.sessions);
        if sessions.by_id.contains_key(&session.id)
            || sessions.by_digest.contains_key(&session.digest)
        {
            return Err(StoreError::Conflict);
        }
        sessions.inserted += 1;
        let seq = sessions.inserted;
        sessions.by_digest.insert(session.digest, session.id);
        sessions.by_id.insert(session.id, (seq, session.clone()));
        Ok(())
    }

    async fn session_by_digest(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        let sessions = lock(&self.sessions);
        let found = sessions
            .by_digest
            .get(digest)
            .and_then(|id| sessions.by_id.get(id));
        Ok(found
            .map(|(_, s)| s)
            .filter(|s| s.is_live(now))
            .cloned()
            .map(Arc::new))
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut sessions = lock(&self.sessions);
        // A session that ended (deleted, or past a deadline at the time of the touch) stays ended.
        if let Some((_, stored)) = sessions.by_id.get_mut(&session.id)
            && stored.is_live(session.last_seen_at)
        {
            // Never backwards: another instance's clock may lag this one's.
            stored.last_seen_at = stored.last_seen_at.max(session.last_seen_at);
            stored.idle_expires_at = stored.idle_expires_at.max(session.idle_expires_at);
        }
        Ok(())
    }

    async fn sessions_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        let sessions = lock(&self.sessions);
        let mut live: Vec<&(u64, SessionRecord)> = sessions
            .by_id
            .values()
            .filter(|(_, s)| s.user_id == user_id && s.is_live(now))
            .collect();
        live.sort_by_key(|(seq, s)| (s.created_at, *seq));
        Ok(live.into_iter().map(|(_, s)| s.clone()).collect())
    }

    async fn delete_session(
        &self,
        user_id: UserId,
        id: SessionId,
    ) -> StoreResult<Option<SessionRecord>> {
        let mut sessions = lock(&self.sessions);
        let owned = sessions
            .by_id
            .get(&id)
            .is_some_and(|(_, s)| s.user_id == user_id);
        Ok(if owned {
            sessions.remove(id).map(|(_, s)| s)
        } else {
            None
        })
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let mut sessions = lock(&self.sessions);
        Ok(sessions.remove_where(|s| s.user_id == user_id && Some(s.id) != keep))
    }

    async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        let mut sessions = lock(&self.sessions);
        Ok(sessions.remove_where(|s| s.ends_at() <= now).len() as u64)
    }
}
