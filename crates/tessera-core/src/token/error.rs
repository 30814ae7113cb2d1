//! The errors of this module. Their `Display` is a short reason that is safe to show a client:
//! no library names, no key material, no token contents.

/// Why an access token was refused or could not be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the configured `token.max_size`: refused before parsing, never issued.
    #[error("token too large")]
    TooLarge,
    /// Not three base64url segments, or a header that is not a JSON object with a string `alg`.
    #[error("malformed token")]
    Malformed,
    /// The header names no `kid`, or one that is not a current verification key.
    #[error("unknown key")]
    UnknownKey,
    /// The header's `alg` is not the one algorithm of the key it names.
    #[error("algorithm not allowed")]
    WrongAlgorithm,
    /// The header's `typ` is not `at+jwt` (or `application/at+jwt`).
    #[error("wrong token type")]
    WrongType,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// A claim is missing, of the wrong type or out of range.
    #[error("invalid claims")]
    InvalidClaims,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is neither the configured audience nor an array containing it.
    #[error("wrong audience")]
    WrongAudience,
    /// Signing failed inside the crypto library (issuing only).
    #[error("token could not be signed")]
    SigningFailed,
}

/// Why a [`super::KeyRing`] could not be built from stored key records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No record without a `retires_at` is left to sign new tokens with.
    #[error("no current signing key")]
    NoSigningKey,
    /// Two usable records share a `kid`.
    #[error("duplicate key id {kid:?}")]
    DuplicateKid {
        /// The repeated key id.
        kid: String,
    },
    /// A record's key material does not parse for its algorithm (or is too short, or its `kid`
    /// is empty).
    #[error("key {kid:?} is not a valid {algorithm} key")]
    InvalidKey {
        /// The key id of the bad record.
        kid: String,
        /// The record's algorithm name.
        algorithm: &'static str,
    },
    /// The operating system's randomness or the crypto library failed while generating a key.
    #[error("key generation failed")]
    GenerationFailed,
}
