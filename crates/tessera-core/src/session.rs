//! The session policy: deadlines, touches, and the CSRF token bound to each session.

use std::time::Duration;

use crate::secret::sha256;
use crate::{OpaqueToken, SessionId, Timestamp, TokenDigest, UserId};

/// A stored session. The bearer token itself is never stored, only its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public handle.
    pub id: SessionId,
    /// SHA-256 of the bearer token.
    pub digest: TokenDigest,
    /// The session's owner.
    pub user_id: UserId,
    /// When the session was created (login).
    pub created_at: Timestamp,
    /// The last request authenticated by the token, as last written to the store (it may lag the
    /// true last request by [`SessionPolicy::touch_interval`]).
    pub last_seen_at: Timestamp,
    /// The absolute deadline: `created_at + absolute_timeout`.
    pub expires_at: Timestamp,
    /// The idle deadline as stored: `last_seen_at + idle_timeout`, never past `expires_at`.
    pub idle_expires_at: Timestamp,
    /// The client's `User-Agent` at login, cut to 256 characters.
    pub user_agent: String,
    /// The client address at login.
    pub ip: String,
}

impl SessionRecord {
    /// Whether the session is still alive at `now` (both deadlines in the future).
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at && now < self.idle_expires_at
    }

    /// The earlier of the two deadlines.
    pub fn ends_at(&self) -> Timestamp {
        self.expires_at.min(self.idle_expires_at)
    }
}

/// Idle and absolute timeouts, and how often touches reach the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session ends this long after its last request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, whatever its activity.
    pub absolute_timeout: Duration,
    /// Live sessions a user may hold at once (`session.max_per_user`); a login past it ends the
    /// user's oldest sessions. `None`: no limit.
    pub max_per_user: Option<std::num::NonZeroUsize>,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(8 * 3600),
            max_per_user: None,
        }
    }
}

/// Longest accepted `User-Agent`, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;

impl SessionPolicy {
    /// How far the stored idle deadline may lag the last request: max(1 s, 1% of the idle
    /// timeout). A request writes a touch only when the stored one is older than this.
    pub fn touch_interval(&self) -> Duration {
        (self.idle_timeout / 100).max(Duration::from_secs(1))
    }

    /// A new session for `user_id`, created at `now`, with its bearer token.
    pub fn new_session(
        &self,
        user_id: UserId,
        now: Timestamp,
        user_agent: &str,
        ip: String,
    ) -> (OpaqueToken, SessionRecord) {
        let token = OpaqueToken::generate();
        let expires_at = now.plus(self.absolute_timeout);
        let record = SessionRecord {
            id: SessionId::random(),
            digest: token.digest(),
            user_id,
            created_at: now,
            last_seen_at: now,
            expires_at,
            idle_expires_at: now.plus(self.idle_timeout).min(expires_at),
            user_agent: user_agent.chars().take(MAX_USER_AGENT_CHARS).collect(),
            ip,
        };
        (token, record)
    }

    /// The idle deadline of a request at `now` on `session`.
    pub fn idle_deadline(&self, session: &SessionRecord, now: Timestamp) -> Timestamp {
        now.plus(self.idle_timeout).min(session.expires_at)
    }

    /// Whether a request at `now` must write a touch to the store.
    pub fn needs_touch(&self, session: &SessionRecord, now: Timestamp) -> bool {
        now.since(session.last_seen_at) >= self.touch_interval()
    }
}

/// The CSRF token of a session: derived from the session's secret, so nobody without the
/// token can compute it and the server need not store it.
pub fn csrf_token(token: &OpaqueToken) -> String {
    use base64::Engine;
    let mut input = Vec::with_capacity(48);
    input.extend_from_slice(b"tessera-csrf-v1:");
    input.extend_from_slice(token.secret_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(&input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_interval_is_one_percent_or_a_second() {
        let p = SessionPolicy {
            idle_timeout: Duration::from_secs(1800),
            ..Default::default()
        };
        assert_eq!(p.touch_interval(), Duration::from_secs(18));
        let p = SessionPolicy {
            idle_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        assert_eq!(p.touch_interval(), Duration::from_secs(1));
    }

    #[test]
    fn new_session_deadlines() {
        let p = SessionPolicy::default();
        let now = Timestamp::from_secs(1000);
        let (token, s) = p.new_session(UserId::random(), now, &"u".repeat(300), "127.0.0.1".into());
        assert_eq!(s.digest, token.digest());
        assert_eq!(s.expires_at, Timestamp::from_secs(1000 + 8 * 3600));
        assert_eq!(s.idle_expires_at, Timestamp::from_secs(1000 + 1800));
        assert_eq!(s.user_agent.len(), 256);
        assert!(s.is_live(now));
        assert!(!s.is_live(Timestamp::from_secs(1000 + 1800)));
    }

    #[test]
    fn csrf_token_depends_on_the_session() {
        let a = OpaqueToken::generate();
        let b = OpaqueToken::generate();
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&b));
    }
}
