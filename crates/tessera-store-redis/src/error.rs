//! The errors of connecting, and how Redis's errors become [`StoreError`]s without secrets.

use tessera_core::store::StoreError;

/// Why [`crate::RedisStore::connect`] failed. No variant's text contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("malformed Redis URL (expected redis://[[user]:password@]host[:port][/db]): {reason}")]
    MalformedUrl {
        /// What is wrong with it, with any password removed.
        reason: String,
    },
    /// The namespace is empty, too long, or has characters other than letters, digits, `_`,
    /// `-` and `.`.
    #[error("invalid Redis namespace {0:?}: use 1 to 64 letters, digits, '_', '-' or '.' (no ':')")]
    Namespace(String),
    /// Nothing answered at the address in time.
    #[error("cannot reach Redis at {target}: {reason}")]
    Unreachable {
        /// `host:port`.
        target: String,
        /// The cause, with any password removed.
        reason: String,
    },
    /// Redis refused the user name or password (or demands one that the URL lacks).
    #[error("Redis at {target} refused the credentials: {reason}")]
    Credentials {
        /// `host:port`.
        target: String,
        /// Redis's answer, with any password removed.
        reason: String,
    },
    /// The server is older than the commands this store uses.
    #[error("Redis at {target} is version {found}; Tessera needs Redis 7.0 or later")]
    TooOld {
        /// `host:port`.
        target: String,
        /// The `redis_version` it reported.
        found: String,
    },
}

/// A failure talking to Redis, as its text with any password removed (the driver's own errors
/// are not kept: their `Debug` could show more than their text).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BackendError(pub(crate) String);

/// A stored value that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{what} does not decode")]
pub(crate) struct Undecodable {
    pub(crate) what: &'static str,
}

/// A [`StoreError::Corrupt`] for a stored `what` that does not decode.
pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::corrupt(Undecodable { what })
}

/// Removes the password of a URL from texts that might repeat it.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for the secrets in `url`'s user-info part (raw and percent-decoded), found
    /// even when the rest of the URL does not parse.
    pub(crate) fn for_url(url: &str) -> Self {
        let mut secrets = Vec::new();
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
            if !password.is_empty() {
                secrets.push(password.to_owned());
                let decoded = percent_decode(password);
                if decoded != password && !decoded.is_empty() {
                    secrets.push(decoded);
                }
            }
        }
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }

    /// The error as a [`StoreError`]: `WRONGTYPE` and a script's `CORRUPT` are
    /// [`StoreError::Corrupt`]; everything else means Redis did not do what was asked, which
    /// is [`StoreError::Unavailable`].
    pub(crate) fn store_error(&self, e: &redis::RedisError) -> StoreError {
        let text = BackendError(self.clean(&e.to_string()));
        match e.code() {
            Some("CORRUPT" | "WRONGTYPE") => StoreError::corrupt(text),
            _ => StoreError::unavailable(text),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_raw_and_decoded_passwords() {
        let r = Redactor::for_url("redis://app:s%3Acret@10.0.0.1:6379/0");
        assert_eq!(r.clean("auth s%3Acret failed"), "auth *** failed");
        assert_eq!(r.clean("auth s:cret failed"), "auth *** failed");
        let r = Redactor::for_url("redis://:hunter2@host");
        assert_eq!(r.clean("hunter2"), "***");
        let r = Redactor::for_url("not a url at all hunter2@");
        assert_eq!(r.clean("x"), "x");
        let r = Redactor::for_url("redis://host:6379");
        assert_eq!(r.clean("host:6379"), "host:6379");
    }

    #[test]
    fn percent_decoding_tolerates_truncated_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%"), "A%");
    }
}
