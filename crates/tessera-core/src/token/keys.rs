//! Signing keys: generating them, and the [`KeyRing`] built from the stored records, which signs
//! with the newest key and verifies with every key still in use.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
    RsaKeyPair, VerificationAlgorithm,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::jws::encode_segment;
use super::{KeyError, TokenError, TokenSettings};
use crate::Timestamp;
use crate::secret::random_bytes;
use crate::store::{KeyAlgorithm, SigningKeyRecord};

/// Shortest HS256 secret accepted: 256 bits.
const MIN_HMAC_SECRET: usize = 32;
/// Smallest RSA modulus accepted: 2048 bits.
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Length of an HS256 tag (HMAC-SHA-256).
const HMAC_SHA256_LEN: usize = 32;
/// Length of an EdDSA (Ed25519) signature.
const ED25519_SIGNATURE_LEN: usize = 64;
/// Length of an ES256 JWS signature: `r || s`, 32 bytes each (RFC 7518 section 3.4).
const ES256_SIGNATURE_LEN: usize = 64;

/// A new signing key for `algorithm`, made at `now`, with a random 128-bit `kid`.
///
/// Ed25519 and ECDSA P-256 keys are PKCS#8 documents, RSA keys 2048-bit PKCS#8, HS256 keys 32
/// bytes from the OS CSPRNG.
///
/// # Panics
/// When the operating system's randomness or the crypto library fails: no key may be made then.
pub fn generate_key(algorithm: KeyAlgorithm, now: Timestamp) -> SigningKeyRecord {
    let rng = SystemRandom::new();
    let private_der = match algorithm {
        KeyAlgorithm::EdDSA => {
            Ed25519KeyPair::generate_pkcs8(&rng).map(|doc| doc.as_ref().to_vec())
        }
        KeyAlgorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec()),
        KeyAlgorithm::RS256 => RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|der| der.as_ref().to_vec()),
        KeyAlgorithm::HS256 => Ok(random_bytes::<MIN_HMAC_SECRET>().to_vec()),
    }
    .expect(
        "key generation failed: the OS random number generator or the crypto library is broken",
    );
    SigningKeyRecord {
        kid: encode_segment(&random_bytes::<16>()),
        algorithm,
        private_der,
        created_at: now,
        activates_at: now,
        retires_at: None,
    }
}

/// The private half of a key, parsed once.
pub(super) enum Signer {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    /// Boxed: an HMAC key holds precomputed state of over a kilobyte.
    Hmac(Box<hmac::Key>),
}

impl Signer {
    /// The raw signature of `message`.
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        match self {
            Self::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Self::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| TokenError::SigningFailed),
            Self::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| TokenError::SigningFailed)?;
                Ok(sig)
            }
            Self::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }
}

/// The public half of a key (the shared secret for HS256), parsed once for its one algorithm.
pub(super) enum Verifier {
    /// EdDSA, ES256 or RS256: the public key, parsed for exactly that algorithm.
    Public(ParsedPublicKey),
    /// HS256. Boxed: an HMAC key holds precomputed state of over a kilobyte.
    Hmac(Box<hmac::Key>),
}

impl Verifier {
    /// A public key parsed for `algorithm`.
    fn public(
        algorithm: &'static dyn VerificationAlgorithm,
        public: &[u8],
    ) -> Result<Self, aws_lc_rs::error::KeyRejected> {
        ParsedPublicKey::new(algorithm, public).map(Self::Public)
    }

    /// Checks that `signature` is this key's signature of `message` (in constant time for
    /// HS256).
    ///
    /// # Errors
    /// [`TokenError::BadSignature`] when it is not.
    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        match self {
            Self::Public(key) => key.verify_sig(message, signature),
            Self::Hmac(key) => hmac::verify(key, message, signature),
        }
        .map_err(|_| TokenError::BadSignature)
    }
}

/// A stored record parsed: its signer, its verifier, the length of its signatures and, for
/// public-key algorithms, its public JWK (without `kid`/`alg`/`use`).
pub(super) struct LoadedKey {
    pub signer: Signer,
    pub verifier: Verifier,
    pub signature_len: usize,
    pub public_jwk: Option<Value>,
}

/// Parses a record's key material for its one algorithm.
pub(super) fn load(record: &SigningKeyRecord) -> Result<LoadedKey, KeyError> {
    let invalid = || KeyError::InvalidKey {
        kid: record.kid.clone(),
        algorithm: record.algorithm.as_str(),
    };
    if record.kid.is_empty() {
        return Err(invalid());
    }
    let der = record.private_der.as_slice();
    Ok(match record.algorithm {
        KeyAlgorithm::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| invalid())?;
            let public = pair.public_key().as_ref();
            LoadedKey {
                verifier: Verifier::public(&ED25519, public).map_err(|_| invalid())?,
                signature_len: ED25519_SIGNATURE_LEN,
                public_jwk: Some(
                    json!({"kty": "OKP", "crv": "Ed25519", "x": encode_segment(public)}),
                ),
                signer: Signer::Ed25519(pair),
            }
        }
        KeyAlgorithm::ES256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|_| invalid())?;
            let public = pair.public_key().as_ref();
            // An uncompressed point: 0x04, then x and y of 32 bytes each.
            let Some((&4, coordinates)) = public.split_first() else {
                return Err(invalid());
            };
            if coordinates.len() != 64 {
                return Err(invalid());
            }
            let (x, y) = coordinates.split_at(32);
            LoadedKey {
                verifier: Verifier::public(&ECDSA_P256_SHA256_FIXED, public)
                    .map_err(|_| invalid())?,
                signature_len: ES256_SIGNATURE_LEN,
                public_jwk: Some(json!({
                    "kty": "EC", "crv": "P-256", "x": encode_segment(x), "y": encode_segment(y),
                })),
                signer: Signer::Ecdsa(pair),
            }
        }
        KeyAlgorithm::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| invalid())?;
            if pair.public_modulus_len() < MIN_RSA_MODULUS_BYTES {
                return Err(invalid());
            }
            let public = pair.public_key();
            let n = public.modulus().big_endian_without_leading_zero();
            let e = public.exponent().big_endian_without_leading_zero();
            LoadedKey {
                // The DER `RSAPublicKey`.
                verifier: Verifier::public(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
                    .map_err(|_| invalid())?,
                signature_len: pair.public_modulus_len(),
                public_jwk: Some(
                    json!({"kty": "RSA", "n": encode_segment(n), "e": encode_segment(e)}),
                ),
                signer: Signer::Rsa(pair),
            }
        }
        KeyAlgorithm::HS256 => {
            if der.len() < MIN_HMAC_SECRET {
                return Err(invalid());
            }
            LoadedKey {
                verifier: Verifier::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, der))),
                signature_len: HMAC_SHA256_LEN,
                public_jwk: None,
                signer: Signer::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, der))),
            }
        }
    })
}

/// The key new tokens are signed with.
pub(super) struct SigningKey {
    /// Its `kid`.
    pub kid: String,
    /// The protected header every token it signs carries, already encoded.
    pub header_segment: String,
    /// The private key.
    pub signer: Signer,
}

/// The protected header of an access token, in this member order.
#[derive(Serialize)]
struct ProtectedHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The protected header tokens signed with `record` carry, encoded as their first segment.
fn header_segment(record: &SigningKeyRecord) -> Result<String, KeyError> {
    let header = ProtectedHeader {
        alg: record.algorithm.as_str(),
        typ: "at+jwt",
        kid: &record.kid,
    };
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::InvalidKey {
        kid: record.kid.clone(),
        algorithm: record.algorithm.as_str(),
    })?;
    Ok(encode_segment(&header))
}

impl SigningKey {
    /// A compact JWS of `claims` under this key's header.
    pub(super) fn sign_claims(&self, claims: &impl Serialize) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::SigningFailed)?;
        let mut token =
            String::with_capacity(self.header_segment.len() + payload.len() * 4 / 3 + 360);
        token.push_str(&self.header_segment);
        token.push('.');
        token.push_str(&encode_segment(&payload));
        let signature = self.signer.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&encode_segment(&signature));
        Ok(token)
    }
}

/// A key that verifies tokens: its one algorithm and its key parsed for that algorithm, built
/// once with the ring.
pub(super) struct VerificationKey {
    /// Its `kid`.
    pub kid: Arc<str>,
    /// The one algorithm a token naming this key may claim.
    pub algorithm: KeyAlgorithm,
    /// The public key (the shared secret for HS256).
    pub verifier: Verifier,
    /// The exact length of this key's signatures, in bytes.
    pub signature_len: usize,
    /// When the key stops verifying.
    pub retires_at: Option<Timestamp>,
    /// The header segment this server writes for the key: a token that starts with exactly
    /// it passes every header check, without decoding or parsing it again.
    pub header_segment: String,
}

impl VerificationKey {
    /// Whether the key still verifies at `now`.
    pub(super) fn is_active(&self, now: Timestamp) -> bool {
        self.retires_at.is_none_or(|retires_at| now < retires_at)
    }
}

/// Whether `record` still verifies at `now` (no retirement, or one still ahead).
fn usable(record: &SigningKeyRecord, now: Timestamp) -> bool {
    record.retires_at.is_none_or(|at| now < at)
}

/// The record that signs at `now`: of the usable ones that have activated, the latest to
/// activate (ties: the newest, then the greatest `kid`).
fn signing_choice(records: &[SigningKeyRecord], now: Timestamp) -> Option<&SigningKeyRecord> {
    records
        .iter()
        .filter(|record| usable(record, now) && record.activates_at <= now)
        .max_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        })
}

/// The signing and verification keys in use, built from the stored records.
///
/// Build a new ring whenever the records change (rotation) and swap it in; a ring never changes.
pub struct KeyRing {
    pub(super) signing: SigningKey,
    pub(super) keys: HashMap<String, VerificationKey>,
    pub(super) settings: TokenSettings,
    jwks: Value,
}

impl KeyRing {
    /// The ring of `records` at `now`: it signs with the usable record that activated last (by
    /// `now`), and verifies with every record whose `retires_at` is unset or after `now` (later
    /// calls also compare `retires_at` with their own `now`). A key published ahead of its
    /// activation verifies but does not sign yet.
    ///
    /// # Errors
    /// [`KeyError::NoSigningKey`] when no record is left to sign with,
    /// [`KeyError::DuplicateKid`] when two usable records share a `kid`, and
    /// [`KeyError::InvalidKey`] when a usable record's material does not parse.
    pub fn new(
        records: &[SigningKeyRecord],
        now: Timestamp,
        settings: TokenSettings,
    ) -> Result<Self, KeyError> {
        let mut usable: Vec<&SigningKeyRecord> = records
            .iter()
            .filter(|record| usable(record, now))
            .collect();
        // Newest first: the JWKS lists keys in this order and the signing key is the first
        // unretired one.
        usable.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.kid.cmp(&a.kid))
        });

        let mut signing = None;
        let mut keys = HashMap::with_capacity(usable.len());
        let mut jwks = Vec::with_capacity(usable.len());
        for record in usable {
            let loaded = load(record)?;
            if let Some(Value::Object(mut jwk)) = loaded.public_jwk {
                jwk.insert("kid".to_owned(), json!(record.kid));
                jwk.insert("alg".to_owned(), json!(record.algorithm.as_str()));
                jwk.insert("use".to_owned(), json!("sig"));
                jwks.push(Value::Object(jwk));
            }
            let header_segment = header_segment(record)?;
            if signing_choice(records, now).is_some_and(|chosen| chosen.kid == record.kid) {
                signing = Some(SigningKey {
                    kid: record.kid.clone(),
                    header_segment: header_segment.clone(),
                    signer: loaded.signer,
                });
            }
            let key = VerificationKey {
                kid: Arc::from(record.kid.as_str()),
                algorithm: record.algorithm,
                verifier: loaded.verifier,
                signature_len: loaded.signature_len,
                retires_at: record.retires_at,
                header_segment,
            };
            if keys.insert(record.kid.clone(), key).is_some() {
                return Err(KeyError::DuplicateKid {
                    kid: record.kid.clone(),
                });
            }
        }
        let signing = signing.ok_or(KeyError::NoSigningKey)?;
        Ok(Self {
            signing,
            keys,
            settings,
            jwks: json!({ "keys": jwks }),
        })
    }

    /// Whether this ring is what [`Self::new`] would build from `records` at `now`: the same
    /// usable keys with the same retirements (so a periodic reload can skip parsing them again).
    pub fn is_built_from(&self, records: &[SigningKeyRecord], now: Timestamp) -> bool {
        let mut count = 0;
        let all_known = records.iter().filter(|r| usable(r, now)).all(|record| {
            count += 1;
            self.keys
                .get(&record.kid)
                .is_some_and(|key| key.retires_at == record.retires_at)
        });
        all_known
            && count == self.keys.len()
            && signing_choice(records, now).is_some_and(|chosen| chosen.kid == self.signing.kid)
    }

    /// The JWK Set of the public verification keys (`kid`, `alg`, `use: "sig"` and the public
    /// parameters; shared HS256 secrets never appear), newest first.
    pub fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// The `kid` new tokens are signed with.
    pub fn signing_kid(&self) -> &str {
        &self.signing.kid
    }

    /// The settings the ring issues and verifies with.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The verification key named `kid`, if it is still in use at `now`.
    pub(super) fn verification_key(&self, kid: &str, now: Timestamp) -> Option<&VerificationKey> {
        self.keys.get(kid).filter(|key| key.is_active(now))
    }

    /// The key still verifying at `now` whose own header segment is exactly `segment`: the
    /// tokens this server issued, whose header needs no parsing (a ring holds a few keys).
    pub(super) fn key_by_header_segment(
        &self,
        segment: &str,
        now: Timestamp,
    ) -> Option<&VerificationKey> {
        self.keys
            .values()
            .find(|key| key.header_segment == segment)
            .filter(|key| key.is_active(now))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<(&str, &str)> = self
            .keys
            .values()
            .map(|key| (&*key.kid, key.algorithm.as_str()))
            .collect();
        keys.sort_unstable();
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.signing.kid)
            .field("verification_keys", &keys)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use jsonwebtoken::{Algorithm, DecodingKey};

    use super::*;
    use crate::UserId;
    use crate::token::testing::{ALGORITHMS, T0, record, ring};

    #[test]
    fn a_ring_knows_whether_the_records_changed() {
        let first = record(KeyAlgorithm::EdDSA, 0);
        let ring =
            KeyRing::new(std::slice::from_ref(&first), T0, TokenSettings::default()).unwrap();
        assert!(ring.is_built_from(std::slice::from_ref(&first), T0));
        let mut second = record(KeyAlgorithm::EdDSA, 1);
        second.created_at = T0.plus(Duration::from_secs(1));
        assert!(
            !ring.is_built_from(&[first.clone(), second.clone()], T0),
            "a new key"
        );
        let retiring = SigningKeyRecord {
            retires_at: Some(T0.plus(Duration::from_secs(60))),
            ..first
        };
        let rotated = [retiring.clone(), second];
        let ring = KeyRing::new(&rotated, T0, TokenSettings::default()).unwrap();
        assert!(ring.is_built_from(&rotated, T0));
        assert!(
            !ring.is_built_from(&rotated, T0.plus(Duration::from_secs(60))),
            "a key retired"
        );
    }

    fn hour(n: i64) -> Timestamp {
        Timestamp::from_secs(T0.as_secs() + n * 3600)
    }

    #[test]
    fn generated_keys_parse_for_their_algorithm() {
        for alg in ALGORITHMS {
            let record = record(alg, 0);
            assert_eq!(record.algorithm, alg);
            assert_eq!(record.kid.len(), 22);
            assert_eq!(record.retires_at, None);
            assert!(load(&record).is_ok(), "{alg:?}");
            assert_ne!(record.kid, super::super::testing::record(alg, 1).kid);
        }
        assert_eq!(record(KeyAlgorithm::HS256, 0).private_der.len(), 32);
        let rsa =
            RsaKeyPair::from_pkcs8(&record(KeyAlgorithm::RS256, 0).private_der).expect("pkcs8");
        assert_eq!(rsa.public_modulus_len(), 256);
    }

    #[test]
    fn bad_records_are_refused() {
        let good = record(KeyAlgorithm::EdDSA, 0);
        let settings = TokenSettings::default;
        assert_eq!(
            KeyRing::new(&[], T0, settings()).err(),
            Some(KeyError::NoSigningKey)
        );
        let published_ahead = SigningKeyRecord {
            activates_at: hour(1),
            ..good.clone()
        };
        assert_eq!(
            KeyRing::new(&[published_ahead], T0, settings()).err(),
            Some(KeyError::NoSigningKey)
        );
        let twice = [good.clone(), good.clone()];
        assert_eq!(
            KeyRing::new(&twice, T0, settings()).err(),
            Some(KeyError::DuplicateKid {
                kid: good.kid.clone()
            })
        );
        let invalid = |record: SigningKeyRecord| {
            let expected = KeyError::InvalidKey {
                kid: record.kid.clone(),
                algorithm: record.algorithm.as_str(),
            };
            assert_eq!(
                KeyRing::new(&[record], T0, settings()).err(),
                Some(expected)
            );
        };
        invalid(SigningKeyRecord {
            private_der: b"garbage".to_vec(),
            ..good.clone()
        });
        invalid(SigningKeyRecord {
            kid: String::new(),
            ..good.clone()
        });
        // Material of another algorithm.
        invalid(SigningKeyRecord {
            algorithm: KeyAlgorithm::ES256,
            ..good.clone()
        });
        invalid(SigningKeyRecord {
            algorithm: KeyAlgorithm::RS256,
            ..good.clone()
        });
        invalid(SigningKeyRecord {
            private_der: vec![7; 31],
            ..record(KeyAlgorithm::HS256, 0)
        });
        // A retired record is not even parsed.
        let retired_garbage = SigningKeyRecord {
            private_der: b"garbage".to_vec(),
            retires_at: Some(T0),
            ..record(KeyAlgorithm::ES256, 0)
        };
        assert!(KeyRing::new(&[good, retired_garbage], T0, settings()).is_ok());
    }

    #[test]
    fn signs_with_the_key_that_activated_last_and_publishes_the_next_ahead() {
        let at = |created: i64, activates: i64, retires: Option<i64>, algorithm| SigningKeyRecord {
            created_at: hour(created),
            activates_at: hour(activates),
            retires_at: retires.map(hour),
            ..record(algorithm, 0)
        };
        let old = at(-3, -3, Some(-1), KeyAlgorithm::RS256);
        let current = at(-2, -2, Some(2), KeyAlgorithm::EdDSA);
        let next = at(0, 1, None, KeyAlgorithm::ES256);
        let records = [old.clone(), current.clone(), next.clone()];
        let ring = KeyRing::new(&records, T0, TokenSettings::default()).expect("ring");
        // The retiring key still signs until its successor activates; the successor is
        // published (it verifies) but does not sign yet; the retired one is gone.
        assert_eq!(ring.signing_kid(), current.kid);
        assert_eq!(ring.keys.len(), 2);
        assert!(ring.keys.contains_key(&next.kid));
        assert!(ring.is_built_from(&records, T0));
        // Once the successor activates the ring must be rebuilt, and then signs with it.
        assert!(!ring.is_built_from(&records, hour(1)));
        let later = KeyRing::new(&records, hour(1), TokenSettings::default()).expect("ring");
        assert_eq!(later.signing_kid(), next.kid);
    }

    #[test]
    fn rotated_out_key_verifies_until_it_retires() {
        let settings = TokenSettings::default;
        let old = record(KeyAlgorithm::EdDSA, 0);
        let before = KeyRing::new(std::slice::from_ref(&old), T0, settings()).expect("ring");
        let token = before
            .issue(UserId::random(), &[], "sid", None, None, T0)
            .expect("issues")
            .token;

        // Rotation at T0: a new key signs, the old one verifies until its last token expires.
        let retires_at = T0.plus(Duration::from_secs(600 + 30));
        let old_retiring = SigningKeyRecord {
            retires_at: Some(retires_at),
            ..old.clone()
        };
        let new = SigningKeyRecord {
            created_at: T0,
            ..record(KeyAlgorithm::EdDSA, 1)
        };
        let after =
            KeyRing::new(&[old_retiring.clone(), new.clone()], T0, settings()).expect("ring");
        assert_eq!(after.signing_kid(), new.kid);
        assert!(after.verify(&token, T0).is_ok());
        assert!(
            after
                .verify(&token, retires_at.minus(Duration::from_millis(1)))
                .is_ok()
        );
        assert_eq!(
            after.verify(&token, retires_at),
            Err(super::super::TokenError::UnknownKey)
        );
        assert_eq!(after.jwks()["keys"].as_array().map(Vec::len), Some(2));

        // A ring built after the retirement leaves the old key out entirely.
        let later = KeyRing::new(&[old_retiring, new], retires_at, settings()).expect("ring");
        assert_eq!(later.keys.len(), 1);
        assert_eq!(later.jwks()["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            later.verify(&token, T0),
            Err(super::super::TokenError::UnknownKey)
        );
    }

    #[test]
    fn jwks_publishes_public_parameters_only() {
        let expected_members = [
            (
                KeyAlgorithm::EdDSA,
                vec!["alg", "crv", "kid", "kty", "use", "x"],
            ),
            (
                KeyAlgorithm::ES256,
                vec!["alg", "crv", "kid", "kty", "use", "x", "y"],
            ),
            (
                KeyAlgorithm::RS256,
                vec!["alg", "e", "kid", "kty", "n", "use"],
            ),
        ];
        for (alg, members) in expected_members {
            let ring = ring(alg);
            let record = record(alg, 0);
            let keys = ring.jwks()["keys"].as_array().cloned().expect("array");
            assert_eq!(keys.len(), 1);
            let jwk = &keys[0];
            let mut names: Vec<&str> = jwk
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            names.sort_unstable();
            assert_eq!(names, members, "{alg:?}");
            assert_eq!(jwk["kid"], record.kid.as_str());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            match alg {
                KeyAlgorithm::EdDSA => {
                    assert_eq!(
                        (jwk["kty"].as_str(), jwk["crv"].as_str()),
                        (Some("OKP"), Some("Ed25519"))
                    );
                    assert_eq!(jwk["x"].as_str().map(str::len), Some(43));
                }
                KeyAlgorithm::ES256 => {
                    assert_eq!(
                        (jwk["kty"].as_str(), jwk["crv"].as_str()),
                        (Some("EC"), Some("P-256"))
                    );
                    assert_eq!(jwk["x"].as_str().map(str::len), Some(43));
                    assert_eq!(jwk["y"].as_str().map(str::len), Some(43));
                }
                _ => {
                    assert_eq!(jwk["kty"], "RSA");
                    assert_eq!(jwk["e"], "AQAB");
                    assert_eq!(jwk["n"].as_str().map(str::len), Some(342));
                }
            }
            // Anyone holding the JWKS verifies Tessera's tokens with an ordinary JWT library.
            let parsed: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(jwk.clone()).expect("a JWK");
            let decoding = DecodingKey::from_jwk(&parsed).expect("a key");
            let token = ring
                .issue(UserId::random(), &[], "sid", None, None, T0)
                .expect("issues")
                .token;
            let (message, signature) = token.rsplit_once('.').expect("dots");
            let algorithm = match alg {
                KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                KeyAlgorithm::ES256 => Algorithm::ES256,
                _ => Algorithm::RS256,
            };
            assert_eq!(
                jsonwebtoken::crypto::verify(signature, message.as_bytes(), &decoding, algorithm)
                    .ok(),
                Some(true)
            );
        }
    }

    #[test]
    fn shared_secrets_never_reach_the_jwks() {
        let hs = record(KeyAlgorithm::HS256, 0);
        let ed = SigningKeyRecord {
            created_at: hour(-2),
            ..record(KeyAlgorithm::EdDSA, 0)
        };
        let ring = KeyRing::new(&[hs.clone(), ed], T0, TokenSettings::default()).expect("ring");
        let jwks = ring.jwks();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
        let text = jwks.to_string();
        assert!(!text.contains(&hs.kid));
        assert!(!text.contains(&URL_SAFE_NO_PAD.encode(&hs.private_der)));
        for alg in ALGORITHMS {
            for jwk in ring_jwks(alg) {
                assert!(jwk.get("d").is_none() && jwk.get("k").is_none(), "{alg:?}");
                for private in ["p", "q", "dp", "dq", "qi"] {
                    assert!(jwk.get(private).is_none(), "{alg:?}");
                }
            }
        }
    }

    fn ring_jwks(alg: KeyAlgorithm) -> Vec<Value> {
        ring(alg).jwks()["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn debug_never_shows_private_material() {
        for alg in ALGORITHMS {
            let record = record(alg, 0);
            let shown = format!("{:?} {:?}", ring(alg), record);
            assert!(shown.contains(&record.kid));
            assert!(
                !shown.contains(&format!("{:?}", record.private_der)),
                "{alg:?}"
            );
            assert!(
                !shown.contains(&URL_SAFE_NO_PAD.encode(&record.private_der)),
                "{alg:?}"
            );
            // The material as hex, by the longest run no Debug output could hold by chance.
            let hex: String = record
                .private_der
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(!shown.contains(&hex), "{alg:?}");
        }
    }
}
