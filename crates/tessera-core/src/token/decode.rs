//! Reading a token without verifying it, for `tessera token decode`. Nothing read here may be
//! trusted.

use serde_json::Value;

use super::TokenError;
use super::jws::{self, MAX_TOKEN_BYTES};

/// The header and claims of a compact JWS, **unverified**: the signature, the key, the times
/// and every claim are unchecked.
///
/// # Errors
/// [`TokenError::TooLarge`] beyond [`MAX_TOKEN_BYTES`]; [`TokenError::Malformed`] when the token
/// is not three base64url segments or its header is not a JSON object;
/// [`TokenError::InvalidClaims`] when its payload is not a JSON object.
pub fn decode_unverified(token: &str) -> Result<(Value, Value), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let segments = jws::split(token)?;
    let header: Value = serde_json::from_slice(&jws::decode_segment(segments.header)?)
        .map_err(|_| TokenError::Malformed)?;
    if !header.is_object() {
        return Err(TokenError::Malformed);
    }
    let claims: Value = serde_json::from_slice(&jws::decode_segment(segments.payload)?)
        .map_err(|_| TokenError::InvalidClaims)?;
    if !claims.is_object() {
        return Err(TokenError::InvalidClaims);
    }
    Ok((header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::jws::encode_segment;

    fn compact(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            encode_segment(header.as_bytes()),
            encode_segment(payload.as_bytes())
        )
    }

    #[test]
    fn shows_header_and_claims() {
        let (header, claims) = decode_unverified(&compact(
            r#"{"alg":"EdDSA","kid":"k"}"#,
            r#"{"sub":"x","exp":1}"#,
        ))
        .expect("decodes");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(claims["exp"], 1);
    }

    #[test]
    fn refuses_what_is_not_a_jws() {
        assert_eq!(decode_unverified("a.b").err(), Some(TokenError::Malformed));
        assert_eq!(
            decode_unverified(&"a".repeat(MAX_TOKEN_BYTES + 1)).err(),
            Some(TokenError::TooLarge)
        );
        assert_eq!(
            decode_unverified(&compact("[1]", "{}")).err(),
            Some(TokenError::Malformed)
        );
        assert_eq!(
            decode_unverified(&compact("nope", "{}")).err(),
            Some(TokenError::Malformed)
        );
        assert_eq!(
            decode_unverified(&compact("{}", "42")).err(),
            Some(TokenError::InvalidClaims)
        );
        assert_eq!(
            decode_unverified(&compact("{}", "{")).err(),
            Some(TokenError::InvalidClaims)
        );
    }
}
