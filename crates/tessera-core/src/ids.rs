//! Public identifiers. They are handles, never secrets: a session's [`SessionId`] names it in
//! lists and URLs while the bearer secret stays a [`crate::OpaqueToken`].

use std::fmt;
use std::str::FromStr;

use base64_simd::{Out, URL_SAFE_NO_PAD};

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            /// A new identifier of 128 random bits.
            pub fn random() -> Self {
                Self(crate::secret::random_bytes())
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// The identifier from its raw bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// Its 22 characters of unpadded base64url, written into `buf` (by base64-simd,
            /// as tokens are decoded: every `GET /v1/me` writes its user's id).
            fn encode<'b>(&self, buf: &'b mut [u8; 22]) -> &'b str {
                URL_SAFE_NO_PAD.encode_as_str(&self.0, Out::from_slice(buf))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.encode(&mut [0u8; 22]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                crate::secret::decode_base64url(s).map(Self).ok_or(InvalidId)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // As a string, without `collect_str`'s trip through the formatting machinery.
                s.serialize_str(self.encode(&mut [0u8; 22]))
            }
        }
    };
}

random_id!(
    /// A user's stable identifier (the JWT `sub`).
    UserId
);
random_id!(
    /// A session's public handle (the `id` in API bodies and the `sid` of JWTs minted from it).
    SessionId
);
random_id!(
    /// A refresh-token family: one login and every rotation after it (the `sid` of its JWTs).
    FamilyId
);

/// A string that is not a well-formed identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed identifier")]
pub struct InvalidId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = SessionId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(text.parse::<SessionId>(), Ok(id));
    }

    #[test]
    fn serializes_as_its_text() {
        let id = UserId::random();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

    #[test]
    fn the_text_is_unpadded_base64url() {
        let id = UserId::from_bytes([0xfb; 16]);
        assert_eq!(id.to_string(), "-_v7-_v7-_v7-_v7-_v7-w");
        assert_eq!(UserId::from_bytes([0; 16]).to_string(), "A".repeat(22));
    }

    #[test]
    fn a_last_character_with_bits_past_the_id_is_refused() {
        // 22 characters carry 132 bits: the last one's low four must be zero.
        assert!("AAAAAAAAAAAAAAAAAAAAAA".parse::<UserId>().is_ok());
        assert_eq!("AAAAAAAAAAAAAAAAAAAAAB".parse::<UserId>(), Err(InvalidId));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "short",
            "!!!!!!!!!!!!!!!!!!!!!!",
            &"A".repeat(23),
            "../../etc/passwd",
            "+/+/+/+/+/+/+/+/+/+/+w",
        ] {
            assert_eq!(bad.parse::<UserId>(), Err(InvalidId), "{bad}");
        }
    }
}
