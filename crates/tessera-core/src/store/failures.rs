//! Where the login throttle counts failures: sliding windows of attempts per key.

use async_trait::async_trait;

use super::StoreResult;
use crate::Timestamp;

/// One throttle bucket: a key and how many failures it may hold within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket<'a> {
    /// The counted key (an account or a client address, as the throttle names it).
    pub key: &'a str,
    /// Failures allowed within the window.
    pub limit: u32,
}

/// Where failed (and in-flight) password checks are counted. The embedded server keeps them in
/// memory; a shared store lets every instance see the same counts.
#[async_trait]
pub trait FailureLog: Send + Sync {
    /// Atomically, over all `buckets`: when every bucket holds fewer than its `limit` entries
    /// later than `since`, records the attempt `attempt` (a unique id) at `now` under every
    /// bucket's key, each keeping at most its newest `limit` entries, and returns `Ok(Ok(()))`.
    /// Otherwise it records nothing and returns `Ok(Err(blocking))`: for each full bucket, the
    /// entry whose leaving the window would let an attempt in again (its `limit`-th newest);
    /// `blocking` is the latest of those.
    async fn try_record(
        &self,
        buckets: &[Bucket<'_>],
        attempt: &str,
        now: Timestamp,
        since: Timestamp,
    ) -> StoreResult<Result<(), Timestamp>>;
    /// Withdraws the entry of `attempt` under `key` (an attempt that did not fail after all).
    async fn withdraw(&self, key: &str, attempt: &str) -> StoreResult<()>;
    /// Forgets every entry under `key`.
    async fn clear(&self, key: &str) -> StoreResult<()>;
    /// Forgets entries at or before `before` under every key (a store whose keys expire by
    /// themselves may do nothing).
    async fn prune(&self, before: Timestamp) -> StoreResult<()>;
}
