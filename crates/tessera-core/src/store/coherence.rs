//! What the caching stores share: whether their entries may answer, and a generation counter
//! that keeps reads racing invalidations from putting a stale record back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::generation::Generation;

/// How a caching store decides whether an entry may answer.
pub(super) struct Trust {
    trusted: AtomicBool,
    /// `None`: entries never age (a change feed keeps them exact); else the longest an entry is
    /// believed before it is read again (the bound on seeing another process's writes).
    max_age: Option<Duration>,
    pub(super) changes: Generation,
}

impl Trust {
    pub(super) fn new(max_age: Option<Duration>) -> Self {
        Self {
            trusted: AtomicBool::new(true),
            max_age,
            changes: Generation::default(),
        }
    }

    /// Whether an entry cached at `cached_at` may answer now.
    pub(super) fn fresh(&self, cached_at: Instant) -> bool {
        self.trusted.load(Ordering::Acquire)
            && self.max_age.is_none_or(|max_age| cached_at.elapsed() < max_age)
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
