//! The store traits: what Tessera keeps, independent of where.
//!
//! # Writing a new store
//! - Implement each trait for your backend; hold it as `Arc<dyn Trait>`.
//! - "Not found" is `Ok(None)` (or `false`, or an empty list), never an error. Records whose
//!   deadline has passed count as not found: every `load`/`list` takes `now` for that reason, so
//!   that a store never needs a clock of its own.
//! - Creating a record whose key exists is [`StoreError::Conflict`]; it changes nothing.
//! - A backend that cannot be reached answers [`StoreError::Unavailable`] with its source; the
//!   HTTP layer turns it into `503 store_unavailable`. A row that cannot be decoded is
//!   [`StoreError::Corrupt`].
//! - Stores know nothing of HTTP or of policy: deadlines are computed by the core and stored as
//!   data.
//! - Run the shared behaviour suite (`tessera-store-tests`) against the new backend.

mod cached;
mod cached_users;
mod coherence;
mod failures;
mod feed;
mod generation;
mod mirrored_users;
mod records;

pub use cached::CachedSessionStore;
pub use cached_users::CachedUserStore;
pub use failures::{Bucket, FailureLog};
pub use feed::{Change, ChangeFeed, FeedCursor, FeedEntry, FeedRead};
pub use mirrored_users::{MirroredUserStore, UserMirror};
pub use records::{
    KeyAlgorithm, RefreshFamily, RefreshToken, Revocation, RevokedKind, RotateOutcome,
    SigningKeyRecord,
};

use std::sync::Arc;

use async_trait::async_trait;

use crate::session::SessionRecord;
use crate::user::User;
use crate::{FamilyId, SessionId, Timestamp, TokenDigest, UserId};

/// The error every store method may return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A record with the same key exists already.
    #[error("record exists already")]
    Conflict,
    /// A stored record could not be decoded.
    #[error("corrupt record")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An [`StoreError::Unavailable`] from any error.
    pub fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(e.into())
    }

    /// A [`StoreError::Corrupt`] from any error.
    pub fn corrupt(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Corrupt(e.into())
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Accounts. Usernames are unique by [`crate::user::Username::canonical`].
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user; [`StoreError::Conflict`] when the id or canonical username is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// The user with this id.
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<Arc<User>>>;
    /// The user whose canonical username is `canonical` (already lower-cased by the caller).
    async fn user_by_name(&self, canonical: &str) -> StoreResult<Option<User>>;
    /// Every user, oldest first.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Replaces the roles; the updated user, or `None` for an unknown id.
    async fn set_roles(&self, id: UserId, roles: &[String]) -> StoreResult<Option<User>>;
    /// Replaces the password hash; `false` for an unknown id.
    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool>;
    /// Removes the user; `false` for an unknown id. The caller ends their sessions first.
    async fn delete_user(&self, id: UserId) -> StoreResult<bool>;
    /// The user with this id when a read cache holds it, answered without a round trip;
    /// `None` means ask [`Self::user_by_id`]. A backend has no cache.
    fn cached_user(&self, _id: UserId) -> Option<Arc<User>> {
        None
    }
    /// Cache coherence (see [`Coherent`]); a backend has nothing to drop.
    fn coherence(&self) -> Option<&dyn Coherent> {
        None
    }
}

impl dyn UserStore {
    /// The user with this id: from the read cache when it holds it (then without the boxed
    /// future of [`UserStore::user_by_id`], which every request would allocate), else from
    /// the store.
    ///
    /// # Errors
    /// As [`UserStore::user_by_id`].
    pub async fn user(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        match self.cached_user(id) {
            Some(user) => Ok(Some(user)),
            None => self.user_by_id(id).await,
        }
    }
}

/// Sessions, keyed by the digest of their token and addressable by their public id.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Adds a session; [`StoreError::Conflict`] when its id or digest exists.
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The live session whose token has this digest (`None` when missing or past a deadline).
    async fn session_by_digest(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>>;
    /// Records a request: stores the `last_seen_at` and `idle_expires_at` of `session` on the
    /// session with its id, each only where it is later than the stored one, so a touch never
    /// moves a deadline backwards (instances' clocks differ a little). Nothing happens when that
    /// session has ended.
    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The user's live sessions, oldest first.
    async fn sessions_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Ends the session `id` if it belongs to `user_id`; the ended record, else `None`.
    async fn delete_session(
        &self,
        user_id: UserId,
        id: SessionId,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Ends every session of the user but `keep`; the ended records.
    async fn delete_sessions_of_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Removes sessions whose deadline is at or before `now`; how many.
    async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64>;
    /// The live session whose token has this digest when a read cache holds it, answered
    /// without a round trip; `None` means ask [`Self::session_by_digest`]. A backend has no
    /// cache.
    fn cached_session(&self, _digest: &TokenDigest, _now: Timestamp) -> Option<Arc<SessionRecord>> {
        None
    }
    /// Cache coherence (see [`Coherent`]); a backend has nothing to drop.
    fn coherence(&self) -> Option<&dyn Coherent> {
        None
    }
}

impl dyn SessionStore {
    /// The live session whose token has this digest: from the read cache when it holds it
    /// (then without the boxed future of [`SessionStore::session_by_digest`]), else from the
    /// store.
    ///
    /// # Errors
    /// As [`SessionStore::session_by_digest`].
    pub async fn session(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        match self.cached_session(digest, now) {
            Some(session) => Ok(Some(session)),
            None => self.session_by_digest(digest, now).await,
        }
    }
}

/// A caching store kept exact across instances by the change feed: the feed follower drops
/// the entries other instances changed, and distrusts the whole cache while it cannot hear
/// them (the cache then reads through and keeps nothing).
pub trait Coherent: Send + Sync {
    /// Another instance changed or ended what `change` names: drop any copy of it.
    fn invalidate(&self, change: &Change);
    /// Whether cached copies may answer. Turning trust off empties the cache.
    fn set_trusted(&self, trusted: bool);
}

/// Refresh-token families: one login and its rotations. Tokens are kept as digests.
#[async_trait]
pub trait RefreshStore: Send + Sync {
    /// Adds a family with its first token; [`StoreError::Conflict`] on a duplicate id or digest.
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> StoreResult<()>;
    /// The token with this digest and its family, whatever their state (the caller decides
    /// between rotation, grace and reuse). `None` when unknown.
    async fn refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> StoreResult<Option<(RefreshToken, RefreshFamily)>>;
    /// Atomically marks `spent` as spent at `now` with `successor` as its successor and inserts the
    /// successor — only if `spent` is still unspent and its family still open.
    async fn rotate(
        &self,
        spent: &TokenDigest,
        now: Timestamp,
        successor: &RefreshToken,
        sealed_successor: &[u8],
    ) -> StoreResult<RotateOutcome>;
    /// Ends a family; `false` when unknown or ended already.
    async fn end_family(&self, id: FamilyId, now: Timestamp) -> StoreResult<bool>;
    /// The ids of the user's open families at `now`.
    async fn families_of_user(&self, user_id: UserId, now: Timestamp)
    -> StoreResult<Vec<FamilyId>>;
    /// Ends every open family of the user but `keep`; the ended families' ids.
    async fn end_families_of_user(
        &self,
        user_id: UserId,
        keep: Option<FamilyId>,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>>;
    /// Drops sealed successors whose grace window closed before `grace_closed_before`, and
    /// families (with their tokens) that expired or ended before `now`; how many families.
    async fn purge_refresh(
        &self,
        now: Timestamp,
        grace_closed_before: Timestamp,
    ) -> StoreResult<u64>;
}

/// Revoked access-token ids and ended session/family ids, each kept until no token that names
/// it can still be valid.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revocation (idempotent: a second one keeps the later expiry).
    async fn revoke(&self, revocation: &Revocation) -> StoreResult<()>;
    /// Every revocation still in force at `now`.
    async fn revocations(&self, now: Timestamp) -> StoreResult<Vec<Revocation>>;
    /// Removes revocations that expired at or before `now`; how many.
    async fn purge_revocations(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Signing keys. Private material never leaves the server.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored key, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Inserts `key` only when the store holds no key at all; whether it did. Instances that
    /// start at once on an empty store thus create one key between them.
    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    /// Atomically: sets `retires_at = retire_at` on every key that has no retirement yet and
    /// inserts `key`. [`StoreError::Conflict`] on a duplicate `kid`, and then nothing changes.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_at: Timestamp,
    ) -> StoreResult<()>;
    /// Removes the key `kid`; `false` for an unknown kid.
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool>;
}

/// Whether every store answers: the readiness probe.
#[async_trait]
pub trait Health: Send + Sync {
    /// `Ok` when the backend answers now.
    async fn ping(&self) -> StoreResult<()>;
}

/// Ready only while every one of its backends is: the readiness of a deployment with more than
/// one. The backends are asked at once, so the answer takes as long as the slowest.
pub struct AllHealthy(pub Vec<Arc<dyn Health>>);

#[async_trait]
impl Health for AllHealthy {
    async fn ping(&self) -> StoreResult<()> {
        let mut pings: tokio::task::JoinSet<StoreResult<()>> = tokio::task::JoinSet::new();
        for backend in &self.0 {
            let backend = Arc::clone(backend);
            pings.spawn(async move { backend.ping().await });
        }
        while let Some(answer) = pings.join_next().await {
            answer.map_err(StoreError::unavailable)??;
        }
        Ok(())
    }
}

/// All of Tessera's state behind one value: what the server wires up and the HTTP layer uses.
#[derive(Clone)]
pub struct Stores {
    /// Accounts.
    pub users: Arc<dyn UserStore>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Refresh families.
    pub refresh: Arc<dyn RefreshStore>,
    /// Revocations.
    pub revocations: Arc<dyn RevocationStore>,
    /// Signing keys.
    pub keys: Arc<dyn KeyStore>,
    /// Login-throttle counts.
    pub failures: Arc<dyn FailureLog>,
    /// The push channel between instances; `None` for a store only one server uses.
    pub feed: Option<Arc<dyn ChangeFeed>>,
    /// Readiness of every backend.
    pub health: Arc<dyn Health>,
}
