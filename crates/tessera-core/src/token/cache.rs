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

use std::fmt;
use std::sync::Arc;

use quick_cache::sync::Cache;

use super::{AccessClaims, KeyRing, TokenError};
use crate::Timestamp;

/// A verified token: its claims and the key that signed it.
#[derive(Clone)]
struct Verified {
    kid: Arc<str>,
    claims: Arc<AccessClaims>,
}

/// Verified access tokens by their text. Shared by reference between requests; use it with one
/// issuer and audience. A hit still needs its signing key in the current ring, so a key that
/// leaves the ring takes its cached tokens with it.
pub struct VerifiedTokenCache {
    entries: Cache<Box<str>, Verified>,
}

impl VerifiedTokenCache {
    /// A cache holding up to `capacity` tokens (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity.max(1)),
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
    /// [`Self::verify`] through `cache`: a token verified before is answered from the cache
    /// after its signing key's retirement and its `exp`/`nbf`/`iat` are checked again against
    /// `now`; any other token is verified in full and, when valid, cached.
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

    #[test]
    fn a_hit_returns_the_same_claims() {
        let ring = ring(KeyAlgorithm::EdDSA);
        let cache = VerifiedTokenCache::new(16);
        let token = token(&ring, T0);
        let first = ring.verify_cached(&cache, &token, T0).expect("valid");
        let second = ring.verify_cached(&cache, &token, T0).expect("valid");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(cache.len(), 1);
        assert_eq!(*first, ring.verify(&token, T0).expect("valid"));
    }

    #[test]
    fn a_hit_still_expires_with_the_clock() {
        let ring = ring(KeyAlgorithm::EdDSA);
        let cache = VerifiedTokenCache::new(16);
        let clock = ManualClock::new(T0);
        let token = token(&ring, clock.now());
        assert!(ring.verify_cached(&cache, &token, clock.now()).is_ok());
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
        assert!(rotated.verify_cached(&cache, &token, T0).is_ok());
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
        assert!(ring.verify_cached(&cache, &token, T0).is_ok());
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
            assert!(ring.verify_cached(&cache, &token(&ring, T0), T0).is_ok());
        }
        assert!(cache.len() <= 8, "{}", cache.len());
        assert!(!cache.is_empty());
        assert!(format!("{cache:?}").contains("VerifiedTokenCache"));
    }
}
