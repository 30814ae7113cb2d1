//! [`UserMirror`]: a copy of each user that session and JWT checks read, one key per user id
//! holding the record as JSON, so that those checks need no PostgreSQL. The password hash is in
//! the copy too (a password change checks the current one): Redis must be guarded like the
//! database.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use serde_json::{Value, json};
use tessera_core::store::{StoreError, StoreResult, UserMirror};
use tessera_core::user::{User, Username};
use tessera_core::{Timestamp, UserId};

use crate::RedisStore;
use crate::codec::bulk;

/// How long an unused copy is kept.
const COPY_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long after a change no copy may be put back: longer than any read of the durable store
/// that could have raced the change.
const CHANGE_QUARANTINE: Duration = Duration::from_secs(10);

/// Keeps a copy unless the user changed within the quarantine.
static MIRROR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
",
    )
});

/// Drops the copy and starts the quarantine.
static FORGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1
",
    )
});

fn encode(user: &User) -> String {
    json!({
        "id": user.id.to_string(),
        "username": user.username.as_str(),
        "roles": user.roles,
        "password_hash": user.password_hash,
        "created_at": user.created_at.as_millis(),
    })
    .to_string()
}

fn decode(bytes: &[u8]) -> StoreResult<User> {
    let corrupt = || StoreError::corrupt("a mirrored user does not decode");
    let v: Value = serde_json::from_slice(bytes).map_err(|_| corrupt())?;
    let text = |name: &str| v[name].as_str().ok_or_else(corrupt);
    Ok(User {
        id: text("id")?.parse::<UserId>().map_err(|_| corrupt())?,
        username: Username::parse(text("username")?).map_err(|_| corrupt())?,
        roles: v["roles"]
            .as_array()
            .ok_or_else(corrupt)?
            .iter()
            .map(|r| r.as_str().map(str::to_owned).ok_or_else(corrupt))
            .collect::<StoreResult<_>>()?,
        password_hash: text("password_hash")?.to_owned(),
        created_at: Timestamp::from_millis(v["created_at"].as_i64().ok_or_else(corrupt)?),
    })
}

#[async_trait]
impl UserMirror for RedisStore {
    async fn mirrored_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let reply = self
            .conn
            .cmd(redis::cmd("GET").arg(self.keys.user_copy(id)))
            .await?;
        bulk(reply)?.map(|bytes| decode(&bytes)).transpose()
    }

    async fn mirror_user(&self, user: &User) -> StoreResult<()> {
        self.conn
            .script(
                MIRROR
                    .key(self.keys.user_copy(user.id))
                    .key(self.keys.user_changed(user.id))
                    .arg(encode(user))
                    .arg(COPY_LIFETIME.as_millis() as u64),
            )
            .await
            .map(drop)
    }

    async fn forget_user(&self, id: UserId) -> StoreResult<()> {
        self.conn
            .script(
                FORGET
                    .key(self.keys.user_copy(id))
                    .key(self.keys.user_changed(id))
                    .arg(CHANGE_QUARANTINE.as_millis() as u64),
            )
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_round_trips_and_garbage_is_corrupt() {
        let user = User {
            id: UserId::random(),
            username: Username::parse("Alice").unwrap(),
            roles: vec!["admin".into(), "billing:view".into()],
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: Timestamp::from_millis(1_700_000_000_123),
        };
        assert_eq!(decode(encode(&user).as_bytes()).unwrap(), user);
        assert!(matches!(decode(b"{\"id\":1}"), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode(b"\xff"), Err(StoreError::Corrupt(_))));
    }
}
