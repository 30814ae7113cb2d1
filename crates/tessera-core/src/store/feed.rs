//! The push channel between instances: every change that makes a cached or in-memory copy
//! stale elsewhere (a revocation, an ended session, a changed user, new keys) is published here,
//! and every instance follows the feed from a cursor.

use std::time::Duration;

use async_trait::async_trait;

use super::{Revocation, StoreResult};
use crate::{Timestamp, TokenDigest, UserId};

/// A change one instance made that every instance must hear of at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A `jti` or `sid` was revoked (the revocation is in the `RevocationStore` already).
    Revoked(Revocation),
    /// A session ended: cached copies of it must go.
    SessionEnded(TokenDigest),
    /// A user's roles or password changed, or the user was removed.
    UserChanged(UserId),
    /// The signing keys changed (a rotation).
    KeysChanged,
}

/// An opaque position in a feed, as the backend spells it (a Redis stream id, say).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedCursor(pub String);

/// One change as delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    /// Its position: a reader continues after it.
    pub cursor: FeedCursor,
    /// When the publishing instance published it (by that instance's clock).
    pub published_at: Timestamp,
    /// What changed.
    pub change: Change,
}

/// What a read of the feed found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedRead {
    /// The entries after the cursor, oldest first (empty when none came within the wait).
    Entries(Vec<FeedEntry>),
    /// Entries after the cursor are no longer held (trimmed, or the feed was reset): the reader
    /// must rebuild its state from the stores and continue from [`ChangeFeed::head`].
    Gap,
}

/// The push channel between the instances of a shared deployment. The embedded store has none:
/// one process (and the operator's CLI) shares its database, and periodic reloads suffice.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Appends `change`, stamped `now`, for every instance (this one included) to read.
    async fn publish(&self, change: &Change, now: Timestamp) -> StoreResult<()>;
    /// The cursor of the newest entry now: where a reader starts after loading its state.
    async fn head(&self) -> StoreResult<FeedCursor>;
    /// Waits up to `wait` for entries after `cursor` and returns them, oldest first;
    /// [`FeedRead::Gap`] when entries after `cursor` are no longer held. Never blocks other
    /// store calls while it waits, and returns within `wait` + 1 s even when the backend is gone
    /// (then [`super::StoreError::Unavailable`]).
    async fn read_after(&self, cursor: &FeedCursor, wait: Duration) -> StoreResult<FeedRead>;
}
