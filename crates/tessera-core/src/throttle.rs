//! Login throttling: sliding windows of failed password checks, per account and per client
//! address, consulted before any password is hashed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::Timestamp;
use crate::secret::random_bytes;
use crate::store::{Bucket, FailureLog, StoreError, StoreResult};

/// A [`FailureLog`] in this process's memory: the embedded server's.
#[derive(Default)]
pub struct MemoryFailureLog {
    entries: Mutex<HashMap<String, VecDeque<(Timestamp, String)>>>,
}

impl MemoryFailureLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<(Timestamp, String)>>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl FailureLog for MemoryFailureLog {
    async fn try_record(
        &self,
        buckets: &[Bucket<'_>],
        attempt: &str,
        now: Timestamp,
        since: Timestamp,
    ) -> StoreResult<Result<(), Timestamp>> {
        let mut entries = self.lock();
        let mut blocking: Option<Timestamp> = None;
        for bucket in buckets {
            let limit = bucket.limit.max(1) as usize;
            let Some(list) = entries.get(bucket.key) else {
                continue;
            };
            let recent: Vec<Timestamp> = list
                .iter()
                .map(|(at, _)| *at)
                .filter(|at| *at > since)
                .collect();
            if recent.len() >= limit {
                // In time order: the limit-th newest is the one whose leaving lets one in.
                let entry = recent[recent.len() - limit];
                blocking = Some(blocking.map_or(entry, |b| b.max(entry)));
            }
        }
        if let Some(blocking) = blocking {
            return Ok(Err(blocking));
        }
        for bucket in buckets {
            let list = entries.entry(bucket.key.to_owned()).or_default();
            list.push_back((now, attempt.to_owned()));
            while list.len() > bucket.limit.max(1) as usize {
                list.pop_front();
            }
        }
        Ok(Ok(()))
    }

    async fn withdraw(&self, key: &str, attempt: &str) -> StoreResult<()> {
        let mut entries = self.lock();
        if let Some(list) = entries.get_mut(key)
            && let Some(i) = list.iter().rposition(|(_, id)| id == attempt)
        {
            list.remove(i);
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        self.lock().remove(key);
        Ok(())
    }

    async fn prune(&self, before: Timestamp) -> StoreResult<()> {
        self.lock().retain(|_, list| {
            list.retain(|(at, _)| *at > before);
            !list.is_empty()
        });
        Ok(())
    }
}

/// Why an attempt was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A limit is reached: try again after this long.
    #[error("too many attempts")]
    TooManyAttempts(Duration),
    /// The failure log could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The throttle's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failures per username within the window before attempts are refused.
    pub account_failures: u32,
    /// Failures per client address within the window before attempts are refused.
    pub address_failures: u32,
    /// The sliding window.
    pub window: Duration,
    /// Signups (`POST /v1/users`) per client address within the window.
    pub signup_per_address: u32,
    /// How much of an IPv6 address names one client (64: its /64, what one host or site is
    /// usually given); IPv4 addresses count whole.
    pub ipv6_prefix: u8,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            account_failures: 5,
            address_failures: 100,
            window: Duration::from_secs(15 * 60),
            signup_per_address: 20,
            ipv6_prefix: 64,
        }
    }
}

/// A password check in progress. It counts as a failure from the moment it is admitted, so
/// concurrent attempts cannot all slip under the limit while their hashes run; a success
/// withdraws it.
#[derive(Debug)]
#[must_use = "report the outcome with LoginThrottle::succeeded or ::abandoned"]
pub struct Attempt {
    account: String,
    address: String,
    id: String,
}

/// Decides whether a login attempt may proceed, and counts failures.
#[derive(Clone)]
pub struct LoginThrottle {
    log: Arc<dyn FailureLog>,
    limits: ThrottleLimits,
}

impl LoginThrottle {
    /// A throttle with `limits` over `log`.
    pub fn new(log: Arc<dyn FailureLog>, limits: ThrottleLimits) -> Self {
        Self { log, limits }
    }

    /// Admits an attempt for the account (`canonical_username`) from `address`, counting it as
    /// a failure until [`Self::succeeded`] or [`Self::abandoned`] says otherwise. Both limits
    /// are checked and counted in one atomic step of the failure log.
    ///
    /// # Errors
    /// [`Refusal::TooManyAttempts`] with the time until an attempt would be accepted again,
    /// when either limit is reached (nothing is counted then); [`Refusal::Store`] when the log
    /// cannot be reached.
    pub async fn begin(
        &self,
        canonical_username: &str,
        address: &str,
        now: Timestamp,
    ) -> Result<Attempt, Refusal> {
        let since = now.minus(self.limits.window);
        let account = account_key(canonical_username);
        let address = address_key(address, self.limits.ipv6_prefix);
        // Unique across instances, so a withdrawal takes back exactly this attempt's entry.
        let id = format!("{:032x}", u128::from_le_bytes(random_bytes()));
        let buckets = [
            Bucket {
                key: &account,
                limit: self.limits.account_failures,
            },
            Bucket {
                key: &address,
                limit: self.limits.address_failures,
            },
        ];
        match self.log.try_record(&buckets, &id, now, since).await? {
            Ok(()) => Ok(Attempt {
                account,
                address,
                id,
            }),
            Err(blocking) => Err(self.refusal(blocking, now)),
        }
    }

    /// Admits a signup from `address`: every admitted signup counts (it costs a hash and may
    /// add a row), within the same sliding window as failed logins.
    ///
    /// # Errors
    /// [`Refusal::TooManyAttempts`] past `signup_per_address` signups in the window (nothing is
    /// counted then); [`Refusal::Store`] when the log cannot be reached.
    pub async fn begin_signup(&self, address: &str, now: Timestamp) -> Result<(), Refusal> {
        let since = now.minus(self.limits.window);
        let key = format!("signup:{}", address_key(address, self.limits.ipv6_prefix));
        let id = format!("{:032x}", u128::from_le_bytes(random_bytes()));
        let buckets = [Bucket {
            key: &key,
            limit: self.limits.signup_per_address,
        }];
        match self.log.try_record(&buckets, &id, now, since).await? {
            Ok(()) => Ok(()),
            Err(blocking) => Err(self.refusal(blocking, now)),
        }
    }

    fn refusal(&self, blocking: Timestamp, now: Timestamp) -> Refusal {
        let wait = blocking.plus(self.limits.window).since(now);
        Refusal::TooManyAttempts(wait.max(Duration::from_millis(1)))
    }

    /// The password was right: the attempt is withdrawn and the account's count reset.
    ///
    /// # Errors
    /// When the failure log cannot be reached.
    pub async fn succeeded(&self, attempt: Attempt) -> StoreResult<()> {
        self.log.clear(&attempt.account).await?;
        self.log.withdraw(&attempt.address, &attempt.id).await
    }

    /// The attempt ended without a password verdict (a store error): it does not count.
    ///
    /// # Errors
    /// When the failure log cannot be reached.
    pub async fn abandoned(&self, attempt: Attempt) -> StoreResult<()> {
        self.log.withdraw(&attempt.account, &attempt.id).await?;
        self.log.withdraw(&attempt.address, &attempt.id).await
    }

    /// Forgets failures that left the window (background housekeeping).
    ///
    /// # Errors
    /// When the failure log cannot be reached.
    pub async fn prune(&self, now: Timestamp) -> StoreResult<()> {
        self.log.prune(now.minus(self.limits.window)).await
    }
}

fn account_key(canonical_username: &str) -> String {
    format!("account:{canonical_username}")
}

/// The key of a client address: an IPv4 address whole, an IPv6 address by its first `prefix`
/// bits (one /64 is 2^64 addresses a single client can pick from).
fn address_key(address: &str, ipv6_prefix: u8) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let prefix = ipv6_prefix.clamp(1, 128);
            let mask = u128::MAX << (128 - u32::from(prefix));
            let network = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            format!("address:{network}/{prefix}")
        }
        _ => format!("address:{address}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(account: u32, address: u32) -> LoginThrottle {
        let limits = ThrottleLimits {
            account_failures: account,
            address_failures: address,
            window: Duration::from_secs(900),
            ..ThrottleLimits::default()
        };
        LoginThrottle::new(Arc::new(MemoryFailureLog::default()), limits)
    }

    fn refused_for(outcome: Result<Attempt, Refusal>) -> Option<Duration> {
        match outcome {
            Err(Refusal::TooManyAttempts(wait)) => Some(wait),
            _ => None,
        }
    }

    #[tokio::test]
    async fn account_limit_with_sliding_window() {
        let t = throttle(3, 100);
        let t0 = Timestamp::from_secs(10_000);
        for i in 0..3 {
            // Failed attempts: admitted, never withdrawn.
            let _ = t
                .begin("alice", "1.2.3.4", t0.plus(Duration::from_secs(i)))
                .await
                .expect("admitted");
        }
        let now = t0.plus(Duration::from_secs(10));
        // The first failure (at t0) leaves the window at t0 + 900 s.
        assert_eq!(
            refused_for(t.begin("alice", "5.6.7.8", now).await),
            Some(Duration::from_secs(890))
        );
        assert!(
            t.begin("bob", "5.6.7.8", now).await.is_ok(),
            "another account is unaffected"
        );
        assert!(
            t.begin("alice", "1.2.3.4", t0.plus(Duration::from_secs(900)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn concurrent_attempts_cannot_exceed_the_limit() {
        let t = throttle(5, 100);
        let now = Timestamp::from_secs(50);
        // Thirty attempts in flight at once (none has a verdict yet): five are admitted.
        let mut admitted = Vec::new();
        for _ in 0..30 {
            if let Ok(attempt) = t.begin("bob", "9.9.9.9", now).await {
                admitted.push(attempt);
            }
        }
        assert_eq!(admitted.len(), 5);
    }

    #[tokio::test]
    async fn a_refused_attempt_counts_nothing_and_success_resets_the_account() {
        let t = throttle(2, 3);
        let now = Timestamp::from_secs(50);
        let _ = t.begin("a", "1.1.1.1", now).await.unwrap();
        let _ = t.begin("b", "1.1.1.1", now).await.unwrap();
        let _ = t.begin("c", "1.1.1.1", now).await.unwrap();
        // The address is full: refused, and "d" gets no entry for it.
        assert!(t.begin("d", "1.1.1.1", now).await.is_err());
        let _ = t.begin("d", "2.2.2.2", now).await.unwrap();
        assert!(
            t.begin("d", "2.2.2.2", now).await.is_ok(),
            "the refused attempt did not count for d"
        );
        // "e" fails once, then succeeds: its count starts again from zero.
        let _ = t.begin("e", "3.3.3.3", now).await.unwrap();
        let ok = t.begin("e", "3.3.3.3", now).await.unwrap();
        t.succeeded(ok).await.unwrap();
        let _ = t.begin("e", "3.3.3.3", now).await.unwrap();
        assert!(
            t.begin("e", "3.3.3.3", now).await.is_ok(),
            "one failure since the success"
        );
    }

    #[tokio::test]
    async fn the_larger_wait_wins_when_both_limits_apply() {
        let t = throttle(1, 2);
        let t0 = Timestamp::from_secs(10_000);
        let _ = t.begin("a", "1.1.1.1", t0).await.unwrap();
        let _ = t
            .begin("b", "1.1.1.1", t0.plus(Duration::from_secs(5)))
            .await
            .unwrap();
        // "a" is full since t0 (free at t0 + 900), the address since t0 (free at t0 + 900,
        // its 2nd newest entry): the later of the two blocking entries decides.
        let now = t0.plus(Duration::from_secs(10));
        let _ = t
            .begin("c", "2.2.2.2", t0.plus(Duration::from_secs(8)))
            .await
            .unwrap();
        assert_eq!(
            refused_for(t.begin("c", "1.1.1.1", now).await),
            Some(Duration::from_secs(898))
        );
    }

    #[tokio::test]
    async fn an_abandoned_attempt_does_not_count() {
        let t = throttle(1, 100);
        let now = Timestamp::from_secs(50);
        let attempt = t.begin("a", "1.1.1.1", now).await.unwrap();
        assert!(t.begin("a", "1.1.1.1", now).await.is_err());
        t.abandoned(attempt).await.unwrap();
        assert!(t.begin("a", "1.1.1.1", now).await.is_ok());
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_prefix() {
        assert_eq!(
            address_key("2001:db8:1:2:3:4:5:6", 64),
            "address:2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key("2001:db8:1:2:3:4:5:6", 48),
            "address:2001:db8:1::/48"
        );
        assert_eq!(address_key("2001:db8::1", 128), "address:2001:db8::1/128");
        assert_eq!(address_key("1.2.3.4", 64), "address:1.2.3.4");
        assert_eq!(address_key("unknown", 64), "address:unknown");
    }
}
