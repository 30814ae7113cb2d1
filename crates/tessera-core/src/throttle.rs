//! Login throttling: sliding windows of failed password checks, per account and per client
//! address, consulted before any password is hashed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Timestamp;

/// Where failures are remembered. The embedded server keeps them in memory; a shared store lets
/// every instance see the same counts.
pub trait FailureLog: Send + Sync {
    /// Atomically: when fewer than `limit` entries under `key` are later than `since`, records one
    /// at `now` (keeping at most the newest `limit`) and returns `Ok`; otherwise records nothing
    /// and returns the entry whose leaving the window would let an attempt in again.
    ///
    /// # Errors
    /// The blocking entry, when the limit is reached.
    fn try_record(
        &self,
        key: &str,
        now: Timestamp,
        since: Timestamp,
        limit: usize,
    ) -> Result<(), Timestamp>;
    /// Withdraws one entry recorded at `at` under `key` (an attempt that did not fail after all).
    fn withdraw(&self, key: &str, at: Timestamp);
    /// Forgets every entry under `key`.
    fn clear(&self, key: &str);
    /// Forgets entries at or before `before` under every key.
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
    fn try_record(
        &self,
        key: &str,
        now: Timestamp,
        since: Timestamp,
        limit: usize,
    ) -> Result<(), Timestamp> {
        let limit = limit.max(1);
        let mut entries = self.lock();
        let list = entries.entry(key.to_owned()).or_default();
        let recent = list.iter().filter(|t| **t > since).count();
        if recent >= limit {
            // The list is in time order and holds at most `limit` entries, all recent here.
            return Err(list[list.len() - limit]);
        }
        list.push_back(now);
        while list.len() > limit {
            list.pop_front();
        }
        Ok(())
    }

    fn withdraw(&self, key: &str, at: Timestamp) {
        let mut entries = self.lock();
        if let Some(list) = entries.get_mut(key)
            && let Some(i) = list.iter().rposition(|t| *t == at)
        {
            list.remove(i);
        }
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

/// A password check in progress. It counts as a failure from the moment it is admitted, so
/// concurrent attempts cannot all slip under the limit while their hashes run; a success
/// withdraws it.
#[derive(Debug)]
#[must_use = "report the outcome with LoginThrottle::succeeded or ::abandoned"]
pub struct Attempt {
    account: String,
    address: String,
    at: Timestamp,
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
    /// a failure until [`Self::succeeded`] or [`Self::abandoned`] says otherwise.
    ///
    /// # Errors
    /// The time until an attempt would be accepted again, when either limit is reached; nothing
    /// is counted then.
    pub fn begin(
        &self,
        canonical_username: &str,
        address: &str,
        now: Timestamp,
    ) -> Result<Attempt, Duration> {
        let since = now.minus(self.limits.window);
        let account = account_key(canonical_username);
        let address = address_key(address);
        let by_account =
            self.log
                .try_record(&account, now, since, self.limits.account_failures as usize);
        let by_address =
            self.log
                .try_record(&address, now, since, self.limits.address_failures as usize);
        if by_account.is_ok() && by_address.is_ok() {
            return Ok(Attempt {
                account,
                address,
                at: now,
            });
        }
        let mut wait = Duration::ZERO;
        for (key, outcome) in [(&account, by_account), (&address, by_address)] {
            match outcome {
                Ok(()) => self.log.withdraw(key, now),
                Err(blocking) => wait = wait.max(blocking.plus(self.limits.window).since(now)),
            }
        }
        Err(wait.max(Duration::from_millis(1)))
    }

    /// The password was right: the attempt is withdrawn and the account's count reset.
    pub fn succeeded(&self, attempt: Attempt) {
        self.log.clear(&attempt.account);
        self.log.withdraw(&attempt.address, attempt.at);
    }

    /// The attempt ended without a password verdict (a store error): it does not count.
    pub fn abandoned(&self, attempt: Attempt) {
        self.log.withdraw(&attempt.account, attempt.at);
        self.log.withdraw(&attempt.address, attempt.at);
    }

    /// Forgets failures that left the window (background housekeeping).
    pub fn prune(&self, now: Timestamp) {
        self.log.prune(now.minus(self.limits.window));
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
            // Failed attempts: admitted, never withdrawn.
            let _ = t
                .begin("alice", "1.2.3.4", t0.plus(Duration::from_secs(i)))
                .expect("admitted");
        }
        let now = t0.plus(Duration::from_secs(10));
        // The first failure (at t0) leaves the window at t0 + 900 s.
        assert_eq!(
            t.begin("alice", "5.6.7.8", now).err(),
            Some(Duration::from_secs(890))
        );
        assert!(
            t.begin("bob", "5.6.7.8", now).is_ok(),
            "another account is unaffected"
        );
        assert!(
            t.begin("alice", "1.2.3.4", t0.plus(Duration::from_secs(900)))
                .is_ok()
        );
    }

    #[test]
    fn concurrent_attempts_cannot_exceed_the_limit() {
        let t = throttle(5, 100);
        let now = Timestamp::from_secs(50);
        // Thirty attempts in flight at once (none has a verdict yet): five are admitted.
        let admitted: Vec<Attempt> = (0..30)
            .filter_map(|_| t.begin("bob", "9.9.9.9", now).ok())
            .collect();
        assert_eq!(admitted.len(), 5);
    }

    #[test]
    fn a_refused_attempt_counts_nothing_and_success_resets_the_account() {
        let t = throttle(2, 3);
        let now = Timestamp::from_secs(50);
        let _ = t.begin("a", "1.1.1.1", now).unwrap();
        let _ = t.begin("b", "1.1.1.1", now).unwrap();
        let _ = t.begin("c", "1.1.1.1", now).unwrap();
        // The address is full: refused, and "d" gets no entry for it.
        assert!(t.begin("d", "1.1.1.1", now).is_err());
        assert!(t.begin("d", "2.2.2.2", now).is_ok());
        let ok = t.begin("e", "3.3.3.3", now).unwrap();
        t.succeeded(ok);
        let _ = t.begin("e", "3.3.3.3", now).unwrap();
        assert!(
            t.begin("e", "3.3.3.3", now).is_ok(),
            "one failure since the success"
        );
    }

    #[test]
    fn an_abandoned_attempt_does_not_count() {
        let t = throttle(1, 100);
        let now = Timestamp::from_secs(50);
        let attempt = t.begin("a", "1.1.1.1", now).unwrap();
        assert!(t.begin("a", "1.1.1.1", now).is_err());
        t.abandoned(attempt);
        assert!(t.begin("a", "1.1.1.1", now).is_ok());
    }
}
