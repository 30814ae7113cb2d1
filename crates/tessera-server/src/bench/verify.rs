//! What an app pays to verify a Tessera JWT itself: the key from the JWKS, the bare signature
//! check (the floor of any fresh-token request), and the whole check with the claims parsed.

use std::time::Duration;

use super::cpu::thread_cpu;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

/// The claims' names of a JWT, read without any key (what a holder can see).
pub fn readable_claims(jwt: &str) -> Option<Vec<String>> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    let mut names: Vec<String> = claims.as_object()?.keys().cloned().collect();
    names.sort();
    Some(names)
}

/// A claim as a number.
pub fn claim_i64(jwt: &str, name: &str) -> Option<i64> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    claims.get(name)?.as_i64()
}

/// The `alg` of a JWT's header.
pub fn algorithm(jwt: &str) -> Option<String> {
    let header = jwt.split('.').next()?;
    let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
    Some(header.get("alg")?.as_str()?.to_owned())
}

fn b64(jwk: &Value, field: &str) -> Option<Vec<u8>> {
    B64.decode(jwk.get(field)?.as_str()?).ok()
}

/// The verification key of `jwt` from a JWK Set, parsed once as an app (and the server) keeps
/// it; `None` for HS256 (its secret is not published: an app cannot verify it without sharing
/// the server's secret).
fn key_for(jwks: &Value, jwt: &str) -> Option<ParsedPublicKey> {
    let header: Value = serde_json::from_slice(&B64.decode(jwt.split('.').next()?).ok()?).ok()?;
    let kid = header.get("kid")?.as_str()?;
    let jwk = jwks["keys"].as_array()?.iter().find(|k| k["kid"] == kid)?;
    let (algorithm, public): (&'static dyn signature::VerificationAlgorithm, Vec<u8>) =
        match jwk.get("alg")?.as_str()? {
            "EdDSA" => (&signature::ED25519, b64(jwk, "x")?),
            "ES256" => {
                let mut point = vec![4u8];
                point.extend(b64(jwk, "x")?);
                point.extend(b64(jwk, "y")?);
                (&signature::ECDSA_P256_SHA256_FIXED, point)
            }
            "RS256" => (
                &signature::RSA_PKCS1_2048_8192_SHA256,
                rsa_public_key_der(&b64(jwk, "n")?, &b64(jwk, "e")?),
            ),
            _ => return None,
        };
    ParsedPublicKey::new(algorithm, public).ok()
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` in DER, the
/// form aws-lc-rs parses an RSA verification key from. Written here because a JWK gives `n`
/// and `e` and aws-lc-rs builds a parsed key only from DER; two integers need no ASN.1 crate.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize) -> Vec<u8> {
        if len < 0x80 {
            return vec![len as u8];
        }
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
    fn integer(magnitude: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            body.push(0); // non-negative, and zero is one 0x00 byte
        }
        body.extend(trimmed);
        let mut out = vec![0x02];
        out.extend(length(body.len()));
        out.extend(body);
        out
    }
    let content = [integer(n), integer(e)].concat();
    let mut out = vec![0x30];
    out.extend(length(content.len()));
    out.extend(content);
    out
}

fn check(key: &ParsedPublicKey, signed: &[u8], sig: &[u8]) -> bool {
    key.verify_sig(signed, sig).is_ok()
}

/// CPU µs per whole app-side verification (split, decode, check, parse the claims, compare
/// `exp`) over `rounds`; `None` when the JWKS has no key for it (HS256) or the token does not
/// verify.
pub fn client_verify_us(jwks: &Value, jwt: &str, rounds: u32) -> Option<f64> {
    let key = key_for(jwks, jwt)?;
    if !app_verify(&key, jwt) {
        return None;
    }
    let rounds = rounds.max(1);
    let whole = time(rounds, || app_verify(&key, jwt));
    Some(per_round_us(whole, rounds))
}

/// Bare signature checks, the floor of any fresh-token request: of one reused token, or of
/// distinct tokens in turn as the server sees them under `--fresh-tokens` (then timed a few at
/// a time between the loads, so that the floor and the loads see the same machine).
pub struct BareCheck {
    key: ParsedPublicKey,
    /// Signing input and decoded signature of each token.
    signed: Vec<(Vec<u8>, Vec<u8>)>,
    next: usize,
}

impl BareCheck {
    /// Over `jwts`, checked with their key from the JWK Set; `None` when there is none (HS256)
    /// or a signature does not hold.
    pub fn new<'a>(jwks: &Value, jwts: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut key = None;
        let mut signed = Vec::new();
        for jwt in jwts {
            let key = match &key {
                Some(k) => k,
                None => key.insert(key_for(jwks, jwt)?),
            };
            let (input, sig) = jwt.rsplit_once('.')?;
            let sig = B64.decode(sig).ok()?;
            if !check(key, input.as_bytes(), &sig) {
                return None;
            }
            signed.push((input.as_bytes().to_vec(), sig));
        }
        Some(Self {
            key: key?,
            signed,
            next: 0,
        })
    }

    /// The key it checks with.
    pub fn key(&self) -> &ParsedPublicKey {
        &self.key
    }

    /// The CPU time of `n` checks, each of the next token in turn.
    pub fn time(&mut self, n: u32) -> Duration {
        time(n, || {
            let (input, sig) = &self.signed[self.next];
            self.next = (self.next + 1) % self.signed.len();
            check(&self.key, input, sig)
        })
    }

    /// CPU µs per check, over `n` checks.
    pub fn us_per_check(&mut self, n: u32) -> f64 {
        per_round_us(self.time(n), n)
    }
}

/// A fixed piece of work the bench times in every round, in the thread's CPU time: Ed25519
/// checks of one signature made at the start. Tessera plays no part in it, so when it moves
/// the machine's speed moved (a busy neighbour on the host, the CPU's clock), and two runs'
/// rates compare only where it agrees.
pub struct ReferenceCheck {
    key: ParsedPublicKey,
    signature: Vec<u8>,
}

impl ReferenceCheck {
    const MESSAGE: &[u8] = b"tessera bench: the machine's speed";
    /// Checks per timing: about 2 ms.
    const CHECKS: u32 = 50;

    /// A new key and its signature; `None` if aws-lc cannot make them.
    pub fn new() -> Option<Self> {
        use aws_lc_rs::signature::KeyPair as _;
        let pkcs8 =
            signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                .ok()?;
        let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).ok()?;
        let signature = pair.sign(Self::MESSAGE).as_ref().to_vec();
        let key = ParsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref()).ok()?;
        Some(Self { key, signature })
    }

    /// CPU µs per check, over a few checks.
    pub fn time_us(&self) -> f64 {
        let spent = time(Self::CHECKS, || {
            check(&self.key, Self::MESSAGE, &self.signature)
        });
        per_round_us(spent, Self::CHECKS)
    }
}

/// Whether `jwt`'s signature holds under `key`: split, decode the signature, check it; the
/// header and claims are not read.
pub fn signature_holds(key: &ParsedPublicKey, jwt: &str) -> bool {
    jwt.rsplit_once('.').is_some_and(|(signed, sig)| {
        B64.decode(sig)
            .is_ok_and(|sig| check(key, signed.as_bytes(), &sig))
    })
}

fn app_verify(key: &ParsedPublicKey, jwt: &str) -> bool {
    if !signature_holds(key, jwt) {
        return false;
    }
    let Some(payload) = jwt.split('.').nth(1) else {
        return false;
    };
    let Ok(bytes) = B64.decode(payload) else {
        return false;
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    claims["exp"].as_i64().is_some_and(|exp| exp > 0)
}

/// The calling thread's CPU time for `rounds` calls of `f`: a check's cost without the time
/// another thread held the core meanwhile (the server's, finishing the load before),
/// comparable to the server's CPU per request it is set against.
fn time(rounds: u32, mut f: impl FnMut() -> bool) -> Duration {
    let started = thread_cpu();
    for _ in 0..rounds {
        std::hint::black_box(f());
    }
    thread_cpu().saturating_sub(started)
}

/// µs per round.
pub fn per_round_us(total: Duration, rounds: u32) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(rounds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_readable_without_a_key() {
        let payload = B64.encode(br#"{"sub":"u1","roles":[],"exp":5}"#);
        let jwt = format!(
            "{}.{payload}.sig",
            B64.encode(br#"{"alg":"EdDSA","kid":"k"}"#)
        );
        assert_eq!(readable_claims(&jwt).unwrap(), ["exp", "roles", "sub"]);
        assert_eq!(claim_i64(&jwt, "exp"), Some(5));
        assert_eq!(algorithm(&jwt).as_deref(), Some("EdDSA"));
        assert!(readable_claims("opaque-token").is_none());
    }

    fn new_key() -> signature::Ed25519KeyPair {
        let pkcs8 =
            signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                .unwrap();
        signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    /// An EdDSA JWT signed over `payload` by `key`, and the JWK Set that publishes the key.
    fn signed(key: &signature::Ed25519KeyPair, payload: &str) -> (String, Value) {
        use aws_lc_rs::signature::KeyPair as _;
        let header = B64.encode(br#"{"alg":"EdDSA","kid":"k1"}"#);
        let input = format!("{header}.{}", B64.encode(payload));
        let sig = B64.encode(key.sign(input.as_bytes()).as_ref());
        let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
            "kid": "k1", "x": B64.encode(key.public_key().as_ref())}]});
        (format!("{input}.{sig}"), jwks)
    }

    #[test]
    fn the_reference_check_holds_and_takes_time() {
        let reference = ReferenceCheck::new().expect("a key");
        assert!(check(
            &reference.key,
            ReferenceCheck::MESSAGE,
            &reference.signature
        ));
        let us = reference.time_us();
        assert!(us > 0.0 && us < 10_000.0, "{us}");
    }

    #[test]
    fn the_bare_check_takes_distinct_tokens_and_refuses_a_bad_signature() {
        let key = new_key();
        let (a, jwks) = signed(&key, r#"{"jti":"a"}"#);
        let (b, _) = signed(&key, r#"{"jti":"b"}"#);
        let mut floor = BareCheck::new(&jwks, [a.as_str(), b.as_str()]).expect("both hold");
        assert_eq!(floor.signed.len(), 2);
        assert!(floor.time(3) > Duration::ZERO);
        assert_eq!(floor.next, 1, "three checks went round the two tokens");
        assert!(floor.us_per_check(2) > 0.0);

        let tampered = a.replacen(r#"eyJqdGkiOiJhIn0"#, &B64.encode(r#"{"jti":"c"}"#), 1);
        assert_ne!(tampered, a);
        assert!(BareCheck::new(&jwks, [tampered.as_str()]).is_none());
        assert!(BareCheck::new(&jwks, []).is_none(), "no token, no floor");
    }

    #[test]
    fn the_client_side_verification_is_timed_only_for_a_token_that_verifies() {
        let key = new_key();
        let (jwt, jwks) = signed(&key, r#"{"exp":5}"#);
        assert!(client_verify_us(&jwks, &jwt, 3).is_some_and(|us| us > 0.0));

        let tampered = jwt.replacen(&B64.encode(r#"{"exp":5}"#), &B64.encode(r#"{"exp":6}"#), 1);
        assert_ne!(tampered, jwt);
        assert_eq!(client_verify_us(&jwks, &tampered, 3), None);
    }

    #[test]
    fn rsa_public_keys_are_encoded_as_pkcs1_der() {
        // Short forms, a leading zero for a high bit, leading zeros of the input dropped.
        assert_eq!(
            rsa_public_key_der(&[0x00, 0x81], &[0x01, 0x00, 0x01]),
            [
                0x30, 0x09, 0x02, 0x02, 0x00, 0x81, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
        // A 2048-bit modulus takes the two-byte long form of the length.
        let der = rsa_public_key_der(&[0xc0; 256], &[0x01, 0x00, 0x01]);
        assert_eq!(&der[..8], [0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01]);
        assert_eq!(der.len(), 4 + 266);
    }
}
