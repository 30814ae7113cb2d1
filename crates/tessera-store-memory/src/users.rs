//! Accounts, by id and by canonical username.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_core::UserId;
use tessera_core::store::{StoreError, StoreResult, UserStore};
use tessera_core::user::User;

use crate::{MemoryStore, lock};

/// The accounts, with the index that keeps usernames unique.
#[derive(Default)]
pub(crate) struct Users {
    /// Each user with its insertion number (ties in `created_at` list in insertion order).
    by_id: HashMap<UserId, (u64, User)>,
    by_name: HashMap<String, UserId>,
    inserted: u64,
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut users = lock(&self.users);
        let canonical = user.username.canonical();
        if users.by_id.contains_key(&user.id) || users.by_name.contains_key(&canonical) {
            return Err(StoreError::Conflict);
        }
        users.inserted += 1;
        let seq = users.inserted;
        users.by_name.insert(canonical, user.id);
        users.by_id.insert(user.id, (seq, user.clone()));
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        Ok(lock(&self.users)
            .by_id
            .get(&id)
            .map(|(_, user)| Arc::new(user.clone())))
    }

    async fn user_by_name(&self, canonical: &str) -> StoreResult<Option<User>> {
        let users = lock(&self.users);
        let found = users
            .by_name
            .get(canonical)
            .and_then(|id| users.by_id.get(id));
        Ok(found.map(|(_, user)| user.clone()))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let users = lock(&self.users);
        let mut all: Vec<&(u64, User)> = users.by_id.values().collect();
        all.sort_by_key(|(seq, user)| (user.created_at, *seq));
        Ok(all.into_iter().map(|(_, user)| user.clone()).collect())
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> StoreResult<Option<User>> {
        let mut users = lock(&self.users);
        Ok(users.by_id.get_mut(&id).map(|(_, user)| {
            user.roles = roles.to_vec();
            user.clone()
        }))
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<bool> {
        let mut users = lock(&self.users);
        Ok(match users.by_id.get_mut(&id) {
            Some((_, user)) => {
                user.password_hash = password_hash.to_owned();
                true
            }
            None => false,
        })
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let mut users = lock(&self.users);
        match users.by_id.remove(&id) {
            Some((_, user)) => {
                users.by_name.remove(&user.username.canonical());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
