//! Following the change feed: what other instances change reaches this one's caches,
//! revocation set and key ring within one round trip of the push channel.
//!
//! While the feed cannot be read the caches are distrusted (they read through to the stores
//! and keep nothing); when it answers again the reader catches up from its cursor, or, when the
//! feed no longer holds entries that far back, rebuilds its state from the stores. JWT checks
//! trust the last known revocations for at most `revocation.max_staleness` after the feed was
//! last heard.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::{Auth, AuthError};
use crate::Timestamp;
use crate::store::{Change, ChangeFeed, FeedCursor, FeedEntry, FeedRead};

/// How long one read of the feed waits for news.
const READ_WAIT: Duration = Duration::from_secs(1);
/// The pause before trying a feed that failed again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// When the feed last answered (milliseconds by the service's clock).
pub(super) struct FeedStatus {
    heard_at_ms: AtomicI64,
}

impl FeedStatus {
    pub(super) fn new(now: Timestamp) -> Self {
        Self {
            heard_at_ms: AtomicI64::new(now.as_millis()),
        }
    }

    fn heard(&self, now: Timestamp) {
        self.heard_at_ms
            .fetch_max(now.as_millis(), Ordering::AcqRel);
    }

    fn silent_for(&self, now: Timestamp) -> Duration {
        now.since(Timestamp::from_millis(
            self.heard_at_ms.load(Ordering::Acquire),
        ))
    }
}

impl Auth {
    /// Follows the change feed for as long as the returned future is polled (the server runs
    /// it as a background task); returns at once when the stores have no feed.
    pub async fn follow_changes(&self) {
        let Some(feed) = self.stores.feed.clone() else {
            return;
        };
        let mut cursor: Option<FeedCursor> = None;
        let mut trusted = true;
        loop {
            let step = match &cursor {
                None => self.resync(feed.as_ref()).await.map(Some),
                Some(at) => self.read_feed(feed.as_ref(), at).await,
            };
            match step {
                Ok(next) => {
                    if next.is_none() {
                        tracing::warn!("the change feed lost entries; rebuilding from the stores");
                    }
                    cursor = next;
                    if !trusted && cursor.is_some() {
                        self.trust_caches(true);
                        trusted = true;
                        tracing::info!("change feed back and caught up");
                    }
                }
                Err(e) => {
                    if trusted {
                        self.trust_caches(false);
                        trusted = false;
                        tracing::warn!(error = %e, "change feed unreachable; caches bypassed until it is back");
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// Whether the revocations this instance holds may still be trusted for a JWT check: always
    /// without a feed, else while the feed was heard within `revocation.max_staleness`.
    pub(super) fn revocations_are_fresh(&self) -> bool {
        self.stores.feed.is_none()
            || self.feed_status.silent_for(self.now()) <= self.settings.revocation_max_staleness
    }

    /// Rebuilds what the feed would have told: caches emptied, revocations and keys reloaded.
    /// Returns the cursor to continue from.
    async fn resync(&self, feed: &dyn ChangeFeed) -> Result<FeedCursor, AuthError> {
        self.trust_caches(false);
        let head = feed.head().await?;
        self.reload_revocations().await?;
        self.reload_keys().await?;
        self.trust_caches(true);
        self.feed_status.heard(self.now());
        Ok(head)
    }

    /// One read of the feed after `cursor`: the new cursor, or `None` after a gap.
    async fn read_feed(
        &self,
        feed: &dyn ChangeFeed,
        cursor: &FeedCursor,
    ) -> Result<Option<FeedCursor>, AuthError> {
        let entries = match feed.read_after(cursor, READ_WAIT).await? {
            FeedRead::Gap => return Ok(None),
            FeedRead::Entries(entries) => entries,
        };
        let mut next = cursor.clone();
        for entry in entries {
            self.apply(&entry).await;
            next = entry.cursor;
        }
        self.feed_status.heard(self.now());
        Ok(Some(next))
    }

    /// Applies one change another instance (or this one) published.
    async fn apply(&self, entry: &FeedEntry) {
        let now = self.now();
        match &entry.change {
            Change::Revoked(revocation) => {
                if self.tokens.revocations.insert(revocation, now) {
                    self.revocation_events.send(revocation.clone());
                    let delay = now.since(entry.published_at);
                    metrics::histogram!("tessera_revocation_propagation_seconds")
                        .record(delay.as_secs_f64());
                }
            }
            Change::SessionEnded(_) => {
                if let Some(cache) = self.stores.sessions.coherence() {
                    cache.invalidate(&entry.change);
                }
            }
            Change::UserChanged(_) => {
                if let Some(cache) = self.stores.users.coherence() {
                    cache.invalidate(&entry.change);
                }
            }
            Change::KeysChanged => {
                if let Err(e) = self.reload_keys().await {
                    // The periodic key sync retries.
                    tracing::warn!(error = %e, "reloading keys after a rotation failed");
                }
            }
        }
    }

    fn trust_caches(&self, trusted: bool) {
        if let Some(cache) = self.stores.sessions.coherence() {
            cache.set_trusted(trusted);
        }
        if let Some(cache) = self.stores.users.coherence() {
            cache.set_trusted(trusted);
        }
    }
}
