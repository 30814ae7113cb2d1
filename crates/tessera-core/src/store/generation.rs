//! Keeps the caching stores exact for this process's own writes when reads and writes race.
//!
//! A read that misses the cache loads the record from the backend and then caches it; a write
//! that ends or changes the record may slip in between and remove the entry before the read puts
//! the old record back. Writers bump the generation before they write; a read caches what it
//! loaded only under the generation it started with, and takes it back out otherwise.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

/// Counts writes that invalidate cached entries.
#[derive(Default)]
pub(super) struct Generation(AtomicU64);

impl Generation {
    /// The generation a read starts under.
    pub(super) fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Called by a writer before it writes to the backend (and drops the cached entry after).
    pub(super) fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Caches `value` loaded under generation `seen`, unless a write has happened since.
    pub(super) fn insert<K, V>(&self, cache: &Cache<K, V>, seen: u64, key: K, value: V)
    where
        K: Eq + Hash + Clone,
        V: Clone,
    {
        cache.insert(key.clone(), value);
        if self.current() != seen {
            cache.remove(&key);
        }
    }
}
