//! The embedded default store: every store trait of [`tessera_core::store`] on one SQLite
//! database, `tessera.db` in the data dir, in WAL mode.
//!
//! ```no_run
//! # fn main() -> Result<(), tessera_core::store::StoreError> {
//! let stores = tessera_store_sqlite::SqliteStore::open(std::path::Path::new("tessera-data"))?.stores();
//! # let _ = stores; Ok(()) }
//! ```
//!
//! The data dir is created 0700 and the database (with its `-wal` and `-shm` files) 0600: it
//! holds password hashes and private signing keys. The schema is migrated on open
//! (`migrations`); calls run on a small pool of connections on tokio's blocking threads
//! (`pool`), so [`SqliteStore::open`]'s stores must be used inside a tokio runtime.
#![deny(missing_docs)]

mod codec;
mod error;
mod files;
mod keys;
mod migrations;
mod pool;
mod refresh;
mod revocations;
mod sessions;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::store::{Health, StoreError, StoreResult, Stores};
use tessera_core::throttle::MemoryFailureLog;

use crate::pool::Pool;

/// All of Tessera's state in one SQLite database. Cloning is cheap and shares the connections.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when missing) `data_dir` and its `tessera.db`, and migrates the schema.
    ///
    /// Blocks while it opens the connections and migrates: call it at startup, not on a
    /// request path.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the directory or file cannot be created or opened, or
    /// SQLite refuses WAL mode; [`StoreError::Corrupt`] when the file is not a database or
    /// was migrated by a newer build.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = files::prepare(data_dir)?;
        let pool = Pool::open(&path)?;
        Ok(Self {
            pool: Arc::new(pool),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All of [`Stores`] backed by this database (every field shares one pool).
    pub fn stores(self) -> Stores {
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

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.pool
            .read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}
