//! The signing keys behind access tokens: created on first start, rotated by the operator, and
//! reloaded when another process (the CLI) changed them.

use std::sync::Arc;

use super::tokens::TokenPolicy;
use super::{Auth, AuthError};
use crate::Timestamp;
use crate::store::{Change, KeyStore, SigningKeyRecord};
use crate::token::{KeyRing, generate_key};

/// Builds the key ring, creating the first signing key when the store holds none (of the
/// instances that start at once on an empty store, one creates it; the others load it).
pub(super) async fn load_ring(
    keys: &dyn KeyStore,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<KeyRing, AuthError> {
    if keys.signing_keys().await?.is_empty() {
        // Nobody can have cached a JWKS of an empty store: the first key signs at once, and for
        // every instance, also one whose clock is a little behind the one that made it.
        let mut first = generate_key(policy.algorithm, now);
        first.activates_at = Timestamp::from_millis(0);
        keys.insert_first_signing_key(&first).await?;
    }
    build_ring(keys, policy, now).await
}

/// The key that signs new tokens last (the newest unretired one, which may not have activated
/// yet).
async fn current_key(keys: &dyn KeyStore) -> Result<Option<SigningKeyRecord>, AuthError> {
    let records = keys.signing_keys().await?;
    Ok(records
        .into_iter()
        .filter(|r| r.retires_at.is_none())
        .max_by_key(|r| r.activates_at))
}

/// Publishes a new key now that signs from `now + key_publish_ahead`; every older key keeps
/// verifying until the last token it can have signed by then has expired.
async fn rotate(
    keys: &dyn KeyStore,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<SigningKeyRecord, AuthError> {
    let mut key = generate_key(policy.algorithm, now);
    key.activates_at = now.plus(policy.key_publish_ahead);
    let retire_at = key.activates_at.plus(policy.longest_token_life());
    keys.rotate_signing_key(&key, retire_at).await?;
    Ok(key)
}

async fn build_ring(
    keys: &dyn KeyStore,
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<KeyRing, AuthError> {
    ring_of(&keys.signing_keys().await?, policy, now)
}

fn ring_of(
    records: &[SigningKeyRecord],
    policy: &TokenPolicy,
    now: Timestamp,
) -> Result<KeyRing, AuthError> {
    KeyRing::new(records, now, policy.access.clone()).map_err(|e| AuthError::Keys(e.to_string()))
}

impl Auth {
    /// Rotates to a key of the configured `token.algorithm` when the current key has another
    /// one (the server does this at start-up; the CLI leaves keys alone). Whether it rotated.
    ///
    /// # Errors
    /// A store error.
    pub async fn ensure_configured_algorithm(&self) -> Result<bool, AuthError> {
        let current = current_key(self.stores.keys.as_ref()).await?;
        if current.is_some_and(|key| key.algorithm == self.settings.tokens.algorithm) {
            return Ok(false);
        }
        self.rotate_keys().await?;
        Ok(true)
    }

    /// Makes a new key of the configured algorithm: published at once, signing after
    /// `token.key_publish_ahead`. Older keys keep signing until then and verifying until every
    /// token they signed has expired, then leave the JWKS. Returns the new key's record.
    ///
    /// # Errors
    /// A store error.
    pub async fn rotate_keys(&self) -> Result<SigningKeyRecord, AuthError> {
        let key = rotate(self.stores.keys.as_ref(), &self.settings.tokens, self.now()).await?;
        self.reload_keys().await?;
        self.publish(Change::KeysChanged).await?;
        Ok(key)
    }

    /// Every stored key, oldest first, with private material.
    ///
    /// # Errors
    /// A store error.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, AuthError> {
        Ok(self.stores.keys.signing_keys().await?)
    }

    /// Rebuilds the key ring from the store when its usable keys changed (a rotation, a key
    /// retired by now). Verified-token cache entries survive: each hit re-checks its key.
    ///
    /// # Errors
    /// A store error, or stored keys that do not load.
    pub async fn reload_keys(&self) -> Result<(), AuthError> {
        let now = self.now();
        let records = self.stores.keys.signing_keys().await?;
        if !self.tokens.ring.load().is_built_from(&records, now) {
            let ring = ring_of(&records, &self.settings.tokens, now)?;
            self.tokens.ring.store(Arc::new(ring));
        }
        Ok(())
    }

    /// The JWK Set of the public verification keys in use.
    pub fn jwks(&self) -> serde_json::Value {
        self.tokens.ring.load().jwks()
    }

    /// Removes keys whose retirement has passed (housekeeping).
    pub(super) async fn purge_retired_keys(&self, now: Timestamp) -> Result<(), AuthError> {
        for key in self.stores.keys.signing_keys().await? {
            if key.retires_at.is_some_and(|at| at <= now) {
                self.stores.keys.delete_signing_key(&key.kid).await?;
            }
        }
        Ok(())
    }
}
