//! Access tokens (RFC 9068 style): their claims, issuing them, and verifying them against the
//! injected time.
//!
//! # Verification
//!
//! Tokens are verified here with aws-lc-rs directly rather than through a JWT library:
//! `jsonwebtoken::decode` parses the header again, decodes the claims twice and, for RSA and
//! EC, parses the public key on every call, which made a cold verification (every token new)
//! cost up to ten times the signature check itself; a whole request has to stay within 1.2
//! times of `/healthz` plus the check (`tessera bench --fresh-tokens`, docs/BENCHMARKS.md).
//! Each key is parsed once, when the [`KeyRing`] is built, for its one algorithm.
//!
//! The security rules, all in [`KeyRing::verify`] and in this order:
//!
//! 1. Length at most `token.max_size`; exactly three non-empty, unpadded base64url segments.
//! 2. The protected header is a JSON object with a string `alg`, no repeated member and no
//!    `crit`. Its `kid` must name a key of the ring that has not retired at `now`: keys come
//!    only from the ring, and header members that carry or point to keys (`jwk`, `jku`, `x5u`,
//!    `x5c`) are ignored. A header byte for byte the one the ring writes for an active key
//!    passes these checks and the next one by construction, and is not decoded again.
//! 3. `alg` must be exactly the one algorithm of that key (the allow-list is per key, checked
//!    before any crypto): `none`, another family (HS256 keyed with a public key) or another
//!    hash is refused. `typ` must be `at+jwt` or `application/at+jwt`.
//! 4. The signature, decoded, must have the key's exact length and verify over the
//!    `header.payload` text with that key (HMAC tags compared in constant time).
//! 5. Only then is the payload decoded and parsed, once, into [`AccessClaims`]: every claim
//!    present and of its type, dates within 0..=9999-12-31; `iss` the configured issuer; `aud`
//!    (a string or an array) containing the configured audience; `exp`, `nbf` and `iat` checked
//!    against the injected `now` with the configured leeway.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::jws::{self, JoseHeader};
use super::keys::VerificationKey;
use super::{KeyRing, TokenError};
use crate::secret::random_bytes;
use crate::{Timestamp, UserId};

/// The latest `NumericDate` accepted: 9999-12-31T23:59:59Z. Anything later (or negative) is
/// [`TokenError::InvalidClaims`].
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// What issuing and verifying access tokens depend on: the `token.*` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSettings {
    /// `iss` of every token (`token.issuer`, default `tessera`).
    pub issuer: String,
    /// `aud` of every token unless overridden, and the only audience accepted
    /// (`token.audience`, default `tessera`).
    pub audience: String,
    /// Default lifetime (`token.access_ttl`, default 10 minutes).
    pub access_ttl: Duration,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (`token.leeway`, default 30 s).
    pub leeway: Duration,
    /// Longest token issued or looked at, in bytes (`token.max_size`, default 4096).
    pub max_size: usize,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "tessera".to_owned(),
            audience: "tessera".to_owned(),
            access_ttl: Duration::from_secs(600),
            leeway: Duration::from_secs(30),
            max_size: 4096,
        }
    }
}

/// The claims of an access token. Read by a hand-written [`Deserialize`] (below) that also
/// refuses a repeated unknown claim, in the same single pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The user.
    pub sub: UserId,
    /// Audiences: one is written as a string, and a string or an array is read.
    #[serde(serialize_with = "audience::serialize")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Not-before time, seconds since the epoch.
    pub nbf: i64,
    /// The token's unique id (what revoking one access token names).
    pub jti: String,
    /// The user's roles when the token was issued.
    pub roles: Vec<String>,
    /// The session or refresh family the token belongs to: it dies with it.
    pub sid: String,
}

impl AccessClaims {
    /// When the token expires.
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_secs(self.exp)
    }

    /// Checks `exp`, `nbf` and `iat` against `now`, allowing `leeway` of clock skew.
    ///
    /// # Errors
    /// [`TokenError::Expired`] once `now` reaches `exp + leeway`; [`TokenError::NotYetValid`]
    /// while `nbf` or `iat` is later than `now + leeway`.
    pub fn check_times(&self, now: Timestamp, leeway: Duration) -> Result<(), TokenError> {
        if now.minus(leeway) >= Timestamp::from_secs(self.exp) {
            return Err(TokenError::Expired);
        }
        let latest_start = now.plus(leeway);
        if Timestamp::from_secs(self.nbf) > latest_start
            || Timestamp::from_secs(self.iat) > latest_start
        {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

/// The claims of a verified payload: a UTF-8 JSON object (RFC 7519) with no name twice (RFC
/// 8725 advises refusing duplicates rather than taking the first or the last).
fn parse_claims(payload: &[u8]) -> Result<AccessClaims, TokenError> {
    let text = std::str::from_utf8(payload).map_err(|_| TokenError::InvalidClaims)?;
    serde_json::from_str(text).map_err(|_| TokenError::InvalidClaims)
}

/// Every claim present once and of its type, dates within 0..=9999-12-31, `sub` a
/// user id; unknown claims are skipped, but none may appear twice either. One pass over the
/// JSON: this runs on every token a server has not seen yet.
impl<'de> Deserialize<'de> for AccessClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ClaimsVisitor)
    }
}

struct ClaimsVisitor;

impl<'de> serde::de::Visitor<'de> for ClaimsVisitor {
    type Value = AccessClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<AccessClaims, A::Error> {
        use serde::de::Error as _;
        fn once<T, E: serde::de::Error>(
            slot: &mut Option<T>,
            value: T,
            name: &'static str,
        ) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        fn present<T, E: serde::de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
            slot.ok_or_else(|| E::missing_field(name))
        }
        let (mut iss, mut sub, mut aud, mut exp, mut iat, mut nbf) =
            (None, None, None, None, None, None);
        let (mut jti, mut roles, mut sid) = (None, None, None);
        // A token of Tessera's has no other claim: the list stays empty and unallocated.
        let mut others: Vec<ClaimName<'de>> = Vec::new();
        while let Some(name) = map.next_key::<ClaimName<'de>>()? {
            match name.0.as_ref() {
                "iss" => once(&mut iss, map.next_value()?, "iss")?,
                "sub" => once(&mut sub, map.next_value::<SubClaim>()?.0, "sub")?,
                "aud" => once(&mut aud, map.next_value::<AudClaim>()?.0, "aud")?,
                "exp" => once(&mut exp, map.next_value::<NumericDate>()?.0, "exp")?,
                "iat" => once(&mut iat, map.next_value::<NumericDate>()?.0, "iat")?,
                "nbf" => once(&mut nbf, map.next_value::<NumericDate>()?.0, "nbf")?,
                "jti" => once(&mut jti, map.next_value()?, "jti")?,
                "roles" => once(&mut roles, map.next_value()?, "roles")?,
                "sid" => once(&mut sid, map.next_value()?, "sid")?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if others.contains(&name) {
                        return Err(A::Error::custom("duplicate claim"));
                    }
                    others.push(name);
                }
            }
        }
        Ok(AccessClaims {
            iss: present(iss, "iss")?,
            sub: present(sub, "sub")?,
            aud: present(aud, "aud")?,
            exp: present(exp, "exp")?,
            iat: present(iat, "iat")?,
            nbf: present(nbf, "nbf")?,
            jti: present(jti, "jti")?,
            roles: present(roles, "roles")?,
            sid: present(sid, "sid")?,
        })
    }
}

/// A claim's name, borrowed from the JSON unless it has escapes (serde's own `Cow<str>` always
/// copies).
#[derive(PartialEq)]
struct ClaimName<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for ClaimName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ClaimName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                name: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(ClaimName(std::borrow::Cow::Borrowed(name)))
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(ClaimName(std::borrow::Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// `sub`: a user id.
struct SubClaim(UserId);

impl<'de> Deserialize<'de> for SubClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map(Self).map_err(serde::de::Error::custom)
    }
}

/// `aud`: a string or an array of strings.
struct AudClaim(Vec<String>);

impl<'de> Deserialize<'de> for AudClaim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        audience::deserialize(deserializer).map(Self)
    }
}

/// A `NumericDate` within 0..=[`MAX_NUMERIC_DATE`].
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secs = i64::deserialize(deserializer)?;
        if (0..=MAX_NUMERIC_DATE).contains(&secs) {
            Ok(Self(secs))
        } else {
            Err(serde::de::Error::custom("date out of range"))
        }
    }
}

mod audience {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(aud: &[String], serializer: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }

    /// A string or an array of strings; anything else is an error. (A visitor rather than an
    /// untagged enum, which would buffer the value first: this runs on every verification.)
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        struct OneOrMany;

        impl<'de> Visitor<'de> for OneOrMany {
            type Value = Vec<String>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, one: &str) -> Result<Self::Value, E> {
                Ok(vec![one.to_owned()])
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut many = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(one) = seq.next_element::<String>()? {
                    many.push(one);
                }
                Ok(many)
            }
        }

        deserializer.deserialize_any(OneOrMany)
    }
}

/// A freshly signed access token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWS, for the holder only.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp` as an instant (whole seconds).
    pub expires_at: Timestamp,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("jti", &self.jti)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl KeyRing {
    /// Signs an access token for `sub` with the current signing key: `roles`, `sid`, `aud` =
    /// `audience` or the configured audience, lifetime `ttl` or the configured `access_ttl`,
    /// issued (`iat` = `nbf`) at `now`, with a fresh random `jti`.
    ///
    /// # Errors
    /// [`TokenError::TooLarge`] when the token would exceed `max_size`;
    /// [`TokenError::SigningFailed`] when the crypto library fails.
    pub fn issue(
        &self,
        sub: UserId,
        roles: &[String],
        sid: &str,
        audience: Option<&str>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<IssuedToken, TokenError> {
        let ttl = ttl.unwrap_or(self.settings.access_ttl);
        let expires_at = Timestamp::from_secs(now.plus(ttl).as_secs());
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub,
            aud: vec![audience.unwrap_or(&self.settings.audience).to_owned()],
            exp: expires_at.as_secs(),
            iat: now.as_secs(),
            nbf: now.as_secs(),
            jti: jws::encode_segment(&random_bytes::<16>()),
            roles: roles.to_vec(),
            sid: sid.to_owned(),
        };
        let token = self.signing.sign_claims(&claims)?;
        if token.len() > self.settings.max_size {
            return Err(TokenError::TooLarge);
        }
        Ok(IssuedToken {
            token,
            jti: claims.jti,
            expires_at,
        })
    }

    /// Verifies an access token at `now` and returns its claims. Revocation and whether `sub`
    /// still exists are the caller's checks.
    ///
    /// Before any crypto, a token is refused when it is longer than `max_size`, is not three
    /// base64url segments, has a header that does not parse, names no current key, claims an
    /// algorithm other than that key's one, or has a `typ` other than `at+jwt`. Then come the
    /// signature, the required claims, `iss`, `aud`, and `exp`/`nbf`/`iat` against `now` with
    /// the configured leeway. Keys in the header (`jwk`, `jku`, `x5u`, `x5c`) are ignored.
    ///
    /// # Errors
    /// The [`TokenError`] naming the first check that failed.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<AccessClaims, TokenError> {
        self.verify_with_key(token, now).map(|(_, claims)| claims)
    }

    /// [`Self::verify`] for a token of any audience this server mints (the API's, or the
    /// upstream's of forward auth): what may be revoked. Every other check is made.
    ///
    /// # Errors
    /// The [`TokenError`] naming the first check that failed.
    pub fn verify_any_audience(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<AccessClaims, TokenError> {
        self.checked(token, now, None).map(|(_, claims)| claims)
    }

    /// [`Self::verify`], also returning the key that signed the token.
    pub(super) fn verify_with_key(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<(&VerificationKey, AccessClaims), TokenError> {
        self.checked(token, now, Some(&self.settings.audience))
    }

    /// Every check of [`Self::verify`]; `aud` must contain `audience` when one is given.
    fn checked(
        &self,
        token: &str,
        now: Timestamp,
        audience: Option<&str>,
    ) -> Result<(&VerificationKey, AccessClaims), TokenError> {
        let (key, segments) = self.precheck(token, now)?;
        let signature = jws::decode_segment(segments.signature)?;
        if signature.len() != key.signature_len {
            return Err(TokenError::BadSignature);
        }
        key.verifier
            .verify(segments.signing_input.as_bytes(), &signature)?;
        let payload = jws::decode_segment(segments.payload)?;
        let claims = parse_claims(&payload)?;
        if claims.iss != self.settings.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if audience.is_some_and(|audience| !claims.aud.iter().any(|aud| aud == audience)) {
            return Err(TokenError::WrongAudience);
        }
        claims.check_times(now, self.settings.leeway)?;
        Ok((key, claims))
    }

    /// The checks made before any crypto; the key the token names and the token's segments.
    fn precheck<'t>(
        &self,
        token: &'t str,
        now: Timestamp,
    ) -> Result<(&VerificationKey, jws::Segments<'t>), TokenError> {
        if token.len() > self.settings.max_size {
            return Err(TokenError::TooLarge);
        }
        let segments = jws::split(token)?;
        // The header as this server writes it for one of its keys: every check below holds.
        if let Some(key) = self.key_by_header_segment(segments.header, now) {
            return Ok((key, segments));
        }
        let header_bytes = jws::decode_segment(segments.header)?;
        let header = JoseHeader::parse(&header_bytes)?;
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
        let key = self
            .verification_key(kid, now)
            .ok_or(TokenError::UnknownKey)?;
        if header.alg != key.algorithm.as_str() {
            return Err(TokenError::WrongAlgorithm);
        }
        if !header.is_access_token() {
            return Err(TokenError::WrongType);
        }
        Ok((key, segments))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::*;
    use crate::ManualClock;
    use crate::clock::Clock;
    use crate::store::KeyAlgorithm;
    use crate::token::decode_unverified;
    use crate::token::jws::encode_segment;
    use crate::token::testing::{ALGORITHMS, T0, claims, forge, header, record, ring};

    fn roles() -> Vec<String> {
        vec!["admin".to_owned(), "ops".to_owned()]
    }

    fn issue(ring: &KeyRing, now: Timestamp) -> IssuedToken {
        ring.issue(UserId::random(), &roles(), "sid-1", None, None, now)
            .expect("issues")
    }

    fn eddsa() -> (KeyRing, crate::store::SigningKeyRecord) {
        (ring(KeyAlgorithm::EdDSA), record(KeyAlgorithm::EdDSA, 0))
    }

    /// Claims with `key` set to `value`.
    fn claims_with(key: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[key] = value;
        claims
    }

    #[test]
    fn round_trips_with_every_algorithm() {
        for alg in ALGORITHMS {
            let ring = ring(alg);
            let sub = UserId::random();
            let issued = ring
                .issue(sub, &roles(), "sid-1", None, None, T0)
                .expect("issues");
            let claims = ring
                .verify(&issued.token, T0)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(claims.sub, sub);
            assert_eq!(claims.roles, roles());
            assert_eq!(claims.sid, "sid-1");
            assert_eq!(claims.aud, ["tessera"]);
            assert_eq!(claims.iss, "tessera");
            assert_eq!(claims.jti, issued.jti);
            assert_eq!(claims.iat, T0.as_secs());
            assert_eq!(claims.nbf, T0.as_secs());
            assert_eq!(claims.exp, T0.as_secs() + 600);
            assert_eq!(claims.expires_at(), issued.expires_at);
        }
    }

    #[test]
    fn header_is_alg_typ_kid_and_claims_are_complete() {
        let (ring, record) = eddsa();
        let issued = issue(&ring, T0);
        let (header, claims) = decode_unverified(&issued.token).expect("decodes");
        assert_eq!(
            header,
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": record.kid})
        );
        let mut names: Vec<&str> = claims
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "aud", "exp", "iat", "iss", "jti", "nbf", "roles", "sid", "sub"
            ]
        );
        assert_eq!(claims["aud"], "tessera");
    }

    #[test]
    fn jtis_are_unique_and_the_token_is_redacted_in_debug() {
        let (ring, _) = eddsa();
        let a = issue(&ring, T0);
        let b = issue(&ring, T0);
        assert_ne!(a.jti, b.jti);
        assert!(!format!("{a:?}").contains(&a.token));
    }

    #[test]
    fn forged_tokens_with_valid_claims_verify() {
        // The forger itself is sound: every refusal below is about the one thing changed.
        for alg in ALGORITHMS {
            let record = record(alg, 0);
            assert!(
                ring(alg)
                    .verify(&forge(&record, &header(&record), &claims()), T0)
                    .is_ok(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn alg_none_in_any_spelling_is_refused() {
        let (ring, record) = eddsa();
        for none in ["none", "None", "NONE", "nOnE", ""] {
            let header = json!({"alg": none, "typ": "at+jwt", "kid": record.kid});
            let unsigned = format!(
                "{}.{}.",
                encode_segment(header.to_string().as_bytes()),
                encode_segment(claims().to_string().as_bytes())
            );
            assert_eq!(
                ring.verify(&unsigned, T0),
                Err(TokenError::Malformed),
                "{none}"
            );
            let with_signature = format!("{unsigned}AAAA");
            assert_eq!(
                ring.verify(&with_signature, T0),
                Err(TokenError::WrongAlgorithm),
                "{none}"
            );
        }
    }

    #[test]
    fn hs256_keyed_with_a_public_key_is_refused() {
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::RS256,
        ] {
            let ring = ring(alg);
            let record = record(alg, 0);
            let jwk = &ring.jwks()["keys"][0];
            let public = match alg {
                KeyAlgorithm::RS256 => jwk["n"].as_str(),
                _ => jwk["x"].as_str(),
            }
            .expect("public parameter");
            // The classic confusion: HMAC keyed with the public key (as text and as bytes).
            for secret in [
                public.as_bytes().to_vec(),
                URL_SAFE_NO_PAD.decode(public).expect("b64"),
            ] {
                let hs = crate::store::SigningKeyRecord {
                    algorithm: KeyAlgorithm::HS256,
                    private_der: secret,
                    ..record.clone()
                };
                let mut header = header(&record);
                header["alg"] = json!("HS256");
                let token = forge(&hs, &header, &claims());
                assert_eq!(
                    ring.verify(&token, T0),
                    Err(TokenError::WrongAlgorithm),
                    "{alg:?}"
                );
            }
        }
    }

    #[test]
    fn another_algorithm_of_the_same_or_another_family_is_refused() {
        let record = record(KeyAlgorithm::RS256, 0);
        let ring = ring(KeyAlgorithm::RS256);
        for alg in ["PS256", "RS384", "RS512", "ES256", "EdDSA", "rs256"] {
            let mut header = header(&record);
            header["alg"] = json!(alg);
            let token = forge(&record, &header, &claims());
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::WrongAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn an_edited_payload_is_refused() {
        for alg in ALGORITHMS {
            let ring = ring(alg);
            let issued = issue(&ring, T0);
            let parts: Vec<&str> = issued.token.split('.').collect();
            let (_, claims) = decode_unverified(&issued.token).expect("decodes");
            let mut edited = claims.clone();
            edited["roles"] = json!(["root"]);
            let payload = encode_segment(edited.to_string().as_bytes());
            let token = format!("{}.{payload}.{}", parts[0], parts[2]);
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        for alg in ALGORITHMS {
            let ring = ring(alg);
            let ours = record(alg, 0);
            let theirs = record(alg, 1);
            let token = forge(&theirs, &header(&ours), &claims());
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn a_signature_of_the_wrong_length_is_refused() {
        for alg in ALGORITHMS {
            let ring = ring(alg);
            let token = issue(&ring, T0).token;
            let (message, signature) = token.rsplit_once('.').expect("dots");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            let n = signature.len();
            let mut longer = signature.clone();
            longer.push(0);
            let doubled = [signature.as_slice(), signature.as_slice()].concat();
            for wrong in [
                &signature[..n - 1],
                &signature[..n / 2],
                &signature[..1],
                &longer[..],
                &doubled[..],
                &[0; 1024][..],
            ] {
                let token = format!("{message}.{}", encode_segment(wrong));
                assert_eq!(
                    ring.verify(&token, T0),
                    Err(TokenError::BadSignature),
                    "{alg:?} {}",
                    wrong.len()
                );
            }
            // The right length but not the signature: all zeros.
            let zeros = format!("{message}.{}", encode_segment(&vec![0; n]));
            assert_eq!(
                ring.verify(&zeros, T0),
                Err(TokenError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn claims_are_read_only_after_the_signature_holds() {
        // A payload that is not even base64url-decodable, or not JSON, under a signature that
        // does not hold: the signature is what is reported.
        let (ring, record) = eddsa();
        let good = forge(&record, &header(&record), &claims());
        let parts: Vec<&str> = good.split('.').collect();
        for payload in ["A", "bm90IGpzb24"] {
            let token = format!("{}.{payload}.{}", parts[0], parts[2]);
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::BadSignature),
                "{payload}"
            );
        }
        // Signed, but the payload segment is not valid base64url (a length of 1 mod 4).
        let message = format!("{}.A", parts[0]);
        let signature = crate::token::keys::load(&record)
            .expect("loads")
            .signer
            .sign(message.as_bytes())
            .expect("signs");
        let token = format!("{message}.{}", encode_segment(&signature));
        assert_eq!(ring.verify(&token, T0), Err(TokenError::Malformed));
    }

    #[test]
    fn a_signature_swapped_in_from_another_token_is_refused() {
        let (ring, _) = eddsa();
        let a = issue(&ring, T0).token;
        let b = issue(&ring, T0).token;
        let (a_message, _) = a.rsplit_once('.').expect("dots");
        let (_, b_signature) = b.rsplit_once('.').expect("dots");
        assert_eq!(
            ring.verify(&format!("{a_message}.{b_signature}"), T0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn structure_is_checked_first() {
        let (ring, _) = eddsa();
        let token = issue(&ring, T0).token;
        let parts: Vec<&str> = token.split('.').collect();
        let two = format!("{}.{}", parts[0], parts[1]);
        let four = format!("{token}.{}", parts[2]);
        let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
        let standard_alphabet = format!("{}.{}.{}+/", parts[0], parts[1], parts[2]);
        let bad_length = format!("{}A.{}.{}", parts[0], parts[1], parts[2]);
        let bad_signature = format!("{}.{}.A", parts[0], parts[1]);
        for bad in [
            "",
            ".",
            "..",
            "a.b",
            two.as_str(),
            four.as_str(),
            padded.as_str(),
            standard_alphabet.as_str(),
            bad_length.as_str(),
            bad_signature.as_str(),
            "eyJ.eyJ.e yJ",
            "ünïcödé.ünïcödé.ünïcödé",
        ] {
            assert_eq!(ring.verify(bad, T0), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_header_that_does_not_parse_is_refused() {
        let (ring, record) = eddsa();
        let payload = encode_segment(claims().to_string().as_bytes());
        for header in [
            "not json".to_owned(),
            "[]".to_owned(),
            "{}".to_owned(),
            "null".to_owned(),
            format!(r#"{{"typ":"at+jwt","kid":"{}"}}"#, record.kid),
            format!(
                r#"{{"alg":["EdDSA"],"typ":"at+jwt","kid":"{}"}}"#,
                record.kid
            ),
            format!(
                r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","alg":"none"}}"#,
                record.kid
            ),
            format!(
                r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","crit":["exp"]}}"#,
                record.kid
            ),
        ] {
            let token = format!("{}.{payload}.AAAA", encode_segment(header.as_bytes()));
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn missing_unknown_and_forged_kids_are_refused() {
        let (ring, record) = eddsa();
        for kid in [
            json!("../../etc/passwd"),
            json!("' OR 1=1 --"),
            json!(""),
            json!(format!("{}x", record.kid)),
            json!(record.kid.to_uppercase()),
            json!("k".repeat(2000)),
            Value::Null,
        ] {
            let mut header = header(&record);
            header["kid"] = kid.clone();
            let token = forge(&record, &header, &claims());
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::UnknownKey),
                "{kid}"
            );
        }
        let mut header = header(&record);
        header.as_object_mut().expect("object").remove("kid");
        assert_eq!(
            ring.verify(&forge(&record, &header, &claims()), T0),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn typ_must_be_at_jwt() {
        let (ring, record) = eddsa();
        for (typ, expected) in [
            (json!("at+jwt"), Ok(())),
            (json!("AT+JWT"), Ok(())),
            (json!("application/at+jwt"), Ok(())),
            (json!("Application/At+Jwt"), Ok(())),
            (json!("JWT"), Err(TokenError::WrongType)),
            (json!("jwt"), Err(TokenError::WrongType)),
            (json!("at+jwt; charset=utf-8"), Err(TokenError::WrongType)),
            (Value::Null, Err(TokenError::WrongType)),
        ] {
            let mut header = header(&record);
            header["typ"] = typ.clone();
            let got = ring
                .verify(&forge(&record, &header, &claims()), T0)
                .map(|_| ());
            assert_eq!(got, expected, "{typ}");
        }
        let mut header = header(&record);
        header.as_object_mut().expect("object").remove("typ");
        assert_eq!(
            ring.verify(&forge(&record, &header, &claims()), T0),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn keys_in_the_header_are_ignored() {
        let (ring, ours) = eddsa();
        let theirs = record(KeyAlgorithm::EdDSA, 1);
        let their_ring = KeyRing::new(std::slice::from_ref(&theirs), T0, TokenSettings::default())
            .expect("ring");
        let their_jwk = their_ring.jwks()["keys"][0].clone();
        let mut header = header(&ours);
        header["jwk"] = their_jwk;
        header["jku"] = json!("https://attacker.example/jwks.json");
        header["x5u"] = json!("https://attacker.example/cert.pem");
        header["x5c"] = json!(["MIIB"]);
        // Signed by the key the header carries: refused.
        assert_eq!(
            ring.verify(&forge(&theirs, &header, &claims()), T0),
            Err(TokenError::BadSignature)
        );
        // Signed by our key: the extra members change nothing.
        assert!(ring.verify(&forge(&ours, &header, &claims()), T0).is_ok());
    }

    #[test]
    fn badly_typed_missing_or_out_of_range_claims_are_refused() {
        let (ring, record) = eddsa();
        let now = T0.as_secs();
        let mut cases = vec![
            claims_with("exp", json!((now + 600).to_string())),
            claims_with("exp", json!(u64::MAX)),
            claims_with("exp", json!(i64::MAX)),
            claims_with("exp", json!(1e300)),
            claims_with("exp", json!(99_999_999_999_999_u64)),
            claims_with("exp", json!((now + 600) as f64 + 0.5)),
            claims_with("exp", json!(-1)),
            claims_with("exp", Value::Null),
            claims_with("iat", json!("now")),
            claims_with("nbf", json!(true)),
            claims_with("sub", json!("../../etc/passwd")),
            claims_with("sub", json!(42)),
            claims_with("roles", json!("admin")),
            claims_with("aud", json!(["tessera", 1])),
            claims_with("iss", json!(["tessera"])),
        ];
        for name in [
            "exp", "iat", "nbf", "iss", "aud", "sub", "jti", "roles", "sid",
        ] {
            let mut claims = claims();
            claims.as_object_mut().expect("object").remove(name);
            cases.push(claims);
        }
        let mut duplicated = serde_json::to_string(&claims()).expect("json");
        duplicated.insert_str(1, r#""aud":"elsewhere","#);
        for claims in cases {
            let token = forge(&record, &header(&record), &claims);
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::InvalidClaims),
                "{claims}"
            );
        }
        let token = sign_text(&record, &duplicated);
        assert_eq!(ring.verify(&token, T0), Err(TokenError::InvalidClaims));
        // Not JSON at all, but signed.
        let token = forge(&record, &header(&record), &json!("a string"));
        assert_eq!(ring.verify(&token, T0), Err(TokenError::InvalidClaims));
    }

    /// A token signed with the real key over `payload` exactly as written.
    fn sign_text(record: &crate::store::SigningKeyRecord, payload: &str) -> String {
        let message = format!(
            "{}.{}",
            encode_segment(header(record).to_string().as_bytes()),
            encode_segment(payload.as_bytes())
        );
        let signature = crate::token::keys::load(record)
            .expect("loads")
            .signer
            .sign(message.as_bytes())
            .expect("signs");
        format!("{message}.{}", encode_segment(&signature))
    }

    #[test]
    fn unknown_claims_are_skipped_but_none_may_repeat_however_it_is_spelled() {
        let (ring, record) = eddsa();
        let with = |extra: &str| {
            let text = serde_json::to_string(&claims()).expect("json");
            format!("{{{extra}{}", &text[1..])
        };
        let one = sign_text(&record, &with(r#""note":{"a":[1,2]},"#));
        assert_eq!(
            ring.verify(&one, T0).map(|c| c.jti),
            Ok(claims()["jti"].as_str().unwrap().to_owned())
        );
        for repeated in [
            r#""note":1,"note":2,"#,
            r#""note":1,"n\u006fte":2,"#,
            r#""j\u0074i":"other","#,
        ] {
            let token = sign_text(&record, &with(repeated));
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::InvalidClaims),
                "{repeated}"
            );
        }
    }

    #[test]
    fn a_far_future_exp_within_range_does_not_overflow() {
        let (ring, record) = eddsa();
        let token = forge(
            &record,
            &header(&record),
            &claims_with("exp", json!(MAX_NUMERIC_DATE)),
        );
        assert!(ring.verify(&token, T0).is_ok());
        assert!(
            ring.verify(&token, Timestamp::from_millis(i64::MAX))
                .is_err()
        );
        assert!(
            ring.verify(&token, Timestamp::from_millis(i64::MIN))
                .is_err()
        );
    }

    #[test]
    fn oversized_tokens_are_refused_before_parsing_and_never_issued() {
        let (ring, _) = eddsa();
        let huge = "A".repeat(16 * 1024);
        assert_eq!(ring.verify(&huge, T0), Err(TokenError::TooLarge));
        let huge_but_shaped = format!("{huge}.{huge}.{huge}");
        assert_eq!(ring.verify(&huge_but_shaped, T0), Err(TokenError::TooLarge));
        let many_roles: Vec<String> = (0..400).map(|i| format!("role-{i}")).collect();
        assert_eq!(
            ring.issue(UserId::random(), &many_roles, "sid", None, None, T0)
                .err(),
            Some(TokenError::TooLarge)
        );
        let exact = issue(&ring, T0).token.len();
        let tight = KeyRing::new(
            &[record(KeyAlgorithm::EdDSA, 0)],
            T0,
            TokenSettings {
                max_size: exact,
                ..TokenSettings::default()
            },
        )
        .expect("ring");
        assert!(tight.verify(&issue(&tight, T0).token, T0).is_ok());
        let mut longer = issue(&tight, T0).token;
        longer.push('A');
        assert_eq!(tight.verify(&longer, T0), Err(TokenError::TooLarge));
    }

    #[test]
    fn expiry_follows_the_injected_clock_with_leeway() {
        let (ring, _) = eddsa();
        let clock = ManualClock::new(T0);
        let token = issue(&ring, clock.now()).token;
        clock.advance(Duration::from_secs(600 + 29));
        assert!(ring.verify(&token, clock.now()).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(ring.verify(&token, clock.now()), Err(TokenError::Expired));
        // T0 is decades ago: the system clock would have refused the token long before.
        assert!(ring.verify(&token, T0).is_ok());
    }

    #[test]
    fn zero_leeway_expires_at_exp() {
        let record = record(KeyAlgorithm::HS256, 0);
        let settings = TokenSettings {
            leeway: Duration::ZERO,
            ..TokenSettings::default()
        };
        let ring = KeyRing::new(&[record], T0, settings).expect("ring");
        let issued = issue(&ring, T0);
        assert!(
            ring.verify(
                &issued.token,
                issued.expires_at.minus(Duration::from_millis(1))
            )
            .is_ok()
        );
        assert_eq!(
            ring.verify(&issued.token, issued.expires_at),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn nbf_or_iat_ahead_beyond_leeway_is_refused() {
        let (ring, record) = eddsa();
        let now = T0.as_secs();
        for name in ["nbf", "iat"] {
            let within = forge(
                &record,
                &header(&record),
                &claims_with(name, json!(now + 30)),
            );
            assert!(ring.verify(&within, T0).is_ok(), "{name}");
            let ahead = forge(
                &record,
                &header(&record),
                &claims_with(name, json!(now + 31)),
            );
            assert_eq!(
                ring.verify(&ahead, T0),
                Err(TokenError::NotYetValid),
                "{name}"
            );
            assert!(
                ring.verify(&ahead, T0.plus(Duration::from_secs(1))).is_ok(),
                "{name}"
            );
        }
        let from_the_future = issue(&ring, T0.plus(Duration::from_secs(3600))).token;
        assert_eq!(
            ring.verify(&from_the_future, T0),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let (ring, record) = eddsa();
        let token = forge(
            &record,
            &header(&record),
            &claims_with("iss", json!("someone-else")),
        );
        assert_eq!(ring.verify(&token, T0), Err(TokenError::WrongIssuer));
        let elsewhere = KeyRing::new(
            &[record],
            T0,
            TokenSettings {
                issuer: "https://auth.example".to_owned(),
                ..TokenSettings::default()
            },
        )
        .expect("ring");
        assert_eq!(
            elsewhere.verify(&issue(&ring, T0).token, T0),
            Err(TokenError::WrongIssuer)
        );
    }

    #[test]
    fn audience_must_be_ours_as_a_string_or_in_an_array() {
        let (ring, record) = eddsa();
        for (aud, expected) in [
            (json!("tessera"), Ok(())),
            (json!(["tessera"]), Ok(())),
            (json!(["upstream", "tessera"]), Ok(())),
            (json!("upstream"), Err(TokenError::WrongAudience)),
            (json!("Tessera"), Err(TokenError::WrongAudience)),
            (json!(["upstream", "other"]), Err(TokenError::WrongAudience)),
            (json!([]), Err(TokenError::WrongAudience)),
        ] {
            let token = forge(&record, &header(&record), &claims_with("aud", aud.clone()));
            assert_eq!(ring.verify(&token, T0).map(|_| ()), expected, "{aud}");
        }
        let upstream = ring
            .issue(UserId::random(), &[], "sid", Some("upstream"), None, T0)
            .expect("issues");
        assert_eq!(
            ring.verify(&upstream.token, T0),
            Err(TokenError::WrongAudience)
        );
        let (_, claims) = decode_unverified(&upstream.token).expect("decodes");
        assert_eq!(claims["aud"], "upstream");
    }

    #[test]
    fn audience_of_another_type_is_refused() {
        let (ring, record) = eddsa();
        for aud in [
            json!(7),
            json!(true),
            json!({"aud": "tessera"}),
            json!([["tessera"]]),
            json!([null]),
            Value::Null,
        ] {
            let token = forge(&record, &header(&record), &claims_with("aud", aud.clone()));
            assert_eq!(
                ring.verify(&token, T0),
                Err(TokenError::InvalidClaims),
                "{aud}"
            );
        }
        let many: AccessClaims =
            serde_json::from_value(claims_with("aud", json!(["a", "b", "tessera"])))
                .expect("parses");
        assert_eq!(many.aud, ["a", "b", "tessera"]);
    }

    #[test]
    fn ttl_override_sets_exp() {
        let (ring, _) = eddsa();
        let issued = ring
            .issue(
                UserId::random(),
                &[],
                "sid",
                None,
                Some(Duration::from_secs(60)),
                T0,
            )
            .expect("issues");
        assert_eq!(issued.expires_at, T0.plus(Duration::from_secs(60)));
        assert_eq!(
            ring.verify(&issued.token, T0).expect("valid").exp,
            T0.as_secs() + 60
        );
    }

    #[test]
    fn reasons_are_short_and_safe() {
        assert_eq!(TokenError::Expired.to_string(), "token expired");
        assert_eq!(TokenError::UnknownKey.to_string(), "unknown key");
        assert_eq!(TokenError::BadSignature.to_string(), "bad signature");
        assert_eq!(TokenError::Malformed.to_string(), "malformed token");
        for error in [
            TokenError::TooLarge,
            TokenError::WrongAlgorithm,
            TokenError::WrongType,
            TokenError::InvalidClaims,
            TokenError::NotYetValid,
            TokenError::WrongIssuer,
            TokenError::WrongAudience,
            TokenError::SigningFailed,
        ] {
            let reason = error.to_string();
            assert!(
                reason.len() < 32 && !reason.to_lowercase().contains("jsonwebtoken"),
                "{reason}"
            );
        }
    }

    #[test]
    fn claims_serialize_aud_as_string_for_one_and_array_for_many() {
        let mut claims: AccessClaims = serde_json::from_value(claims()).expect("parses");
        assert_eq!(
            serde_json::to_value(&claims).expect("json")["aud"],
            "tessera"
        );
        claims.aud.push("upstream".to_owned());
        assert_eq!(
            serde_json::to_value(&claims).expect("json")["aud"],
            json!(["tessera", "upstream"])
        );
    }
}
