//! Bearer secrets: session and refresh tokens, and the digests stores keep instead of them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `N` bytes from the operating system's CSPRNG.
///
/// # Panics
/// When the operating system cannot supply randomness: no secret may be issued then.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the OS random number generator failed");
    out
}

/// Exactly `N` bytes from their canonical unpadded base64url (`⌈4N/3⌉` characters), or `None`
/// for any other length, a character outside the alphabet, or set bits past the last byte.
///
/// Decoded by base64-simd, as JWT segments are: every session request parses its token, and
/// the base64 crate's scalar decoder took about 500 instructions for its 43 characters.
pub fn decode_base64url<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != (4 * N).div_ceil(3) {
        return None;
    }
    let mut out = [0u8; N];
    match base64_simd::URL_SAFE_NO_PAD
        .decode(text.as_bytes(), base64_simd::Out::from_slice(&mut out))
    {
        Ok(decoded) if decoded.len() == N => Some(out),
        _ => None,
    }
}

/// A session or refresh token: 256 random bits, shown to its holder once as 43 base64url
/// characters, with no structure and no prefix.
///
/// It never appears in `Debug` output, is compared in constant time and is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OpaqueToken([u8; 32]);

impl OpaqueToken {
    /// A fresh token from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(random_bytes())
    }

    /// Parses the 43-character form; anything else (wrong length, bad alphabet, non-canonical
    /// trailing bits) is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        decode_base64url(text).map(Self)
    }

    /// The 43-character form handed to the holder.
    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The SHA-256 digest under which stores keep this token.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0).into())
    }

    /// The raw secret bytes, for deriving keys from the token.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The token from raw secret bytes (for example after decrypting a stored successor).
    pub fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl PartialEq for OpaqueToken {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for OpaqueToken {}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// The SHA-256 digest of an [`OpaqueToken`]: what stores key by. Knowing it does not let anyone
/// present the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A digest read back from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Lower-case hex, for stores that key by text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell digests apart in logs.
        write!(
            f,
            "TokenDigest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// SHA-256 of arbitrary bytes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality of two byte strings (lengths may leak, contents do not).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_43_base64url_chars_and_round_trips() {
        let t = OpaqueToken::generate();
        let text = t.expose();
        assert_eq!(text.len(), 43);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(OpaqueToken::parse(&text), Some(t.clone()));
        assert_eq!(
            OpaqueToken::parse(&text).map(|p| p.digest()),
            Some(t.digest())
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in [
            "",
            "abc",
            &"A".repeat(44),
            &"!".repeat(43),
            &"A".repeat(8000),
            // 43 characters carry 258 bits: the last 2 must be zero (a canonical encoding).
            &format!("{}B", "A".repeat(42)),
        ] {
            assert!(OpaqueToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = OpaqueToken::generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(&t.expose()));
        assert!(shown.contains("redacted"));
    }
}
