//! The shared store of accounts, signing keys and refresh families on PostgreSQL: the
//! [`UserStore`](tessera_core::store::UserStore), [`KeyStore`](tessera_core::store::KeyStore),
//! [`RefreshStore`](tessera_core::store::RefreshStore) and [`Health`] of a deployment with several
//! Tessera instances. Sessions, revocations, throttle counts and the change feed live in Redis
//! (`tessera-store-redis`); [`PostgresStore::stores_over`] puts this store's parts over theirs.
//!
//! ```no_run
//! # async fn example(redis_parts: tessera_core::store::Stores) -> Result<(), tessera_core::store::StoreError> {
//! let postgres = tessera_store_postgres::PostgresStore::connect("postgres://tessera:pw@127.0.0.1:5432/tessera").await?;
//! let stores = postgres.stores_over(redis_parts);
//! # let _ = stores; Ok(()) }
//! ```
//!
//! Connecting migrates the schema under an advisory lock (`migrations`), so instances that
//! start at once migrate once. Every call is bounded by [`CALL_TIMEOUT`]: when PostgreSQL is
//! gone it fails fast with [`StoreError::Unavailable`], and once it is back the pool reconnects
//! by itself. No error, log line or `Debug` output repeats the URL's password.
#![deny(missing_docs)]

mod codec;
mod error;
mod keys;
mod migrations;
mod refresh;
mod url;
mod users;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tessera_core::store::{Health, StoreError, StoreResult, Stores};

use crate::error::{ConnectError, DbResult, TimedOut};
use crate::url::Target;

pub use migrations::SCHEMA_VERSION;

/// The longest a store call may take before it is [`StoreError::Unavailable`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a call waits for a pooled connection (or for a new one to be opened).
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(900);
/// The longest the first connection at start-up may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest migrating at start-up may take (waiting for another instance's included).
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections per instance.
const MAX_CONNECTIONS: u32 = 16;
/// Idle connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Users, signing keys and refresh families in one PostgreSQL database. Cloning is cheap and
/// shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    shown: Arc<str>,
}

impl PostgresStore {
    /// Connects to the database of `url` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`),
    /// migrates its schema, and opens a pool that reconnects by itself.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is malformed, the server cannot be reached or
    /// refuses the credentials, or a migration fails; [`StoreError::Corrupt`] when the database
    /// was migrated by a newer build. The error's text says which, and never holds the password.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let target = Target::parse(url)?;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::unavailable(ConnectError(target.scrub(&format!(
                "cannot {what} PostgreSQL at {}: {e}",
                target.shown
            ))))
        };
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, target.options.connect())
            .await
            .map_err(|_| fail("connect to", &TimedOut(CONNECT_TIMEOUT)))?
            .map_err(|e| fail("connect to", &e))?;
        match tokio::time::timeout(MIGRATE_TIMEOUT, migrations::migrate(&mut conn)).await {
            Err(_) => return Err(fail("migrate", &TimedOut(MIGRATE_TIMEOUT))),
            Ok(Err(e)) => {
                return Err(match StoreError::from(e) {
                    StoreError::Unavailable(e) => fail("migrate", &e),
                    other => other,
                });
            }
            Ok(Ok(())) => {}
        }
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Some(IDLE_TIMEOUT))
            .test_before_acquire(true)
            .connect_lazy_with(target.options);
        Ok(PostgresStore {
            pool,
            shown: target.shown.into(),
        })
    }

    /// `base` with its users, signing keys, refresh families and health taken from this store
    /// (its sessions, revocations, failure log and feed kept). A deployment that has a second
    /// backend combines the two health checks itself.
    pub fn stores_over(self, base: Stores) -> Stores {
        let shared = Arc::new(self);
        Stores {
            users: shared.clone(),
            refresh: shared.clone(),
            keys: shared.clone(),
            health: shared,
            ..base
        }
    }

    /// Runs one call's queries within [`CALL_TIMEOUT`].
    async fn call<T>(&self, op: impl Future<Output = DbResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(CALL_TIMEOUT, op).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::unavailable(TimedOut(CALL_TIMEOUT))),
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("server", &self.shown)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Health for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        self.call(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }
}
