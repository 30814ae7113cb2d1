//! Refresh-token families and their tokens.

use std::collections::HashMap;

use async_trait::async_trait;
use tessera_core::store::{
    RefreshFamily, RefreshStore, RefreshToken, RotateOutcome, StoreError, StoreResult,
};
use tessera_core::{FamilyId, Timestamp, TokenDigest, UserId};

use crate::{MemoryStore, lock};

/// The families and every token of each, by digest.
#[derive(Default)]
pub(crate) struct Refresh {
    families: HashMap<FamilyId, RefreshFamily>,
    tokens: HashMap<TokenDigest, RefreshToken>,
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> StoreResult<()> {
        let mut refresh = lock(&self.refresh);
        if refresh.families.contains_key(&family.id) || refresh.tokens.contains_key(&first.digest) {
            return Err(StoreError::Conflict);
        }
        refresh.families.insert(family.id, family.clone());
        refresh.tokens.insert(first.digest, first.clone());
        Ok(())
    }

    async fn refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> StoreResult<Option<(RefreshToken, RefreshFamily)>> {
        let refresh = lock(&self.refresh);
        let Some(token) = refresh.tokens.get(digest) else {
            return Ok(None);
        };
        Ok(refresh
            .families
            .get(&token.family_id)
            .map(|family| (token.clone(), family.clone())))
    }

    async fn rotate(
        &self,
        spent: &TokenDigest,
        now: Timestamp,
        successor: &RefreshToken,
        sealed_successor: &[u8],
    ) -> StoreResult<RotateOutcome> {
        let mut refresh = lock(&self.refresh);
        let refresh = &mut *refresh;
        let Some(token) = refresh.tokens.get(spent) else {
            return Ok(RotateOutcome::NotRotated);
        };
        let family_open = refresh
            .families
            .get(&token.family_id)
            .is_some_and(|family| family.is_open(now));
        if token.spent_at.is_some() || !family_open {
            return Ok(RotateOutcome::NotRotated);
        }
        if refresh.tokens.contains_key(&successor.digest) {
            return Err(StoreError::Conflict);
        }
        refresh.tokens.insert(successor.digest, successor.clone());
        if let Some(token) = refresh.tokens.get_mut(spent) {
            token.spent_at = Some(now);
            token.successor = Some(successor.digest);
            token.sealed_successor = Some(sealed_successor.to_vec());
        }
        Ok(RotateOutcome::Rotated)
    }

    async fn end_family(&self, id: FamilyId, now: Timestamp) -> StoreResult<bool> {
        let mut refresh = lock(&self.refresh);
        match refresh.families.get_mut(&id) {
            Some(family) if family.ended_at.is_none() => {
                family.ended_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn families_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>> {
        let refresh = lock(&self.refresh);
        let mut open: Vec<&RefreshFamily> = refresh
            .families
            .values()
            .filter(|f| f.user_id == user_id && f.is_open(now))
            .collect();
        open.sort_by_key(|f| (f.created_at, f.id));
        Ok(open.into_iter().map(|f| f.id).collect())
    }

    async fn end_families_of_user(
        &self,
        user_id: UserId,
        keep: Option<FamilyId>,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>> {
        let mut refresh = lock(&self.refresh);
        let mut ended: Vec<&mut RefreshFamily> = refresh
            .families
            .values_mut()
            .filter(|f| f.user_id == user_id && Some(f.id) != keep && f.is_open(now))
            .collect();
        ended.sort_by_key(|f| (f.created_at, f.id));
        Ok(ended
            .into_iter()
            .map(|family| {
                family.ended_at = Some(now);
                family.id
            })
            .collect())
    }

    async fn purge_refresh(
        &self,
        now: Timestamp,
        grace_closed_before: Timestamp,
    ) -> StoreResult<u64> {
        let mut refresh = lock(&self.refresh);
        let refresh = &mut *refresh;
        let before = refresh.families.len() as u64;
        refresh
            .families
            .retain(|_, f| f.expires_at > now && f.ended_at.is_none_or(|at| at > now));
        let families = &refresh.families;
        refresh
            .tokens
            .retain(|_, t| families.contains_key(&t.family_id));
        for token in refresh.tokens.values_mut() {
            if token.spent_at.is_some_and(|at| at < grace_closed_before) {
                token.sealed_successor = None;
            }
        }
        Ok(before - refresh.families.len() as u64)
    }
}
