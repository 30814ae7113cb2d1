//! What the caching stores share: whether their entries may answer, and a generation counter
//! that keeps reads racing invalidations from putting a stale record back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::generation::Generation;
use crate::{Clock, Timestamp};

/// How a caching store decides whether an entry may answer.
pub(super) struct Trust {
    trusted: AtomicBool,
    /// `None`: entries never age (a change feed keeps them exact); else the longest an entry is
    /// believed before it is read again (the bound on seeing another process's writes).
    max_age: Option<Duration>,
    /// The clock entries are stamped and aged by: the server's, so tests move it.
    clock: Arc<dyn Clock>,
    pub(super) changes: Generation,
}

impl Trust {
    pub(super) fn new(max_age: Option<Duration>, clock: Arc<dyn Clock>) -> Self {
        Self {
            trusted: AtomicBool::new(true),
            max_age,
            clock,
            changes: Generation::default(),
        }
    }

    /// The time to stamp an entry cached now with.
    pub(super) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Whether an entry cached at `cached_at` may answer now. `now` gives the clock's time,
    /// asked only when entries age (a caller that has read the clock already passes it on). A
    /// clock that went back past `cached_at` makes the entry stale rather than young.
    pub(super) fn fresh(&self, cached_at: Timestamp, now: impl FnOnce() -> Timestamp) -> bool {
        self.trusted.load(Ordering::Acquire)
            && self.max_age.is_none_or(|max_age| {
                let now = now();
                cached_at <= now && now < cached_at.plus(max_age)
            })
    }

    /// Whether a record just read may be kept.
    pub(super) fn may_keep(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Sets trust; returns whether it was just turned off (the caller empties its cache).
    pub(super) fn set(&self, trusted: bool) -> bool {
        // A read in flight must not cache what it loaded before the change of trust.
        self.changes.bump();
        self.trusted.swap(trusted, Ordering::AcqRel) && !trusted
    }
}
