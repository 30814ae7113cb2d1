//! Cases for [`tessera_core::store::UserStore`].

use tessera_core::UserId;
use tessera_core::store::Stores;
use tessera_core::user::User;

use crate::fixtures::{assert_conflict, at, user};

/// The user stored under `id`.
async fn user_by_id(stores: &Stores, id: UserId) -> Option<User> {
    stores
        .users
        .user_by_id(id)
        .await
        .unwrap()
        .as_deref()
        .cloned()
}

/// A created user is found by id and by canonical name, with every field intact.
pub async fn users_create_and_lookup(stores: &Stores) {
    let alice = user("Alice.Smith", at(0));
    stores.users.create_user(&alice).await.unwrap();

    assert_eq!(user_by_id(stores, alice.id).await, Some(alice.clone()));
    assert_eq!(
        stores.users.user_by_name("alice.smith").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        stores.users.user_by_id(UserId::random()).await.unwrap(),
        None
    );
    assert_eq!(stores.users.user_by_name("bob").await.unwrap(), None);
    assert_eq!(stores.users.list_users().await.unwrap(), vec![alice]);
}

/// A taken id or a name equal ignoring case is a conflict that changes nothing.
pub async fn users_conflict_on_id_or_canonical_name(stores: &Stores) {
    let alice = user("alice", at(0));
    stores.users.create_user(&alice).await.unwrap();

    assert_conflict(stores.users.create_user(&user("ALICE", at(1))).await);
    let mut same_id = user("carol", at(2));
    same_id.id = alice.id;
    assert_conflict(stores.users.create_user(&same_id).await);

    assert_eq!(stores.users.user_by_name("carol").await.unwrap(), None);
    assert_eq!(user_by_id(stores, alice.id).await, Some(alice.clone()));
    assert_eq!(stores.users.list_users().await.unwrap(), vec![alice]);
}

/// `list_users` orders by creation time, not by insertion or name.
pub async fn users_listed_oldest_first(stores: &Stores) {
    let c = user("c", at(30));
    let a = user("a", at(10));
    let b = user("b", at(20));
    for u in [&c, &a, &b] {
        stores.users.create_user(u).await.unwrap();
    }
    assert_eq!(stores.users.list_users().await.unwrap(), vec![a, b, c]);
}

/// `set_roles` replaces the roles in order and returns the updated user; unknown ids are `None`.
pub async fn users_set_roles(stores: &Stores) {
    let alice = user("alice", at(0));
    stores.users.create_user(&alice).await.unwrap();

    let roles = vec!["ops".to_owned(), "admin".to_owned()];
    let updated = stores.users.set_roles(alice.id, &roles).await.unwrap();
    let expected = tessera_core::user::User {
        roles: roles.clone(),
        ..alice.clone()
    };
    assert_eq!(updated, Some(expected.clone()));
    assert_eq!(user_by_id(stores, alice.id).await, Some(expected.clone()));

    let cleared = stores.users.set_roles(alice.id, &[]).await.unwrap();
    assert_eq!(cleared.map(|u| u.roles), Some(vec![]));
    assert_eq!(
        stores
            .users
            .user_by_name("alice")
            .await
            .unwrap()
            .map(|u| u.roles),
        Some(vec![])
    );

    let unknown = UserId::random();
    assert_eq!(stores.users.set_roles(unknown, &roles).await.unwrap(), None);
    assert_eq!(user_by_id(stores, unknown).await, None);
}

/// `set_password_hash` replaces the hash; `false` for an unknown id, which stays unknown.
pub async fn users_set_password_hash(stores: &Stores) {
    let alice = user("alice", at(0));
    let bob = user("bob", at(1));
    stores.users.create_user(&alice).await.unwrap();
    stores.users.create_user(&bob).await.unwrap();

    assert!(
        stores
            .users
            .set_password_hash(alice.id, "$argon2id$new")
            .await
            .unwrap()
    );
    let stored = stores.users.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert_eq!(stored.roles, alice.roles);
    assert_eq!(user_by_id(stores, bob.id).await, Some(bob));

    let unknown = UserId::random();
    assert!(
        !stores
            .users
            .set_password_hash(unknown, "$argon2id$x")
            .await
            .unwrap()
    );
    assert_eq!(user_by_id(stores, unknown).await, None);
}

/// A deleted user is gone by id, name and list, and their name is free again.
pub async fn users_delete(stores: &Stores) {
    let alice = user("Alice", at(0));
    let bob = user("bob", at(1));
    stores.users.create_user(&alice).await.unwrap();
    stores.users.create_user(&bob).await.unwrap();

    assert!(stores.users.delete_user(alice.id).await.unwrap());
    assert_eq!(user_by_id(stores, alice.id).await, None);
    assert_eq!(stores.users.user_by_name("alice").await.unwrap(), None);
    assert_eq!(stores.users.list_users().await.unwrap(), vec![bob.clone()]);
    assert!(!stores.users.delete_user(alice.id).await.unwrap());
    assert!(!stores.users.delete_user(UserId::random()).await.unwrap());

    let new_alice = user("ALICE", at(2));
    stores.users.create_user(&new_alice).await.unwrap();
    assert_eq!(
        stores.users.user_by_name("alice").await.unwrap(),
        Some(new_alice)
    );
}
