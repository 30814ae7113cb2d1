//! Login throttling: sliding windows of failed password checks, per account and per client
//! address, consulted before any password is hashed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Timestamp;

/// Where failures are remembered. The embedded server keeps them in memory; a shared store lets
/// every instance see the same counts.
pub trait FailureLog: Send + Sync {
    /// Records a failure under `key` at `now`, keeping at most the newest `keep` entries.
    fn record(&self, key: &str, now: Timestamp, keep: usize);
    /// The failures under `key` after `since`, oldest first.
    fn failures_since(&self, key: &str, since: Timestamp) -> Vec<Timestamp>;
    /// Forgets every failure under `key`.
    fn clear(&self, key: &str);
    /// Forgets failures at or before `before` under every key.
    fn prune(&self, before: Timestamp);
}

/// A [`FailureLog`] in this process's memory.
#[derive(Default)]
pub struct MemoryFailureLog {
    entries: Mutex<HashMap<String, VecDeque<Timestamp>>>,
}

impl MemoryFailureLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Timestamp>>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl FailureLog for MemoryFailureLog {
    fn record(&self, key: &str, now: Timestamp, keep: usize) {
        let mut entries = self.lock();
        let list = entries.entry(key.to_owned()).or_default();
        list.push_back(now);
        while list.len() > keep.max(1) {
            list.pop_front();
        }
    }

    fn failures_since(&self, key: &str, since: Timestamp) -> Vec<Timestamp> {
        self.lock()
            .get(key)
            .map(|list| list.iter().copied().filter(|t| *t > since).collect())
            .unwrap_or_default()
    }

    fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn prune(&self, before: Timestamp) {
        self.lock().retain(|_, list| {
            list.retain(|t| *t > before);
            !list.is_empty()
        });
    }
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
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            account_failures: 5,
            address_failures: 100,
            window: Duration::from_secs(15 * 60),
        }
    }
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

    /// `Err(retry_after)` when the attempt must be refused: the time until an attempt for both
    /// the account (`canonical_username`) and the address would be accepted again.
    ///
    /// # Errors
    /// The wait, when either limit is reached.
    pub fn check(
        &self,
        canonical_username: &str,
        address: &str,
        now: Timestamp,
    ) -> Result<(), Duration> {
        let wait = self
            .wait(
                &account_key(canonical_username),
                self.limits.account_failures,
                now,
            )
            .max(self.wait(&address_key(address), self.limits.address_failures, now));
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed password check.
    pub fn record_failure(&self, canonical_username: &str, address: &str, now: Timestamp) {
        self.log.record(
            &account_key(canonical_username),
            now,
            self.limits.account_failures as usize,
        );
        self.log.record(
            &address_key(address),
            now,
            self.limits.address_failures as usize,
        );
    }

    /// A successful login resets its account's count.
    pub fn record_success(&self, canonical_username: &str) {
        self.log.clear(&account_key(canonical_username));
    }

    /// Forgets failures that left the window (background housekeeping).
    pub fn prune(&self, now: Timestamp) {
        self.log.prune(now.minus(self.limits.window));
    }

    fn wait(&self, key: &str, limit: u32, now: Timestamp) -> Duration {
        let limit = limit.max(1) as usize;
        let recent = self.log.failures_since(key, now.minus(self.limits.window));
        if recent.len() < limit {
            return Duration::ZERO;
        }
        // Accepted again once enough failures leave the window that fewer than `limit` remain.
        let must_expire = recent[recent.len() - limit];
        must_expire.plus(self.limits.window).since(now)
    }
}

fn account_key(canonical_username: &str) -> String {
    format!("account:{canonical_username}")
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(account: u32, address: u32) -> LoginThrottle {
        let limits = ThrottleLimits {
            account_failures: account,
            address_failures: address,
            window: Duration::from_secs(900),
        };
        LoginThrottle::new(Arc::new(MemoryFailureLog::default()), limits)
    }

    #[test]
    fn account_limit_with_sliding_window() {
        let t = throttle(3, 100);
        let t0 = Timestamp::from_secs(10_000);
        for i in 0..3 {
            assert!(
                t.check("alice", "1.2.3.4", t0.plus(Duration::from_secs(i)))
                    .is_ok()
            );
            t.record_failure("alice", "1.2.3.4", t0.plus(Duration::from_secs(i)));
        }
        let now = t0.plus(Duration::from_secs(10));
        // The first failure (at t0) leaves the window at t0 + 900 s.
        assert_eq!(
            t.check("alice", "5.6.7.8", now),
            Err(Duration::from_secs(890))
        );
        assert!(
            t.check("bob", "5.6.7.8", now).is_ok(),
            "another account is unaffected"
        );
        assert!(
            t.check("alice", "1.2.3.4", t0.plus(Duration::from_secs(900)))
                .is_ok()
        );
    }

    #[test]
    fn address_limit() {
        let t = throttle(5, 2);
        let now = Timestamp::from_secs(50);
        t.record_failure("a", "9.9.9.9", now);
        t.record_failure("b", "9.9.9.9", now);
        assert!(t.check("c", "9.9.9.9", now).is_err());
        assert!(t.check("c", "8.8.8.8", now).is_ok());
    }

    #[test]
    fn success_resets_the_account_count() {
        let t = throttle(2, 100);
        let now = Timestamp::from_secs(50);
        t.record_failure("a", "1.1.1.1", now);
        t.record_success("a");
        t.record_failure("a", "1.1.1.1", now);
        assert!(
            t.check("a", "1.1.1.1", now).is_ok(),
            "one failure since the success"
        );
        t.record_failure("a", "1.1.1.1", now);
        assert!(t.check("a", "1.1.1.1", now).is_err());
    }
}
