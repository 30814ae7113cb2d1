//! [`RevocationStore`] on the `revocations` table.

use async_trait::async_trait;
use rusqlite::{Row, params};
use tessera_core::Timestamp;
use tessera_core::store::{Revocation, RevocationStore, RevokedKind, StoreResult};

use crate::{SqliteStore, codec};

/// The stored name of a kind.
fn kind_text(kind: RevokedKind) -> &'static str {
    match kind {
        RevokedKind::AccessToken => "access_token",
        RevokedKind::Sid => "sid",
    }
}

/// A stored kind name that no build writes.
#[derive(Debug, thiserror::Error)]
#[error("unknown revocation kind {0:?}")]
struct UnknownKind(String);

fn kind(text: &str) -> Result<RevokedKind, UnknownKind> {
    match text {
        "access_token" => Ok(RevokedKind::AccessToken),
        "sid" => Ok(RevokedKind::Sid),
        other => Err(UnknownKind(other.to_owned())),
    }
}

fn revocation(row: &Row<'_>) -> rusqlite::Result<Revocation> {
    Ok(Revocation {
        kind: codec::parsed(row, 0, kind)?,
        id: row.get(1)?,
        expires_at: codec::time(row, 2)?,
    })
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revoke(&self, revocation: &Revocation) -> StoreResult<()> {
        let r = revocation.clone();
        self.pool
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO revocations (kind, id, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, id)
                     DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                )?
                .execute(params![kind_text(r.kind), r.id, r.expires_at.as_millis()])
                .map(drop)
            })
            .await
    }

    async fn revocations(&self, now: Timestamp) -> StoreResult<Vec<Revocation>> {
        self.pool
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT kind, id, expires_at FROM revocations
                     WHERE expires_at > ?1 ORDER BY expires_at, id",
                )?
                .query_map([now.as_millis()], revocation)?
                .collect()
            })
            .await
    }

    async fn purge_revocations(&self, now: Timestamp) -> StoreResult<u64> {
        self.pool
            .write(move |conn| {
                let purged = conn
                    .prepare_cached("DELETE FROM revocations WHERE expires_at <= ?1")?
                    .execute([now.as_millis()])?;
                Ok(purged as u64)
            })
            .await
    }
}
