//! Cases for [`tessera_core::store::RevocationStore`].

use std::collections::HashSet;

use tessera_core::Timestamp;
use tessera_core::store::{Revocation, RevokedKind, Stores};

use crate::fixtures::at;

fn revocation(kind: RevokedKind, id: &str, expires_at: Timestamp) -> Revocation {
    Revocation {
        kind,
        id: id.into(),
        expires_at,
    }
}

/// The revocations in force at `now`, as a set (their order is not part of the contract).
async fn in_force(stores: &Stores, now: Timestamp) -> HashSet<Revocation> {
    stores
        .revocations
        .revocations(now)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// A revocation is in force until its expiry, and no longer at it.
pub async fn revocations_in_force_until_expiry(stores: &Stores) {
    let jti = revocation(RevokedKind::AccessToken, "jti-1", at(100));
    let sid = revocation(RevokedKind::Sid, "sid-1", at(200));
    stores.revocations.revoke(&jti).await.unwrap();
    stores.revocations.revoke(&sid).await.unwrap();

    assert_eq!(
        in_force(stores, at(50)).await,
        HashSet::from([jti, sid.clone()])
    );
    assert_eq!(in_force(stores, at(100)).await, HashSet::from([sid]));
    assert_eq!(in_force(stores, at(200)).await, HashSet::new());
}

/// Revoking an id again keeps one entry with the later expiry; kinds are separate namespaces.
pub async fn revocations_are_idempotent_keeping_later_expiry(stores: &Stores) {
    let access = |expires_at| revocation(RevokedKind::AccessToken, "x", expires_at);
    stores.revocations.revoke(&access(at(100))).await.unwrap();
    stores.revocations.revoke(&access(at(200))).await.unwrap();
    assert_eq!(
        stores.revocations.revocations(at(0)).await.unwrap(),
        vec![access(at(200))]
    );

    stores.revocations.revoke(&access(at(150))).await.unwrap();
    assert_eq!(
        stores.revocations.revocations(at(0)).await.unwrap(),
        vec![access(at(200))]
    );

    let sid = revocation(RevokedKind::Sid, "x", at(120));
    stores.revocations.revoke(&sid).await.unwrap();
    assert_eq!(
        in_force(stores, at(0)).await,
        HashSet::from([access(at(200)), sid])
    );
    assert_eq!(
        in_force(stores, at(160)).await,
        HashSet::from([access(at(200))])
    );
}

/// `purge_revocations` removes entries that expired at or before `now`, and counts them.
pub async fn revocations_purge(stores: &Stores) {
    let a = revocation(RevokedKind::AccessToken, "a", at(100));
    let b = revocation(RevokedKind::Sid, "b", at(200));
    let c = revocation(RevokedKind::AccessToken, "c", at(300));
    for r in [&a, &b, &c] {
        stores.revocations.revoke(r).await.unwrap();
    }

    assert_eq!(
        stores.revocations.purge_revocations(at(200)).await.unwrap(),
        2
    );
    // Asked about an earlier instant, the purged entries are gone: they were removed.
    assert_eq!(in_force(stores, at(0)).await, HashSet::from([c]));
    assert_eq!(
        stores.revocations.purge_revocations(at(200)).await.unwrap(),
        0
    );
}
