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
        activates_at: created_at,
        retires_at: None,
    }
}

/// The first key goes in only while the store holds none; keys are listed oldest first with
/// their material intact.
pub async fn keys_first_key_only_into_an_empty_store(stores: &Stores) {
    let first = key("k-first", KeyAlgorithm::EdDSA, at(10));
    assert!(stores.keys.insert_first_signing_key(&first).await.unwrap());
    let rival = key("k-rival", KeyAlgorithm::ES256, at(11));
    assert!(!stores.keys.insert_first_signing_key(&rival).await.unwrap());
    assert_eq!(stores.keys.signing_keys().await.unwrap(), vec![first]);
}

/// Instances racing to create the first key on an empty store create exactly one.
pub async fn keys_concurrent_first_keys_make_one(stores: &Stores) {
    let attempts = (0..8).map(|i| {
        let keys = stores.keys.clone();
        let candidate = key(&format!("k-{i}"), KeyAlgorithm::EdDSA, at(10));
        tokio::spawn(async move { keys.insert_first_signing_key(&candidate).await.unwrap() })
    });
    let mut created = 0;
    for attempt in attempts {
        if attempt.await.unwrap() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(stores.keys.signing_keys().await.unwrap().len(), 1);
}

/// A rotation retires every unretired key at the given instant and adds the new key, with its
/// activation, in one step; a retirement set earlier stays as it was.
pub async fn keys_rotation_retires_the_unretired_and_adds_the_new(stores: &Stores) {
    let first = key("k1", KeyAlgorithm::RS256, at(10));
    stores.keys.insert_first_signing_key(&first).await.unwrap();
    let second = SigningKeyRecord {
        activates_at: at(140),
        ..key("k2", KeyAlgorithm::EdDSA, at(20))
    };
    stores
        .keys
        .rotate_signing_key(&second, at(500))
        .await
        .unwrap();
    let third = key("k3", KeyAlgorithm::ES256, at(30));
    stores
        .keys
        .rotate_signing_key(&third, at(900))
        .await
        .unwrap();
    assert_eq!(
        stores.keys.signing_keys().await.unwrap(),
        vec![
            SigningKeyRecord {
                retires_at: Some(at(500)),
                ..first
            },
            SigningKeyRecord {
                retires_at: Some(at(900)),
                ..second
            },
            third
        ]
    );
}

/// A rotation to a taken `kid` is a conflict that changes nothing, not even the retirements.
pub async fn keys_rotation_to_a_taken_kid_changes_nothing(stores: &Stores) {
    let first = key("k1", KeyAlgorithm::EdDSA, at(10));
    stores.keys.insert_first_signing_key(&first).await.unwrap();
    let mut rival = key("k1", KeyAlgorithm::HS256, at(30));
    rival.private_der = b"other material".to_vec();
    assert_conflict(stores.keys.rotate_signing_key(&rival, at(500)).await);
    assert_eq!(stores.keys.signing_keys().await.unwrap(), vec![first]);
}

/// Deleting removes a key once; unknown kids are `false`.
pub async fn keys_delete(stores: &Stores) {
    let first = key("k1", KeyAlgorithm::RS256, at(10));
    stores.keys.insert_first_signing_key(&first).await.unwrap();
    let second = key("k2", KeyAlgorithm::EdDSA, at(20));
    stores
        .keys
        .rotate_signing_key(&second, at(500))
        .await
        .unwrap();

    assert!(stores.keys.delete_signing_key("k1").await.unwrap());
    assert_eq!(stores.keys.signing_keys().await.unwrap(), vec![second]);
    assert!(!stores.keys.delete_signing_key("k1").await.unwrap());
    assert!(!stores.keys.delete_signing_key("unknown").await.unwrap());
}

/// The backend answers its readiness probe.
pub async fn health_ping(stores: &Stores) {
    stores.health.ping().await.unwrap();
}
