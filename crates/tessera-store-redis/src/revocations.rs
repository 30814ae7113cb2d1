//! [`RevocationStore`]: one sorted set, member `kind ‖ id`, scored by the expiry.

use async_trait::async_trait;
use tessera_core::Timestamp;
use tessera_core::store::{Revocation, RevocationStore, StoreResult};

use crate::RedisStore;
use crate::codec::{self, int, pairs};

#[async_trait]
impl RevocationStore for RedisStore {
    async fn revoke(&self, revocation: &Revocation) -> StoreResult<()> {
        // GT: a second revocation of the id keeps the later expiry; a new id is added.
        self.conn
            .cmd(
                redis::cmd("ZADD")
                    .arg(self.keys.revocations())
                    .arg("GT")
                    .arg(revocation.expires_at.as_millis())
                    .arg(codec::revocation_member(revocation.kind, &revocation.id)),
            )
            .await
            .map(drop)
    }

    async fn revocations(&self, now: Timestamp) -> StoreResult<Vec<Revocation>> {
        let reply = self
            .conn
            .cmd(
                redis::cmd("ZRANGE")
                    .arg(self.keys.revocations())
                    .arg(format!("({}", now.as_millis()))
                    .arg("+inf")
                    .arg("BYSCORE")
                    .arg("WITHSCORES"),
            )
            .await?;
        pairs(reply)?
            .into_iter()
            .map(|(member, score)| codec::decode_revocation(&member, &score))
            .collect()
    }

    async fn purge_revocations(&self, now: Timestamp) -> StoreResult<u64> {
        let reply = self
            .conn
            .cmd(
                redis::cmd("ZREMRANGEBYSCORE")
                    .arg(self.keys.revocations())
                    .arg("-inf")
                    .arg(now.as_millis()),
            )
            .await?;
        Ok(u64::try_from(int(&reply)?).unwrap_or(0))
    }
}
