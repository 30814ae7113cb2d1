//! Fixtures shared by the token tests: keys generated once per run (RSA generation is slow),
//! and a forger that signs any header and claims with a stored key.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::jws::encode_segment;
use super::keys::load;
use super::{KeyRing, TokenSettings, generate_key};
use crate::store::{KeyAlgorithm, SigningKeyRecord};
use crate::{Timestamp, UserId};

/// Every algorithm.
pub const ALGORITHMS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::EdDSA,
    KeyAlgorithm::ES256,
    KeyAlgorithm::RS256,
    KeyAlgorithm::HS256,
];

/// The time the tests run at: long before or after the real clock would not matter.
pub const T0: Timestamp = Timestamp::from_secs(1_000_000_000);

/// Key number `n` (0 or 1) of `algorithm`, created an hour before [`T0`].
pub fn record(algorithm: KeyAlgorithm, n: usize) -> SigningKeyRecord {
    static KEYS: OnceLock<Vec<SigningKeyRecord>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        ALGORITHMS
            .iter()
            .flat_map(|&alg| {
                [0, 1].map(|_| generate_key(alg, Timestamp::from_secs(T0.as_secs() - 3600)))
            })
            .collect()
    });
    let index = ALGORITHMS
        .iter()
        .position(|&alg| alg == algorithm)
        .unwrap_or(0)
        * 2
        + n;
    keys[index].clone()
}

/// A ring of key 0 of `algorithm` with the default settings, at [`T0`].
pub fn ring(algorithm: KeyAlgorithm) -> KeyRing {
    KeyRing::new(&[record(algorithm, 0)], T0, TokenSettings::default()).expect("ring")
}

/// The header Tessera writes for `record`.
pub fn header(record: &SigningKeyRecord) -> Value {
    json!({"alg": record.algorithm.as_str(), "typ": "at+jwt", "kid": record.kid})
}

/// Valid claims for the default settings at [`T0`].
pub fn claims() -> Value {
    let now = T0.as_secs();
    json!({
        "iss": "tessera", "sub": UserId::random().to_string(), "aud": "tessera",
        "exp": now + 600, "iat": now, "nbf": now, "jti": "jti-1", "roles": ["admin"], "sid": "sid-1",
    })
}

/// `header` and `claims` signed by `record`'s key, whatever they say.
pub fn forge(record: &SigningKeyRecord, header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        encode_segment(header.to_string().as_bytes()),
        encode_segment(claims.to_string().as_bytes())
    );
    let signature = load(record)
        .expect("key loads")
        .signer
        .sign(message.as_bytes())
        .expect("signs");
    format!("{message}.{}", encode_segment(&signature))
}
