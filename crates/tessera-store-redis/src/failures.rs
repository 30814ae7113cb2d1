//! [`FailureLog`]: a sorted set per bucket (member the attempt, score its time), admitted and
//! counted over every bucket in one Lua script, so one round trip and atomic across instances.
//!
//! Bucket keys are client text (usernames, addresses): they are SHA-256 hashed into the key.
//! Each key expires one window after its newest entry, so nothing needs pruning.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;
use tessera_core::Timestamp;
use tessera_core::store::{Bucket, FailureLog, StoreResult};

use crate::RedisStore;
use crate::codec::{array, int, score_millis};
use crate::error::corrupt;

/// KEYS: one per bucket. ARGV: attempt, now, since, ttl, then the limits in KEYS' order.
/// Returns `{1}` when admitted and recorded, `{0, blocking}` when refused.
static TRY_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local blocking = nil
local since = '(' .. ARGV[3]
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[4 + i])
  if redis.call('ZCOUNT', key, since, '+inf') >= limit then
    local e = redis.call('ZREVRANGEBYSCORE', key, '+inf', since, 'WITHSCORES',
                         'LIMIT', limit - 1, 1)
    local at = tonumber(e[2])
    if blocking == nil or at > blocking then blocking = at end
  end
end
if blocking ~= nil then return {0, string.format('%d', blocking)} end
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[4 + i])
  redis.call('ZADD', key, ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYRANK', key, 0, -(limit + 1))
  redis.call('PEXPIRE', key, ARGV[4])
end
return {1}
",
    )
});

#[async_trait]
impl FailureLog for RedisStore {
    async fn try_record(
        &self,
        buckets: &[Bucket<'_>],
        attempt: &str,
        now: Timestamp,
        since: Timestamp,
    ) -> StoreResult<Result<(), Timestamp>> {
        if buckets.is_empty() {
            return Ok(Ok(()));
        }
        // The key lives one window past its newest entry (relative: Redis's clock is not ours).
        let ttl = now.as_millis().saturating_sub(since.as_millis()).max(1);
        let mut invocation = TRY_RECORD.prepare_invoke();
        for bucket in buckets {
            invocation.key(self.keys.failures(bucket.key));
        }
        invocation
            .arg(attempt)
            .arg(now.as_millis())
            .arg(since.as_millis())
            .arg(ttl);
        for bucket in buckets {
            invocation.arg(bucket.limit.max(1));
        }
        let reply = array(self.conn.script(&invocation).await?)?;
        match reply.as_slice() {
            [admitted] if int(admitted)? == 1 => Ok(Ok(())),
            [refused, blocking] if int(refused)? == 0 => {
                let at = score_millis(blocking).ok_or_else(|| corrupt("a throttle entry"))?;
                Ok(Err(Timestamp::from_millis(at)))
            }
            _ => Err(corrupt("a throttle reply")),
        }
    }

    async fn withdraw(&self, key: &str, attempt: &str) -> StoreResult<()> {
        self.conn
            .cmd(redis::cmd("ZREM").arg(self.keys.failures(key)).arg(attempt))
            .await
            .map(drop)
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        self.conn
            .cmd(redis::cmd("DEL").arg(self.keys.failures(key)))
            .await
            .map(drop)
    }

    async fn prune(&self, _before: Timestamp) -> StoreResult<()> {
        // Every key expires one window after its newest entry, and holds at most `limit`.
        Ok(())
    }
}
