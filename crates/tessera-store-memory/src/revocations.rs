//! Revoked token ids and ended session/family ids.

use std::collections::HashMap;

use async_trait::async_trait;
use tessera_core::Timestamp;
use tessera_core::store::{Revocation, RevocationStore, RevokedKind, StoreResult};

use crate::{MemoryStore, lock};

/// Each revoked `(kind, id)` with the time it may be forgotten.
#[derive(Default)]
pub(crate) struct Revocations {
    expires_at: HashMap<(RevokedKind, String), Timestamp>,
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke(&self, revocation: &Revocation) -> StoreResult<()> {
        let mut revocations = lock(&self.revocations);
        let key = (revocation.kind, revocation.id.clone());
        let expires_at = revocations
            .expires_at
            .entry(key)
            .or_insert(revocation.expires_at);
        *expires_at = (*expires_at).max(revocation.expires_at);
        Ok(())
    }

    async fn revocations(&self, now: Timestamp) -> StoreResult<Vec<Revocation>> {
        let revocations = lock(&self.revocations);
        let mut in_force: Vec<Revocation> = revocations
            .expires_at
            .iter()
            .filter(|(_, expires_at)| **expires_at > now)
            .map(|((kind, id), expires_at)| Revocation {
                kind: *kind,
                id: id.clone(),
                expires_at: *expires_at,
            })
            .collect();
        in_force.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        Ok(in_force)
    }

    async fn purge_revocations(&self, now: Timestamp) -> StoreResult<u64> {
        let mut revocations = lock(&self.revocations);
        let before = revocations.expires_at.len();
        revocations
            .expires_at
            .retain(|_, expires_at| *expires_at > now);
        Ok((before - revocations.expires_at.len()) as u64)
    }
}
