//! JWS compact serialization: the structural checks made before any crypto, the protected header
//! as far as Tessera reads it, and base64url segments.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::TokenError;

/// The longest token [`super::decode_unverified`] looks at. Verification uses the configured
/// `token.max_size` instead.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The three segments of a compact JWS, each checked to be non-empty base64url.
pub(super) struct Segments<'a> {
    /// The protected header.
    pub header: &'a str,
    /// The claims.
    pub payload: &'a str,
    /// The signature.
    pub signature: &'a str,
    /// What the signature covers: `header.payload`, exactly as they appear in the token.
    pub signing_input: &'a str,
}

/// Splits `token` into exactly three non-empty segments of the unpadded base64url alphabet.
pub(super) fn split(token: &str) -> Result<Segments<'_>, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if ![header, payload, signature]
        .iter()
        .all(|part| is_base64url(part))
    {
        return Err(TokenError::Malformed);
    }
    let signing_input = token
        .get(..header.len() + 1 + payload.len())
        .ok_or(TokenError::Malformed)?;
    Ok(Segments {
        header,
        payload,
        signature,
        signing_input,
    })
}

fn is_base64url(segment: &str) -> bool {
    // Every byte is looked at, without an early exit and without branches, so the compiler
    // checks 16 or 32 at a time: this runs on every token a server has not seen yet.
    !segment.is_empty()
        && segment.bytes().fold(true, |all, b| {
            all & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_'))
        })
}

/// Decodes one segment (canonical unpadded base64url only). With SIMD (base64-simd): this runs
/// on the payload and signature of every token a server has not seen yet, where the scalar
/// decoder took 8 instructions a character.
pub(super) fn decode_segment(segment: &str) -> Result<Vec<u8>, TokenError> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(segment)
        .map_err(|_| TokenError::Malformed)
}

/// Encodes bytes as one segment.
pub(super) fn encode_segment(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The members of a protected header that choose how a token is checked. Every other member
/// (`jwk`, `jku`, `x5u`, `x5c`, ...) is ignored: keys come only from the key ring.
#[derive(Deserialize)]
pub(super) struct JoseHeader<'a> {
    /// The signing algorithm the token claims.
    #[serde(borrow)]
    pub alg: Cow<'a, str>,
    /// The key id.
    #[serde(borrow, default)]
    pub kid: Option<Cow<'a, str>>,
    /// The media type of the whole token.
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    /// Critical extensions: Tessera understands none, so a token that lists any is refused.
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

impl<'a> JoseHeader<'a> {
    /// Parses decoded header bytes; anything but a JSON object with a string `alg` (and string
    /// `kid`/`typ` when present, no `crit`, no repeated member) is [`TokenError::Malformed`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TokenError> {
        let header: Self = serde_json::from_slice(bytes).map_err(|_| TokenError::Malformed)?;
        if header.crit.is_some() {
            return Err(TokenError::Malformed);
        }
        Ok(header)
    }

    /// Whether `typ` names an RFC 9068 access token (`at+jwt` or `application/at+jwt`, in any
    /// case).
    pub fn is_access_token(&self) -> bool {
        self.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_needs_three_non_empty_base64url_segments() {
        assert!(split("a.b.c").is_ok());
        let segments = split("ab.cde.f").expect("splits");
        assert_eq!(
            (
                segments.header,
                segments.payload,
                segments.signature,
                segments.signing_input
            ),
            ("ab", "cde", "f", "ab.cde")
        );
        for bad in [
            "", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a+.b.c", "a.b=.c", "a.b/.c", "a. b.c",
        ] {
            assert_eq!(split(bad).err(), Some(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn header_parsing_is_strict_about_what_it_reads() {
        let ok = br#"{"alg":"EdDSA","kid":"k","typ":"AT+JWT","jwk":{"kty":"oct"},"x5c":[1]}"#;
        let header = JoseHeader::parse(ok).expect("parses");
        assert_eq!(header.alg, "EdDSA");
        assert!(header.is_access_token());
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"alg":1}"#,
            br#"{"alg":"EdDSA","kid":7}"#,
            br#"{"alg":"EdDSA","alg":"none"}"#,
            br#"{"alg":"EdDSA","crit":["b64"],"b64":false}"#,
        ] {
            assert_eq!(JoseHeader::parse(bad).err(), Some(TokenError::Malformed));
        }
    }

    #[test]
    fn typ_must_name_an_access_token() {
        for (typ, ok) in [
            (r#""at+jwt""#, true),
            (r#""application/at+JWT""#, true),
            (r#""JWT""#, false),
            (r#""at+jwt ""#, false),
            ("null", false),
        ] {
            let text = format!(r#"{{"alg":"EdDSA","typ":{typ}}}"#);
            let header = JoseHeader::parse(text.as_bytes()).expect("parses");
            assert_eq!(header.is_access_token(), ok, "{typ}");
        }
        let untyped = JoseHeader::parse(br#"{"alg":"EdDSA"}"#).expect("parses");
        assert!(!untyped.is_access_token());
    }
}
