//! The shared deployment's fast store on Redis: sessions, revocations, login-throttle counts
//! and the change feed that tells every instance of a revocation or a change at once.
//!
//! One [`RedisStore`] implements [`SessionStore`](tessera_core::store::SessionStore),
//! [`RevocationStore`](tessera_core::store::RevocationStore),
//! [`FailureLog`](tessera_core::store::FailureLog),
//! [`ChangeFeed`](tessera_core::store::ChangeFeed) and [`Health`]; users, refresh families and signing keys live in PostgreSQL.
//! Every key is under `NAMESPACE:`, so several deployments (or test cases) can share a Redis.
//!
//! # Keys
//! | key | type | holds |
//! | --- | --- | --- |
//! | `NS:s:<digest>` | string | one session, packed (67 bytes, then user agent and ip); its TTL is the time left to the earlier deadline |
//! | `NS:u:<user id>` | sorted set | the user's sessions: member `id ‖ digest` (48 raw bytes), score the earlier deadline |
//! | `NS:r` | sorted set | revocations: member `kind ‖ id`, score the expiry |
//! | `NS:f:<sha256 hex>` | sorted set | throttle entries of one bucket: member the attempt, score its time |
//! | `NS:feed`, `NS:feed:epoch` | stream, string | the change feed and the identity of its current life |
//!
//! Digests and ids are raw bytes; keys built from client text (throttle keys) are SHA-256
//! hashed. Whatever must be atomic or one round trip is one Lua script. The store needs a
//! standalone Redis (or a Sentinel-managed primary) of version 7.0 or later, run with
//! `maxmemory-policy noeviction`; it does not support Redis Cluster (its scripts touch keys
//! they derive from others).
//!
//! # Time
//! Deadlines are the core's, passed in as data; reads compare them with the caller's `now`.
//! TTLs are set relative (`PEXPIRE`) from the record's own clock reading (`created_at` for a
//! new session, `last_seen_at` for a touch), so the Redis host's clock never matters and a key
//! lives exactly as long as its record can be live.
//!
//! # Memory
//! Measured on Redis 7.0 (`memory_per_session` in `tests/redis.rs`): 100 000 sessions of as
//! many users, each with a 111-character user agent, take 588 bytes each, of which 330 are
//! Redis's own overhead of two keys with a TTL (165 each): 258 bytes per session beyond it.
#![deny(missing_docs)]

mod codec;
mod conn;
mod error;
mod failures;
mod feed;
mod keys;
mod revocations;
mod sessions;
mod users;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tessera_core::store::{AllHealthy, Health, StoreError, StoreResult, Stores};

pub use error::ConnectError;

use conn::Conn;
use keys::Keys;

/// Tuning of a [`RedisStore`]; [`RedisOptions::default`] suits production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long one call may wait for Redis (connecting included) before it fails with
    /// [`StoreError::Unavailable`]. Default 1 s.
    pub timeout: Duration,
    /// About how many entries the change feed keeps (approximate `MAXLEN` trimming). A reader
    /// further behind than this sees a gap and reloads. Default 100 000.
    pub feed_max_len: u64,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            feed_max_len: 100_000,
        }
    }
}

/// Sessions, revocations, throttle counts and the change feed in one Redis.
///
/// Cloning is cheap; clones share the connections. The connections reconnect by themselves:
/// while Redis is unreachable every call fails within [`RedisOptions::timeout`] with
/// [`StoreError::Unavailable`], and calls succeed again as soon as it is back.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    /// The feed's blocking reads run here, never on `conn`, so they stall nothing else.
    feed_conn: Conn,
    keys: Keys,
    options: RedisOptions,
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[[user]:password@]host[:port][/db]`) with
    /// [`RedisOptions::default`], keeping every key under `namespace:`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] with a [`ConnectError`] source when the URL or the namespace
    /// is malformed, Redis cannot be reached or refuses the credentials, or it is older than 7.0.
    /// No message contains the password.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, namespace, RedisOptions::default()).await
    }

    /// As [`RedisStore::connect`], with `options`.
    ///
    /// # Errors
    /// As [`RedisStore::connect`].
    pub async fn connect_with(
        url: &str,
        namespace: &str,
        options: RedisOptions,
    ) -> Result<Self, StoreError> {
        let keys = Keys::new(namespace).map_err(StoreError::unavailable)?;
        let (conn, feed_conn) = conn::open(url, options.timeout)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Self {
            conn,
            feed_conn,
            keys,
            options,
        })
    }

    /// The namespace every key is under.
    pub fn namespace(&self) -> &str {
        self.keys.namespace()
    }

    /// The Redis server this store talks to, as `host:port` (never with credentials).
    pub fn target(&self) -> &str {
        self.conn.target()
    }

    /// `base` with this store's parts over it: sessions, revocations, failures and the feed
    /// come from Redis; users, refresh families and keys stay `base`'s; health is ready only
    /// when both Redis and `base`'s health are.
    ///
    /// ```no_run
    /// # async fn example(postgres_parts: tessera_core::store::Stores) -> Result<(), tessera_core::store::StoreError> {
    /// let redis = tessera_store_redis::RedisStore::connect("redis://127.0.0.1:6379", "tessera").await?;
    /// let stores = redis.stores_over(postgres_parts);
    /// # let _ = stores; Ok(()) }
    /// ```
    pub fn stores_over(self, base: Stores) -> Stores {
        let shared = Arc::new(self);
        let health = Arc::new(AllHealthy(vec![shared.clone(), base.health.clone()]));
        Stores {
            sessions: shared.clone(),
            revocations: shared.clone(),
            failures: shared.clone(),
            feed: Some(shared),
            health,
            ..base
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: show only where and under which namespace.
        f.debug_struct("RedisStore")
            .field("target", &self.conn.target())
            .field("namespace", &self.keys.namespace())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Health for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        self.conn.cmd(&redis::cmd("PING")).await.map(drop)
    }
}
