//! The revocation state an access-token check consults without a store round trip: revoked
//! `jti`s and ended `sid`s, each until its expiry.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::AccessClaims;
use crate::Timestamp;
use crate::store::{Revocation, RevokedKind};

/// Revoked ids by kind, with the instant each may be forgotten. Never changed once shared.
#[derive(Clone, Default)]
struct Snapshot {
    jtis: HashMap<Arc<str>, Timestamp>,
    sids: HashMap<Arc<str>, Timestamp>,
}

impl Snapshot {
    /// Records `revocation` unless it has expired; a later expiry of the same id wins.
    fn add(&mut self, revocation: &Revocation, now: Timestamp) {
        if revocation.expires_at <= now {
            return;
        }
        let map = match revocation.kind {
            RevokedKind::AccessToken => &mut self.jtis,
            RevokedKind::Sid => &mut self.sids,
        };
        let expires_at = map
            .entry(Arc::from(revocation.id.as_str()))
            .or_insert(revocation.expires_at);
        *expires_at = (*expires_at).max(revocation.expires_at);
    }

    /// Whether adding `revocation` would change nothing.
    fn holds(&self, revocation: &Revocation, now: Timestamp) -> bool {
        let map = match revocation.kind {
            RevokedKind::AccessToken => &self.jtis,
            RevokedKind::Sid => &self.sids,
        };
        revocation.expires_at <= now
            || map
                .get(revocation.id.as_str())
                .is_some_and(|held| *held >= revocation.expires_at)
    }

    fn prune(&mut self, now: Timestamp) {
        self.jtis.retain(|_, expires_at| now < *expires_at);
        self.sids.retain(|_, expires_at| now < *expires_at);
    }

    fn names(map: &HashMap<Arc<str>, Timestamp>, id: &str, now: Timestamp) -> bool {
        map.get(id).is_some_and(|expires_at| now < *expires_at)
    }
}

/// Revoked access tokens and ended sessions/families, held in memory for the hot path.
///
/// Reads are lock-free: a check loads the current immutable snapshot. Writes (rare: a revoke, a
/// logout, a periodic reload from the store) copy the snapshot, dropping expired entries.
#[derive(Default)]
pub struct RevocationSet {
    current: ArcSwap<Snapshot>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one revocation and drops every entry that has expired by `now`.
    pub fn insert(&self, revocation: &Revocation, now: Timestamp) {
        self.current.rcu(|current| {
            let mut next = Snapshot::clone(current);
            next.prune(now);
            next.add(revocation, now);
            next
        });
    }

    /// Adds every one of `revocations` (a reload from the store) to what is held, dropping
    /// expired entries. It never drops a live entry, so one inserted while the store was being
    /// read survives the reload.
    pub fn merge_all(&self, revocations: &[Revocation], now: Timestamp) {
        let current = self.current.load();
        if revocations.iter().all(|r| current.holds(r, now)) {
            // The usual reload: nothing new, so no copy of the set.
            return;
        }
        drop(current);
        self.current.rcu(|current| {
            let mut next = Snapshot::clone(current);
            next.prune(now);
            for revocation in revocations {
                next.add(revocation, now);
            }
            next
        });
    }

    /// Whether the token's `jti` is revoked or its `sid` has ended, as of `now`.
    pub fn is_revoked(&self, claims: &AccessClaims, now: Timestamp) -> bool {
        let snapshot = self.current.load();
        Snapshot::names(&snapshot.jtis, &claims.jti, now)
            || Snapshot::names(&snapshot.sids, &claims.sid, now)
    }

    /// How many entries are held (expired ones included until the next write).
    pub fn len(&self) -> usize {
        let snapshot = self.current.load();
        snapshot.jtis.len() + snapshot.sids.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.current.load();
        f.debug_struct("RevocationSet")
            .field("jtis", &snapshot.jtis.len())
            .field("sids", &snapshot.sids.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::UserId;
    use crate::token::testing::T0;

    fn claims(jti: &str, sid: &str) -> AccessClaims {
        AccessClaims {
            iss: "tessera".to_owned(),
            sub: UserId::random(),
            aud: vec!["tessera".to_owned()],
            exp: T0.as_secs() + 600,
            iat: T0.as_secs(),
            nbf: T0.as_secs(),
            jti: jti.to_owned(),
            roles: Vec::new(),
            sid: sid.to_owned(),
        }
    }

    fn revocation(kind: RevokedKind, id: &str, secs: u64) -> Revocation {
        Revocation {
            kind,
            id: id.to_owned(),
            expires_at: T0.plus(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn a_revoked_jti_or_ended_sid_is_refused_until_the_entry_expires() {
        let set = RevocationSet::new();
        assert!(set.is_empty());
        set.insert(&revocation(RevokedKind::AccessToken, "j1", 60), T0);
        set.insert(&revocation(RevokedKind::Sid, "s1", 120), T0);
        assert!(set.is_revoked(&claims("j1", "other"), T0));
        assert!(set.is_revoked(&claims("other", "s1"), T0));
        assert!(!set.is_revoked(&claims("other", "other"), T0));
        // Kinds do not mix: a jti named like a sid is not revoked.
        assert!(!set.is_revoked(&claims("s1", "j1"), T0));
        let later = T0.plus(Duration::from_secs(60));
        assert!(!set.is_revoked(&claims("j1", "other"), later));
        assert!(set.is_revoked(&claims("other", "s1"), later));
        assert!(!set.is_revoked(&claims("other", "s1"), T0.plus(Duration::from_secs(120))));
    }

    #[test]
    fn inserting_prunes_expired_entries_and_keeps_the_later_expiry() {
        let set = RevocationSet::new();
        set.insert(&revocation(RevokedKind::AccessToken, "short", 10), T0);
        set.insert(&revocation(RevokedKind::Sid, "s", 10), T0);
        set.insert(&revocation(RevokedKind::Sid, "s", 100), T0);
        set.insert(&revocation(RevokedKind::Sid, "s", 50), T0);
        assert_eq!(set.len(), 2);
        let later = T0.plus(Duration::from_secs(20));
        set.insert(&revocation(RevokedKind::AccessToken, "new", 60), later);
        assert_eq!(set.len(), 2);
        assert!(set.is_revoked(&claims("x", "s"), T0.plus(Duration::from_secs(99))));
        // Already expired when inserted: not kept.
        set.insert(&revocation(RevokedKind::AccessToken, "stale", 5), later);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn merge_all_adds_without_dropping_live_entries() {
        let set = RevocationSet::new();
        set.insert(&revocation(RevokedKind::AccessToken, "inserted", 60), T0);
        set.insert(&revocation(RevokedKind::AccessToken, "stale", 10), T0);
        let later = T0.plus(Duration::from_secs(20));
        set.merge_all(
            &[
                revocation(RevokedKind::Sid, "s", 60),
                revocation(RevokedKind::Sid, "gone", 10),
            ],
            later,
        );
        assert_eq!(set.len(), 2);
        assert!(set.is_revoked(&claims("inserted", "x"), later));
        assert!(set.is_revoked(&claims("x", "s"), later));
    }
}
