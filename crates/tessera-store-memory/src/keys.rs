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

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let mut keys = lock(&self.keys);
        if keys.position(&key.kid).is_some() {
            return Err(StoreError::Conflict);
        }
        keys.keys.push(key.clone());
        Ok(())
    }

    async fn retire_signing_key(&self, kid: &str, retires_at: Timestamp) -> StoreResult<bool> {
        let mut keys = lock(&self.keys);
        match keys.position(kid) {
            Some(i) => {
                keys.keys[i].retires_at = Some(retires_at);
                Ok(true)
            }
            None => Ok(false),
        }
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
