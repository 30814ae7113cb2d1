//! Sealing the successor of a spent refresh token for the grace window: the successor is
//! encrypted (AES-256-GCM) under a key derived (HKDF-SHA-256, its own salt and info) from the
//! spent token's secret, so only someone presenting the spent token again can open it, and the
//! stored digest of the spent token does not help.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::hkdf;
use zeroize::Zeroize;

use crate::OpaqueToken;
use crate::secret::random_bytes;

/// First byte of every sealed successor.
const VERSION: u8 = 1;
const SALT: &[u8] = b"tessera/refresh-successor/v1";
const INFO: &[u8] = b"aes-256-gcm key";
const AAD: &[u8] = b"tessera refresh successor";
/// Version byte, nonce, the 32-byte token, the 16-byte tag.
const SEALED_LEN: usize = 1 + NONCE_LEN + 32 + 16;

fn key_from(spent: &OpaqueToken) -> Result<LessSafeKey, Unspecified> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(spent.secret_bytes());
    let okm = prk.expand(&[INFO], &AES_256_GCM)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn try_seal(spent: &OpaqueToken, successor: &OpaqueToken) -> Result<Vec<u8>, Unspecified> {
    let key = key_from(spent)?;
    let nonce = random_bytes::<NONCE_LEN>();
    let mut sealed = Vec::with_capacity(SEALED_LEN);
    sealed.push(VERSION);
    sealed.extend_from_slice(&nonce);
    let mut body = successor.secret_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(AAD),
        &mut body,
    )?;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// `successor` encrypted under a key derived from `spent`, with a random nonce stored in front
/// (61 bytes).
///
/// # Panics
/// When the operating system's randomness or the crypto library fails.
pub fn seal_successor(spent: &OpaqueToken, successor: &OpaqueToken) -> Vec<u8> {
    try_seal(spent, successor)
        .expect("sealing failed: the OS random number generator or the crypto library is broken")
}

/// The successor sealed by [`seal_successor`] under `spent`; `None` for any other token, any
/// tampering, or bytes that are not a sealed successor.
pub fn open_successor(spent: &OpaqueToken, sealed: &[u8]) -> Option<OpaqueToken> {
    if sealed.len() != SEALED_LEN {
        return None;
    }
    let (&VERSION, rest) = sealed.split_first()? else {
        return None;
    };
    let (nonce, body) = rest.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let key = key_from(spent).ok()?;
    let mut body = body.to_vec();
    let opened = key
        .open_in_place(nonce, Aad::from(AAD), &mut body)
        .ok()
        .and_then(|plain| <[u8; 32]>::try_from(&*plain).ok());
    body.zeroize();
    opened.map(OpaqueToken::from_secret_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_with_the_spent_token_only() {
        let spent = OpaqueToken::generate();
        let successor = OpaqueToken::generate();
        let sealed = seal_successor(&spent, &successor);
        assert_eq!(sealed.len(), SEALED_LEN);
        assert_eq!(open_successor(&spent, &sealed), Some(successor.clone()));
        assert_eq!(open_successor(&OpaqueToken::generate(), &sealed), None);
        assert_eq!(open_successor(&successor, &sealed), None);
    }

    #[test]
    fn sealing_hides_the_successor_and_uses_a_fresh_nonce() {
        let spent = OpaqueToken::generate();
        let successor = OpaqueToken::generate();
        let a = seal_successor(&spent, &successor);
        let b = seal_successor(&spent, &successor);
        assert_ne!(a, b);
        let secret = successor.secret_bytes();
        assert!(!a.windows(secret.len()).any(|w| w == secret));
        assert!(!a.windows(32).any(|w| w == spent.digest().as_bytes()));
    }

    #[test]
    fn tampered_or_malformed_input_does_not_open() {
        let spent = OpaqueToken::generate();
        let sealed = seal_successor(&spent, &OpaqueToken::generate());
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(open_successor(&spent, &tampered), None, "byte {i}");
        }
        for bad in [&[][..], &sealed[..SEALED_LEN - 1], &[0u8; 200][..]] {
            assert_eq!(open_successor(&spent, bad), None);
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(open_successor(&spent, &longer), None);
    }
}
