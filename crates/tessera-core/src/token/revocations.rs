//! The revocation state an access-token check consults without a store round trip: revoked
//! `jti`s and ended `sid`s, each until its expiry.

use std::fmt;

use dashmap::DashMap;
use quick_cache::DefaultHashBuilder;

use super::AccessClaims;
use crate::Timestamp;
use crate::store::{Revocation, RevokedKind};

/// Revoked access tokens and ended sessions/families, held in memory for the hot path.
///
/// Two concurrent maps (by `jti`, by `sid`) of the instant each entry may be forgotten. A check
/// is two lookups, each taking one shard's read lock; an insert changes one entry and copies
/// nothing. Expired entries answer "not revoked" at once and leave at the next [`Self::prune`].
/// The maps hash with the randomly seeded aHash rather than the default SipHash: every request
/// looks up two ids, and only signed tokens and authenticated revocations bring ids here.
#[derive(Default)]
pub struct RevocationSet {
    jtis: Ids,
    sids: Ids,
}

type Ids = DashMap<Box<str>, Timestamp, DefaultHashBuilder>;

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self, kind: RevokedKind) -> &Ids {
        match kind {
            RevokedKind::AccessToken => &self.jtis,
            RevokedKind::Sid => &self.sids,
        }
    }

    /// Adds one revocation unless it has expired by `now`; a later expiry of the same id wins.
    /// Whether it was news (not held already with this expiry or a later one).
    pub fn insert(&self, revocation: &Revocation, now: Timestamp) -> bool {
        if revocation.expires_at <= now {
            return false;
        }
        let map = self.map(revocation.kind);
        if map
            .get(revocation.id.as_str())
            .is_some_and(|held| *held >= revocation.expires_at)
        {
            return false;
        }
        map.entry(Box::from(revocation.id.as_str()))
            .and_modify(|held| *held = (*held).max(revocation.expires_at))
            .or_insert(revocation.expires_at);
        true
    }

    /// Adds every one of `revocations` (a reload from the store). It never drops a live entry,
    /// so one inserted while the store was being read survives the reload.
    pub fn merge_all(&self, revocations: &[Revocation], now: Timestamp) {
        for revocation in revocations {
            self.insert(revocation, now);
        }
    }

    /// Whether the token's `jti` is revoked or its `sid` has ended, as of `now`.
    pub fn is_revoked(&self, claims: &AccessClaims, now: Timestamp) -> bool {
        let names = |map: &Ids, id: &str| map.get(id).is_some_and(|expires_at| now < *expires_at);
        names(&self.jtis, &claims.jti) || names(&self.sids, &claims.sid)
    }

    /// Drops every entry that has expired by `now` (background housekeeping).
    pub fn prune(&self, now: Timestamp) {
        self.jtis.retain(|_, expires_at| now < *expires_at);
        self.sids.retain(|_, expires_at| now < *expires_at);
    }

    /// How many entries are held (expired ones included until the next prune).
    pub fn len(&self) -> usize {
        self.jtis.len() + self.sids.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationSet")
            .field("jtis", &self.jtis.len())
            .field("sids", &self.sids.len())
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
    fn insert_keeps_the_later_expiry_and_says_whether_it_was_news() {
        let set = RevocationSet::new();
        assert!(set.insert(&revocation(RevokedKind::AccessToken, "short", 10), T0));
        assert!(set.insert(&revocation(RevokedKind::Sid, "s", 10), T0));
        assert!(set.insert(&revocation(RevokedKind::Sid, "s", 100), T0));
        assert!(
            !set.insert(&revocation(RevokedKind::Sid, "s", 50), T0),
            "an earlier expiry is no news"
        );
        assert!(
            !set.insert(&revocation(RevokedKind::Sid, "s", 100), T0),
            "the same one again is no news"
        );
        assert_eq!(set.len(), 2);
        assert!(set.is_revoked(&claims("x", "s"), T0.plus(Duration::from_secs(99))));
        // Already expired when inserted: not kept.
        let later = T0.plus(Duration::from_secs(20));
        assert!(!set.insert(&revocation(RevokedKind::AccessToken, "stale", 5), later));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn prune_drops_expired_entries_only() {
        let set = RevocationSet::new();
        set.insert(&revocation(RevokedKind::AccessToken, "short", 10), T0);
        set.insert(&revocation(RevokedKind::Sid, "long", 100), T0);
        set.prune(T0.plus(Duration::from_secs(10)));
        assert_eq!(set.len(), 1);
        assert!(set.is_revoked(&claims("x", "long"), T0.plus(Duration::from_secs(10))));
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
        set.prune(later);
        assert_eq!(set.len(), 2);
        assert!(set.is_revoked(&claims("inserted", "x"), later));
        assert!(set.is_revoked(&claims("x", "s"), later));
    }
}
