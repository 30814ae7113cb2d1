//! The names of every key, all under the namespace.

use tessera_core::secret::sha256;
use tessera_core::{TokenDigest, UserId};

use crate::error::ConnectError;

/// Builds the keys of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    namespace: String,
    /// `NS:s:`, followed by a raw token digest.
    session_prefix: Vec<u8>,
    /// `NS:u:`, followed by a raw user id.
    user_prefix: Vec<u8>,
}

impl Keys {
    /// The keys under `namespace`: 1 to 64 of `[A-Za-z0-9_.-]`. Without `:` and glob
    /// characters no namespace is a prefix of another's keys, and `SCAN MATCH` needs no escaping.
    pub(crate) fn new(namespace: &str) -> Result<Self, ConnectError> {
        let valid = (1..=64).contains(&namespace.len())
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ConnectError::Namespace(
                namespace.chars().take(80).collect(),
            ));
        }
        Ok(Self {
            session_prefix: format!("{namespace}:s:").into_bytes(),
            user_prefix: format!("{namespace}:u:").into_bytes(),
            namespace: namespace.to_owned(),
        })
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// What a session key is before its digest (the scripts derive session keys from it).
    pub(crate) fn session_prefix(&self) -> &[u8] {
        &self.session_prefix
    }

    /// The session whose token has `digest`.
    pub(crate) fn session(&self, digest: &TokenDigest) -> Vec<u8> {
        [self.session_prefix.as_slice(), digest.as_bytes()].concat()
    }

    /// The index of `user`'s sessions.
    pub(crate) fn user_sessions(&self, user: UserId) -> Vec<u8> {
        [self.user_prefix.as_slice(), user.as_bytes()].concat()
    }

    /// The `SCAN MATCH` pattern of every user index.
    pub(crate) fn user_sessions_pattern(&self) -> String {
        format!("{}:u:*", self.namespace)
    }

    /// The copy of user `id` (see `users`).
    pub(crate) fn user_copy(&self, id: UserId) -> String {
        format!("{}:user:{id}", self.namespace)
    }

    /// Set for a moment after user `id` changed: no copy may be put back meanwhile.
    pub(crate) fn user_changed(&self, id: UserId) -> String {
        format!("{}:user-changed:{id}", self.namespace)
    }

    /// The revocations.
    pub(crate) fn revocations(&self) -> String {
        format!("{}:r", self.namespace)
    }

    /// The entries of the throttle bucket `key` (client text, hence hashed).
    pub(crate) fn failures(&self, key: &str) -> String {
        let digest = sha256(key.as_bytes());
        let mut out = String::with_capacity(self.namespace.len() + 3 + 64);
        out.push_str(&self.namespace);
        out.push_str(":f:");
        for b in digest {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    /// The change feed's stream.
    pub(crate) fn feed(&self) -> String {
        format!("{}:feed", self.namespace)
    }

    /// The identity of the feed's current life (gone with the data when Redis loses it).
    pub(crate) fn feed_epoch(&self) -> String {
        format!("{}:feed:epoch", self.namespace)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_plain_words() {
        for good in ["t", "tessera", "prod-eu.1", "a_b"] {
            assert!(Keys::new(good).is_ok(), "{good}");
        }
        for bad in ["", "a:b", "a*", "with space", "ä", &"x".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn throttle_keys_are_hashed() {
        let keys = Keys::new("ns").unwrap();
        let k = keys.failures("account:alice");
        assert!(k.starts_with("ns:f:"));
        assert_eq!(k.len(), 5 + 64);
        assert!(!k.contains("alice"));
        assert_ne!(k, keys.failures("account:alicf"));
        // Client text cannot reach another key, however it is spelt.
        assert_eq!(keys.failures("*:r").len(), 69);
    }
}
