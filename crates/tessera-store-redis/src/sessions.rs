//! [`SessionStore`]: a key per token digest, and a sorted set per user indexing their sessions.
//!
//! `NS:s:<digest>` holds the packed record ([`crate::codec`]) and expires when its earlier
//! deadline passes. `NS:u:<user id>` holds one member `id ‖ digest` per session, scored by that
//! deadline: it maps an id to its digest (for deletes by id) and lists the user's sessions;
//! dead members are pruned when the user logs in again and by
//! [`SessionStore::purge_expired_sessions`]. Every write is one Lua script, so atomic.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use redis::{Script, Value};
use tessera_core::session::SessionRecord;
use tessera_core::store::{SessionStore, StoreError, StoreResult};
use tessera_core::{SessionId, Timestamp, TokenDigest, UserId};

use crate::RedisStore;
use crate::codec::{self, array, bulk, int, pairs};
use crate::error::corrupt;

/// Creates a session unless its digest or (within its user) its id is taken; prunes the
/// user's dead sessions first.
///
/// KEYS: session, user index. ARGV: value, member, deadline, ttl, now, session key prefix.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
for _, m in ipairs(dead) do redis.call('DEL', ARGV[6] .. string.sub(m, 17)) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5]) end
local id = string.sub(ARGV[2], 1, 16)
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(m, 1, 16) == id then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
",
    )
});

/// Stores a touch's `last_seen_at` and `idle_expires_at`, each only where it is later than the
/// stored one, on a session still live at the touch's time; extends the TTLs accordingly.
///
/// KEYS: session, user index. ARGV: id ‖ user id, seen, idle, seen (8 bytes), idle (8 bytes),
/// member.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if string.len(v) < 67 or string.byte(v, 1) ~= 1 then
  return redis.error_reply('CORRUPT stored session')
end
if string.sub(v, 2, 33) ~= ARGV[1] then return 0 end
local seen = struct.unpack('<i8', v, 42)
local expires = struct.unpack('<i8', v, 50)
local idle = struct.unpack('<i8', v, 58)
local t_seen = tonumber(ARGV[2])
local t_idle = tonumber(ARGV[3])
if expires <= t_seen or idle <= t_seen then return 0 end
local seen_b = string.sub(v, 42, 49)
local idle_b = string.sub(v, 58, 65)
local changed = false
if t_seen > seen then seen_b = ARGV[4]; changed = true end
if t_idle > idle then idle_b = ARGV[5]; idle = t_idle; changed = true end
if not changed then return 1 end
redis.call('SET', KEYS[1],
  string.sub(v, 1, 41) .. seen_b .. string.sub(v, 50, 57) .. idle_b .. string.sub(v, 66),
  'KEEPTTL')
local ends = math.min(expires, idle)
local ttl = ends - t_seen
if ttl > redis.call('PTTL', KEYS[1]) then
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
redis.call('ZADD', KEYS[2], 'XX', 'GT', string.format('%d', ends), ARGV[6])
if ttl > redis.call('PTTL', KEYS[2]) then
  redis.call('PEXPIRE', KEYS[2], string.format('%d', ttl))
end
return 1
",
    )
});

/// The user's sessions whose deadline is after `now`, as `[member, value, …]`.
///
/// KEYS: user index. ARGV: now, session key prefix.
static OF_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local v = redis.call('GET', ARGV[2] .. string.sub(m, 17))
  if v then out[#out + 1] = m; out[#out + 1] = v end
end
return out
",
    )
});

/// Ends the sessions of a user whose id is `ARGV[1]` (`one` = 1) or is not `ARGV[1]` (`one` =
/// 0, `ARGV[1]` may be empty); returns the ended ones as `[member, value, …]`.
///
/// KEYS: user index. ARGV: id, one, session key prefix, user id.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
local one = ARGV[2] == '1'
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if (string.sub(m, 1, 16) == ARGV[1]) == one then
    redis.call('ZREM', KEYS[1], m)
    local k = ARGV[3] .. string.sub(m, 17)
    local v = redis.call('GET', k)
    if v and string.sub(v, 18, 33) == ARGV[4] then
      redis.call('DEL', k)
      out[#out + 1] = m; out[#out + 1] = v
    end
    if one then return out end
  end
end
return out
",
    )
});

/// Removes, under every given user index, the sessions whose deadline is at or before `now`;
/// how many.
///
/// KEYS: user indexes. ARGV: now, session key prefix.
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for _, key in ipairs(KEYS) do
  local dead = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1])
  for _, m in ipairs(dead) do redis.call('DEL', ARGV[2] .. string.sub(m, 17)) end
  if #dead > 0 then
    n = n + #dead
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  end
end
return n
",
    )
});

/// How many keys one `SCAN` step asks for while purging.
const SCAN_COUNT: u32 = 1000;

/// The time a session has left, as of its own clock reading `reference`, as a TTL (at least
/// 1 ms: a TTL of 0 would be refused).
fn ttl_millis(s: &SessionRecord, reference: Timestamp) -> i64 {
    s.ends_at()
        .as_millis()
        .saturating_sub(reference.as_millis())
        .max(1)
}

impl RedisStore {
    /// Decodes `[member, value, …]` into records, oldest first.
    fn decode_listed(&self, reply: Value, user_id: UserId) -> StoreResult<Vec<SessionRecord>> {
        let mut out = Vec::new();
        for (member, value) in pairs(reply)? {
            let value = bulk(value)?.ok_or_else(|| corrupt("a stored session"))?;
            let s = codec::decode_session(codec::member_digest(&member)?, &value)?;
            if s.user_id != user_id || member.get(..16) != Some(s.id.as_bytes().as_slice()) {
                return Err(corrupt("a session index entry"));
            }
            out.push(s);
        }
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }

    async fn delete_where(
        &self,
        user_id: UserId,
        id: Option<SessionId>,
        one: bool,
    ) -> StoreResult<Vec<SessionRecord>> {
        let id = id.map(|id| id.as_bytes().to_vec()).unwrap_or_default();
        let reply = self
            .conn
            .script(
                DELETE
                    .key(self.keys.user_sessions(user_id))
                    .arg(id)
                    .arg(if one { "1" } else { "0" })
                    .arg(self.keys.session_prefix())
                    .arg(user_id.as_bytes().as_slice()),
            )
            .await?;
        self.decode_listed(reply, user_id)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let reply = self
            .conn
            .script(
                CREATE
                    .key(self.keys.session(&session.digest))
                    .key(self.keys.user_sessions(session.user_id))
                    .arg(codec::encode_session(session))
                    .arg(codec::index_member(session))
                    .arg(session.ends_at().as_millis())
                    .arg(ttl_millis(session, session.created_at))
                    .arg(session.created_at.as_millis())
                    .arg(self.keys.session_prefix()),
            )
            .await?;
        match int(&reply)? {
            1 => Ok(()),
            _ => Err(StoreError::Conflict),
        }
    }

    async fn session_by_digest(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        let reply = self
            .conn
            .cmd(redis::cmd("GET").arg(self.keys.session(digest)))
            .await?;
        let Some(value) = bulk(reply)? else {
            return Ok(None);
        };
        let s = codec::decode_session(*digest, &value)?;
        Ok(s.is_live(now).then(|| Arc::new(s)))
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let owner = [session.id.as_bytes().as_slice(), session.user_id.as_bytes()].concat();
        self.conn
            .script(
                TOUCH
                    .key(self.keys.session(&session.digest))
                    .key(self.keys.user_sessions(session.user_id))
                    .arg(owner)
                    .arg(session.last_seen_at.as_millis())
                    .arg(session.idle_expires_at.as_millis())
                    .arg(session.last_seen_at.as_millis().to_le_bytes().as_slice())
                    .arg(session.idle_expires_at.as_millis().to_le_bytes().as_slice())
                    .arg(codec::index_member(session)),
            )
            .await
            .map(drop)
    }

    async fn sessions_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        let reply = self
            .conn
            .script(
                OF_USER
                    .key(self.keys.user_sessions(user_id))
                    .arg(now.as_millis())
                    .arg(self.keys.session_prefix()),
            )
            .await?;
        let mut live = self.decode_listed(reply, user_id)?;
        live.retain(|s| s.is_live(now));
        Ok(live)
    }

    async fn delete_session(
        &self,
        user_id: UserId,
        id: SessionId,
    ) -> StoreResult<Option<SessionRecord>> {
        Ok(self.delete_where(user_id, Some(id), true).await?.pop())
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.delete_where(user_id, keep, false).await
    }

    async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        // Redis expires the session keys by itself; this prunes the user indexes (and removes
        // sessions the caller's clock calls ended before Redis's does).
        let pattern = self.keys.user_sessions_pattern();
        let mut cursor = String::from("0");
        let mut purged = 0u64;
        loop {
            let reply = self
                .conn
                .cmd(
                    redis::cmd("SCAN")
                        .arg(&cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .arg("TYPE")
                        .arg("zset"),
                )
                .await?;
            let mut parts = array(reply)?.into_iter();
            let (Some(next), Some(batch)) = (parts.next(), parts.next()) else {
                return Err(corrupt("a SCAN reply"));
            };
            let next = bulk(next)?.ok_or_else(|| corrupt("a SCAN reply"))?;
            let batch = array(batch)?;
            if !batch.is_empty() {
                let mut invocation = PURGE.prepare_invoke();
                for key in batch {
                    invocation.key(bulk(key)?.ok_or_else(|| corrupt("a SCAN reply"))?);
                }
                invocation
                    .arg(now.as_millis())
                    .arg(self.keys.session_prefix());
                let n = int(&self.conn.script(&invocation).await?)?;
                purged += u64::try_from(n).unwrap_or(0);
            }
            cursor = String::from_utf8(next).map_err(|_| corrupt("a SCAN reply"))?;
            if cursor == "0" {
                return Ok(purged);
            }
        }
    }
}
