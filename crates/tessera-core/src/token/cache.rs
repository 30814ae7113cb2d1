//! A bounded cache of verified access tokens, so a token presented again skips the signature
//! check. Time and key retirement are re-checked on every hit; revocation is not cached at all:
//! the caller consults the [`super::RevocationSet`] on every request.
//!
//! Entries are keyed by the token's exact text: a hit is a byte-for-byte match with a token that
//! passed every check, found through the cache's own (randomly seeded, non-cryptographic) hash.
//! The cache used to key by the token's SHA-256 digest; over a 400-byte JWT that digest was most
//! of a cached check (about 24 000 of the 34 000 instructions a reused-JWT `/v1/me` spent beyond
//! `/healthz` under callgrind, which runs SHA-256 without SHA-NI; natively a few hundred
//! nanoseconds), and it bought nothing the exact match does not: the process that holds these
//! tokens also holds the signing keys that mint any of them, and each token leaves the cache
//! within its capacity and is useless after its `exp` anyway.
//!
//! A token enters the cache on its second sighting, not its first ([`Doorkeeper`]): clients
//! that present a token once (one minted per request, as `tessera bench --fresh-tokens` does)
//! would otherwise make every request copy its token into the cache and evict another, a few
//! microseconds of churn each for hits that never come. A reused token pays the full check
//! twice instead of once.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::DefaultHashBuilder;
use quick_cache::sync::Cache;

use super::{AccessClaims, KeyRing, TokenError};
use crate::Timestamp;

/// A verified token: its claims and the key that signed it.
#[derive(Clone)]
struct Verified {
    kid: Arc<str>,
    claims: Arc<AccessClaims>,
}

/// An admission filter: which tokens were verified once lately, by a 64-bit hash per slot
/// (the doorkeeper of TinyLFU, without the frequency sketch). A slot holds the last hash that
/// landed in it, so a collision only delays a token's admission; it never admits a token that
/// was not verified (the cache's own entries are exact matches). Written here because
/// quick_cache admits every insert, and a second cache crate for one array of atomics would be
/// more code to trust, not less.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    hasher: DefaultHashBuilder,
}

impl Doorkeeper {
    fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.next_power_of_two())
                .map(|_| AtomicU64::new(0))
                .collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Whether `token` was seen lately; remembers it when it was not.
    fn seen_before(&self, token: &str) -> bool {
        // Zero marks an empty slot, so no hash is zero.
        let hash = self.hasher.hash_one(token) | 1;
        let slot = &self.slots[hash as usize & (self.slots.len() - 1)];
        slot.swap(hash, Ordering::Relaxed) == hash
    }
}

/// Verified access tokens by their text. Shared by reference between requests; use it with one
/// issuer and audience. A hit still needs its signing key in the current ring, so a key that
/// leaves the ring takes its cached tokens with it.
pub struct VerifiedTokenCache {
    entries: Cache<Box<str>, Verified>,
    doorkeeper: Doorkeeper,
}

impl VerifiedTokenCache {
    /// A cache holding up to `capacity` tokens (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: Cache::new(capacity),
            doorkeeper: Doorkeeper::new(capacity),
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for VerifiedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedTokenCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.entries.capacity())
            .finish()
    }
}

impl KeyRing {
    /// [`Self::verify`] through `cache`: a cached token is answered from the cache after its
    /// signing key's retirement and its `exp`/`nbf`/`iat` are checked again against `now`; any
    /// other token is verified in full and, when valid and seen for the second time lately,
    /// cached.
    ///
    /// # Errors
    /// As [`Self::verify`].
    pub fn verify_cached(
        &self,
        cache: &VerifiedTokenCache,
        token: &str,
        now: Timestamp,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        if token.len() > self.settings.max_size {
            return Err(TokenError::TooLarge);
        }
        if let Some(hit) = cache.entries.get(token) {
            if self.verification_key(&hit.kid, now).is_none() {
                return Err(TokenError::UnknownKey);
            }
            hit.claims.check_times(now, self.settings.leeway)?;
            return Ok(hit.claims);
        }
        let (key, claims) = self.verify_with_key(token, now)?;
        let claims = Arc::new(claims);
        if !cache.doorkeeper.seen_before(token) {
            return Ok(claims);
        }
        cache.entries.insert(
            Box::from(token),
            Verified {
                kid: Arc::clone(&key.kid),
                claims: Arc::clone(&claims),
            },
        );
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::store::{KeyAlgorithm, SigningKeyRecord};
    use crate::token::TokenSettings;
    use crate::token::testing::{T0, record, ring};
    use crate::{ManualClock, UserId};

    fn token(ring: &KeyRing, now: Timestamp) -> String {
        ring.issue(UserId::random(), &[], "sid", None, None, now)
            .expect("issues")
            .token
    }

    /// Verifies `token` twice at `now`, which caches it.
    fn admit(ring: &KeyRing, cache: &VerifiedTokenCache, token: &str, now: Timestamp) {
        for _ in 0..2 {
            ring.verify_cached(cache, token, now).expect("valid");
        }
        assert!(cache.entries.get(token).is_some(), "cached");
    }

    #[test]
    fn a_token_is_cached_at_its_second_sighting_and_a_hit_returns_the_same_claims() {
        let ring = ring(KeyAlgorithm::EdDSA);
        let cache = VerifiedTokenCache::new(16);
        let token = token(&ring, T0);
        let first = ring.verify_cached(&cache, &token, T0).expect("valid");
        assert!(cache.is_empty(), "not on its first sighting");
        let second = ring.verify_cached(&cache, &token, T0).expect("valid");
        assert!(!Arc::ptr_eq(&first, &second), "verified again");
        assert_eq!(cache.len(), 1);
        let third = ring.verify_cached(&cache, &token, T0).expect("valid");
        assert!(Arc::ptr_eq(&second, &third), "a hit");
        assert_eq!(*first, ring.verify(&token, T0).expect("valid"));
    }

    #[test]
    fn tokens_seen_once_leave_the_cache_alone() {
        let ring = ring(KeyAlgorithm::HS256);
        let cache = VerifiedTokenCache::new(64);
        let reused = token(&ring, T0);
        admit(&ring, &cache, &reused, T0);
        for _ in 0..1000 {
            assert!(ring.verify_cached(&cache, &token(&ring, T0), T0).is_ok());
        }
        assert_eq!(cache.len(), 1, "only the reused token");
        assert!(cache.entries.get(reused.as_str()).is_some());
    }

    #[test]
    fn a_hit_still_expires_with_the_clock() {
        let ring = ring(KeyAlgorithm::EdDSA);
        let cache = VerifiedTokenCache::new(16);
        let clock = ManualClock::new(T0);
        let token = token(&ring, clock.now());
        admit(&ring, &cache, &token, clock.now());
        clock.advance(Duration::from_secs(600 + 30));
        assert_eq!(
            ring.verify_cached(&cache, &token, clock.now()),
            Err(TokenError::Expired)
        );
        // Before nbf (beyond the leeway) a hit is refused too.
        assert_eq!(
            ring.verify_cached(&cache, &token, T0.minus(Duration::from_secs(31))),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn a_hit_still_needs_its_key() {
        let old = record(KeyAlgorithm::EdDSA, 0);
        let retires_at = T0.plus(Duration::from_secs(60));
        let new = SigningKeyRecord {
            created_at: T0,
            ..record(KeyAlgorithm::EdDSA, 1)
        };
        let first =
            KeyRing::new(std::slice::from_ref(&old), T0, TokenSettings::default()).expect("ring");
        let token = token(&first, T0);
        let rotated = KeyRing::new(
            &[
                SigningKeyRecord {
                    retires_at: Some(retires_at),
                    ..old
                },
                new,
            ],
            T0,
            TokenSettings::default(),
        )
        .expect("ring");
        let cache = VerifiedTokenCache::new(16);
        admit(&rotated, &cache, &token, T0);
        assert_eq!(
            rotated.verify_cached(&cache, &token, retires_at),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn failures_are_not_cached() {
        let ring = ring(KeyAlgorithm::EdDSA);
        let cache = VerifiedTokenCache::new(16);
        let mut token = token(&ring, T0);
        let last = token.pop();
        token.push(if last == Some('A') { 'B' } else { 'A' });
        assert!(ring.verify_cached(&cache, &token, T0).is_err());
        assert!(ring.verify_cached(&cache, &token, T0).is_err());
        assert!(cache.is_empty());
        assert_eq!(
            ring.verify_cached(&cache, &"A".repeat(16 * 1024), T0),
            Err(TokenError::TooLarge)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn only_the_exact_text_hits() {
        let ring = ring(KeyAlgorithm::HS256);
        let cache = VerifiedTokenCache::new(16);
        let token = token(&ring, T0);
        admit(&ring, &cache, &token, T0);
        // The same token with one payload character changed, or with its signature alone, is
        // no hit: it goes through the full check and fails there.
        let dot = token.find('.').expect("a JWT");
        let mut changed = token.clone().into_bytes();
        changed[dot + 5] = if changed[dot + 5] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).expect("ASCII");
        assert!(ring.verify_cached(&cache, &changed, T0).is_err());
        let signature = token.rsplit('.').next().expect("a signature");
        assert_eq!(
            ring.verify_cached(&cache, signature, T0),
            Err(TokenError::Malformed)
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_is_bounded() {
        let ring = ring(KeyAlgorithm::HS256);
        let cache = VerifiedTokenCache::new(8);
        for _ in 0..100 {
            let token = token(&ring, T0);
            for _ in 0..2 {
                assert!(ring.verify_cached(&cache, &token, T0).is_ok());
            }
        }
        assert!(cache.len() <= 8, "{}", cache.len());
        assert!(!cache.is_empty());
        assert!(format!("{cache:?}").contains("VerifiedTokenCache"));
    }
}
