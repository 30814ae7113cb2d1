//! Cases for [`tessera_core::store::KeyStore`] and [`tessera_core::store::Health`].

use tessera_core::Timestamp;
use tessera_core::store::{KeyAlgorithm, SigningKeyRecord, Stores};

use crate::fixtures::{assert_conflict, at};

fn key(kid: &str, algorithm: KeyAlgorithm, created_at: Timestamp) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        algorithm,
        private_der: format!("private material of {kid}").into_bytes(),
        created_at,
        retires_at: None,
    }
}

/// Keys are listed oldest first with their material intact; a taken `kid` is a conflict that
/// changes nothing.
pub async fn keys_insert_list_and_conflict(stores: &Stores) {
    let newer = key("k-newer", KeyAlgorithm::ES256, at(20));
    let older = key("k-older", KeyAlgorithm::EdDSA, at(10));
    stores.keys.insert_signing_key(&newer).await.unwrap();
    stores.keys.insert_signing_key(&older).await.unwrap();
    assert_eq!(
        stores.keys.signing_keys().await.unwrap(),
        vec![older.clone(), newer.clone()]
    );

    let mut rival = key("k-newer", KeyAlgorithm::HS256, at(30));
    rival.private_der = b"other material".to_vec();
    assert_conflict(stores.keys.insert_signing_key(&rival).await);
    assert_eq!(
        stores.keys.signing_keys().await.unwrap(),
        vec![older, newer]
    );
}

/// Retiring sets `retires_at` on that key only; deleting removes it once; unknown kids are `false`.
pub async fn keys_retire_and_delete(stores: &Stores) {
    let first = key("k1", KeyAlgorithm::RS256, at(10));
    let second = key("k2", KeyAlgorithm::EdDSA, at(20));
    stores.keys.insert_signing_key(&first).await.unwrap();
    stores.keys.insert_signing_key(&second).await.unwrap();

    assert!(stores.keys.retire_signing_key("k1", at(500)).await.unwrap());
    let retired = SigningKeyRecord {
        retires_at: Some(at(500)),
        ..first
    };
    assert_eq!(
        stores.keys.signing_keys().await.unwrap(),
        vec![retired, second.clone()]
    );
    assert!(
        !stores
            .keys
            .retire_signing_key("unknown", at(500))
            .await
            .unwrap()
    );

    assert!(stores.keys.delete_signing_key("k1").await.unwrap());
    assert_eq!(stores.keys.signing_keys().await.unwrap(), vec![second]);
    assert!(!stores.keys.delete_signing_key("k1").await.unwrap());
    assert!(!stores.keys.delete_signing_key("unknown").await.unwrap());
}

/// The backend answers its readiness probe.
pub async fn health_ping(stores: &Stores) {
    stores.health.ping().await.unwrap();
}
