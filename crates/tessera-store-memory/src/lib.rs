//! In-memory stores: the reference implementation of every trait in [`tessera_core::store`], and
//! the test double of the crates above it.
//!
//! Each area keeps plain maps behind one [`std::sync::Mutex`]; every method takes the lock once,
//! so each call is atomic. Clarity wins over speed here: this store is what the behaviour suite
//! (`tessera-store-tests`) is checked against first, and what the other backends must match.
#![deny(missing_docs)]

mod keys;
mod refresh;
mod revocations;
mod sessions;
mod users;

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tessera_core::store::{Health, StoreResult, Stores};
use tessera_core::throttle::MemoryFailureLog;

/// Every store in process memory. Nothing survives the process.
#[derive(Default)]
pub struct MemoryStore {
    users: Mutex<users::Users>,
    sessions: Mutex<sessions::Sessions>,
    refresh: Mutex<refresh::Refresh>,
    revocations: Mutex<revocations::Revocations>,
    keys: Mutex<keys::Keys>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// All of [`Stores`] backed by one new, empty `MemoryStore`.
    pub fn stores() -> Stores {
        Self::new().into_stores()
    }

    /// All of [`Stores`] backed by this instance (every field points at it).
    pub fn into_stores(self) -> Stores {
        let shared = Arc::new(self);
        Stores {
            users: shared.clone(),
            sessions: shared.clone(),
            refresh: shared.clone(),
            revocations: shared.clone(),
            keys: shared.clone(),
            health: shared,
            failures: Arc::new(MemoryFailureLog::default()),
            feed: None,
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The maps hold password hashes and private keys: show nothing of them.
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

/// Locks `mutex`, carrying on after a panic elsewhere: every method leaves its maps consistent
/// before anything can panic, so a poisoned lock guards valid data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Health for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}
