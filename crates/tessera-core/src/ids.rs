//! Public identifiers. They are handles, never secrets: a session's [`SessionId`] names it in
//! lists and URLs while the bearer secret stays a [`crate::OpaqueToken`].

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

            /// Its 22 characters of unpadded base64url, written into `buf`.
            fn encode<'b>(&self, buf: &'b mut [u8; 22]) -> &'b str {
                let n = URL_SAFE_NO_PAD
                    .encode_slice(self.0, buf)
                    .expect("16 bytes fit 22 base64 characters");
                std::str::from_utf8(&buf[..n]).expect("base64 is ASCII")
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
                if s.len() != 22 {
                    return Err(InvalidId);
                }
                let mut out = [0u8; 16];
                match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
                    Ok(16) => Ok(Self(out)),
                    _ => Err(InvalidId),
                }
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
    fn rejects_malformed_text() {
        for bad in [
            "",
            "short",
            "!!!!!!!!!!!!!!!!!!!!!!",
            &"A".repeat(23),
            "../../etc/passwd",
        ] {
            assert_eq!(bad.parse::<UserId>(), Err(InvalidId), "{bad}");
        }
    }
}
