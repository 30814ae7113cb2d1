//! Access-token verification cost per algorithm: the bare signature check (with the key parsed
//! beforehand, as the key ring does), a full `verify`, a cold `verify_cached` (miss, verify,
//! insert) and a warm one (hit), the last three each with the revocation check a request makes.
//!
//! `cargo bench -p tessera-core --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion};
use serde_json::Value;
use tessera_core::store::{KeyAlgorithm, Revocation, RevokedKind};
use tessera_core::token::{
    KeyRing, RevocationSet, TokenSettings, VerifiedTokenCache, generate_key,
};
use tessera_core::{Timestamp, UserId};

const ALGORITHMS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::HS256,
    KeyAlgorithm::EdDSA,
    KeyAlgorithm::ES256,
    KeyAlgorithm::RS256,
];

fn b64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(value.as_str().unwrap_or_default())
        .expect("base64url")
}

/// A signature check: message and raw signature in, verdict out.
type RawVerifier = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// DER of an unsigned INTEGER with big-endian magnitude `bytes`, or of a SEQUENCE of `bytes`.
fn der(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    if tag == 0x02 && bytes.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(bytes);
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(u8::try_from(len).expect("short"));
    } else {
        let len_bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | u8::try_from(len_bytes.len()).expect("short"));
        out.extend(len_bytes);
    }
    out.extend(content);
    out
}

/// The bare signature check of `message`, with the key parsed beforehand from the JWKS (the
/// secret for HS256), once.
fn raw_verifier(alg: KeyAlgorithm, ring: &KeyRing, secret: &[u8]) -> RawVerifier {
    let jwk = ring.jwks()["keys"][0].clone();
    let public = |alg, bytes: Vec<u8>| ParsedPublicKey::new(alg, bytes).expect("public key");
    let key = match alg {
        KeyAlgorithm::HS256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
            return Box::new(move |message, signature| {
                hmac::verify(&key, message, signature).is_ok()
            });
        }
        KeyAlgorithm::EdDSA => public(&ED25519, b64(&jwk["x"])),
        KeyAlgorithm::ES256 => {
            let mut point = vec![4];
            point.extend(b64(&jwk["x"]));
            point.extend(b64(&jwk["y"]));
            public(&ECDSA_P256_SHA256_FIXED, point)
        }
        KeyAlgorithm::RS256 => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let (n, e) = (der(0x02, &b64(&jwk["n"])), der(0x02, &b64(&jwk["e"])));
            public(&RSA_PKCS1_2048_8192_SHA256, der(0x30, &[n, e].concat()))
        }
    };
    Box::new(move |message, signature| key.verify_sig(message, signature).is_ok())
}

/// A revocation set of the size a busy instance might hold: 1000 jtis and 1000 sids.
fn revocations(now: Timestamp) -> RevocationSet {
    let set = RevocationSet::new();
    let expires_at = now.plus(std::time::Duration::from_secs(3600));
    let entries = (0..1000).flat_map(|i| {
        [
            Revocation {
                kind: RevokedKind::AccessToken,
                id: format!("jti-{i}"),
                expires_at,
            },
            Revocation {
                kind: RevokedKind::Sid,
                id: format!("sid-{i}"),
                expires_at,
            },
        ]
    });
    set.merge_all(&entries.collect::<Vec<_>>(), now);
    set
}

fn verification(c: &mut Criterion) {
    let now = Timestamp::from_secs(1_900_000_000);
    let revoked = revocations(now);
    let roles = vec!["admin".to_owned(), "billing:read".to_owned()];
    for alg in ALGORITHMS {
        let record = generate_key(alg, now);
        let ring = KeyRing::new(std::slice::from_ref(&record), now, TokenSettings::default())
            .expect("ring");
        let issue = || {
            ring.issue(UserId::random(), &roles, "session-id", None, None, now)
                .expect("issue")
                .token
        };
        let token = issue();
        let name = alg.as_str();

        let (message, signature) = token.rsplit_once('.').expect("three segments");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let raw = raw_verifier(alg, &ring, &record.private_der);
        assert!(raw(message.as_bytes(), &signature));
        c.bench_function(&format!("raw_signature/{name}"), |b| {
            b.iter(|| raw(black_box(message.as_bytes()), black_box(&signature)))
        });

        c.bench_function(&format!("verify/{name}"), |b| {
            b.iter(|| {
                let claims = ring.verify(black_box(&token), now).expect("valid");
                assert!(!revoked.is_revoked(&claims, now));
            })
        });

        c.bench_function(&format!("verify_cached_cold/{name}"), |b| {
            b.iter_batched(
                || VerifiedTokenCache::new(1024),
                |cache| {
                    let claims = ring
                        .verify_cached(&cache, black_box(&token), now)
                        .expect("valid");
                    assert!(!revoked.is_revoked(&claims, now));
                    cache
                },
                BatchSize::SmallInput,
            )
        });

        let cache = VerifiedTokenCache::new(1024);
        for _ in 0..2 {
            ring.verify_cached(&cache, &token, now).expect("valid"); // cached at the second
        }
        c.bench_function(&format!("verify_cached_hit/{name}"), |b| {
            b.iter(|| {
                let claims = ring
                    .verify_cached(&cache, black_box(&token), now)
                    .expect("valid");
                assert!(!revoked.is_revoked(&claims, now));
            })
        });
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    verification(&mut criterion);
    criterion.final_summary();
}
