//! Records of refresh families, revocations and signing keys, as stores keep them.

use std::fmt;

use crate::{FamilyId, Timestamp, TokenDigest, UserId};

/// A refresh-token family: created at login (`POST /v1/tokens`), rotated on each refresh,
/// ended by logout, reuse, password change or admin revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshFamily {
    /// The family id (the `sid` of its access tokens).
    pub id: FamilyId,
    /// Owner.
    pub user_id: UserId,
    /// Login time.
    pub created_at: Timestamp,
    /// Absolute end: `created_at + refresh_ttl`; rotation never extends it.
    pub expires_at: Timestamp,
    /// When the family was ended, if it was.
    pub ended_at: Option<Timestamp>,
}

impl RefreshFamily {
    /// Whether tokens of this family may still be used at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

/// One refresh token of a family.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub digest: TokenDigest,
    /// Its family.
    pub family_id: FamilyId,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it was exchanged for its successor, if it was.
    pub spent_at: Option<Timestamp>,
    /// The successor's digest, once spent.
    pub successor: Option<TokenDigest>,
    /// The successor token encrypted under a key derived from this token, kept only for the
    /// grace window (then dropped by `purge_refresh`).
    pub sealed_successor: Option<Vec<u8>>,
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("digest", &self.digest)
            .field("family_id", &self.family_id)
            .field("issued_at", &self.issued_at)
            .field("spent_at", &self.spent_at)
            .field("successor", &self.successor)
            .field(
                "sealed_successor",
                &self.sealed_successor.as_ref().map(|_| "<sealed>"),
            )
            .finish()
    }
}

/// The result of [`super::RefreshStore::rotate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was spent now and its successor stored.
    Rotated,
    /// The token had been spent already, or its family ended, or it is unknown: nothing changed.
    NotRotated,
}

/// What a [`Revocation`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevokedKind {
    /// One access token, by its `jti`.
    AccessToken,
    /// A session or refresh family, by the `sid` its access tokens carry.
    Sid,
}

/// A revoked id, kept until `expires_at`, after which no token naming it can be valid anyway.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Revocation {
    /// What the id names.
    pub kind: RevokedKind,
    /// The `jti` or `sid` text.
    pub id: String,
    /// When the entry may be forgotten.
    pub expires_at: Timestamp,
}

/// A signing algorithm. Each key is pinned to exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// Ed25519 signatures (the default).
    EdDSA,
    /// ECDSA over P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// HMAC-SHA-256 with a shared secret (never published in the JWKS).
    HS256,
}

impl KeyAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "HS256" => Ok(Self::HS256),
            other => Err(format!(
                "unknown algorithm {other:?}: expected EdDSA, ES256, RS256 or HS256"
            )),
        }
    }
}

/// A stored signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, the JWT header's `kid`.
    pub kid: String,
    /// The one algorithm this key signs and verifies with.
    pub algorithm: KeyAlgorithm,
    /// Private key as PKCS#8 DER, or the raw secret for HS256.
    pub private_der: Vec<u8>,
    /// When the key was made: from then on it is published (JWKS) and verifies.
    pub created_at: Timestamp,
    /// When it starts signing: at or after `created_at`, so that every instance and every app
    /// that caches the JWKS knows the key before the first token it signs arrives.
    pub activates_at: Timestamp,
    /// Once superseded: when it stops verifying (the last token it signed has expired).
    pub retires_at: Option<Timestamp>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_der", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish()
    }
}
