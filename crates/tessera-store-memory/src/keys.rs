//! Signing keys, by `kid`.

use async_trait::async_trait;
use tessera_core::Timestamp;
use tessera_core::store::{KeyStore, SigningKeyRecord, StoreError, StoreResult};

use crate::{MemoryStore, lock};

/// The keys in insertion order (a handful at most, so a list is the clearest map).
#[derive(Default)]
pub(crate) struct Keys {
    keys: Vec<SigningKeyRecord>,
}

impl Keys {
    fn position(&self, kid: &str) -> Option<usize> {
        self.keys.iter().position(|key| key.kid == kid)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut keys = lock(&self.keys).keys.clone();
        // Stable: keys made at the same instant stay in insertion order.
        keys.sort_by_key(|key| key.created_at);
        Ok(keys)
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let mut keys = lock(&self.keys);
        if !keys.keys.is_empty() {
            return Ok(false);
        }
        keys.keys.push(key.clone());
        Ok(true)
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_at: Timestamp,
    ) -> StoreResult<()> {
        let mut keys = lock(&self.keys);
        if keys.position(&key.kid).is_some() {
            return Err(StoreError::Conflict);
        }
        for old in keys.keys.iter_mut().filter(|k| k.retires_at.is_none()) {
            old.retires_at = Some(retire_at);
        }
        keys.keys.push(key.clone());
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let mut keys = lock(&self.keys);
        match keys.position(kid) {
            Some(i) => {
                keys.keys.remove(i);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
