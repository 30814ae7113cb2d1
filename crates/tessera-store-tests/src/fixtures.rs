//! Records for the cases to store, with fixed times and random keys.

use tessera_core::secret::random_bytes;
use tessera_core::session::SessionRecord;
use tessera_core::store::{RefreshFamily, RefreshToken, StoreError, StoreResult};
use tessera_core::user::{User, Username};
use tessera_core::{FamilyId, SessionId, Timestamp, TokenDigest, UserId};

/// `secs` seconds after a fixed base instant (2023-11-14T22:13:20Z).
pub(crate) fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

/// A random token digest.
pub(crate) fn digest() -> TokenDigest {
    TokenDigest::from_bytes(random_bytes())
}

/// A user named `name`, created at `created_at`.
pub(crate) fn user(name: &str, created_at: Timestamp) -> User {
    User {
        id: UserId::random(),
        username: Username::parse(name).expect("fixture usernames are valid"),
        roles: vec!["reader".into(), "billing:view".into()],
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${name}"),
        created_at,
    }
}

/// A session of `user_id` created at `created_at` with the given deadlines.
pub(crate) fn session(
    user_id: UserId,
    created_at: Timestamp,
    expires_at: Timestamp,
    idle_expires_at: Timestamp,
) -> SessionRecord {
    SessionRecord {
        id: SessionId::random(),
        digest: digest(),
        user_id,
        created_at,
        last_seen_at: created_at,
        expires_at,
        idle_expires_at,
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) conformance".into(),
        ip: "192.0.2.7".into(),
    }
}

/// An open family of `user_id`.
pub(crate) fn family(
    user_id: UserId,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> RefreshFamily {
    RefreshFamily {
        id: FamilyId::random(),
        user_id,
        created_at,
        expires_at,
        ended_at: None,
    }
}

/// An unspent token of `family_id`.
pub(crate) fn token(family_id: FamilyId, issued_at: Timestamp) -> RefreshToken {
    RefreshToken {
        digest: digest(),
        family_id,
        issued_at,
        spent_at: None,
        successor: None,
        sealed_successor: None,
    }
}

/// Panics unless `result` is [`StoreError::Conflict`].
#[track_caller]
pub(crate) fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Conflict) => {}
        other => panic!("expected StoreError::Conflict, got {other:?}"),
    }
}

/// Sessions sorted by id, to compare lists whose order the contract leaves open.
pub(crate) fn by_id(mut sessions: Vec<SessionRecord>) -> Vec<SessionRecord> {
    sessions.sort_by_key(|s| s.id);
    sessions
}
