//! [`RefreshStore`] on the `refresh_families` and `refresh_tokens` tables.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use tessera_core::store::{RefreshFamily, RefreshStore, RefreshToken, RotateOutcome, StoreResult};
use tessera_core::{FamilyId, Timestamp, TokenDigest, UserId};

use crate::{SqliteStore, codec};

/// A token (columns 0 to 5) and its family (columns 6 to 10), as `refresh_token` selects them.
fn token_and_family(row: &Row<'_>) -> rusqlite::Result<(RefreshToken, RefreshFamily)> {
    let token = RefreshToken {
        digest: codec::digest(row, 0)?,
        family_id: codec::family_id(row, 1)?,
        issued_at: codec::time(row, 2)?,
        spent_at: codec::opt_time(row, 3)?,
        successor: codec::opt_digest(row, 4)?,
        sealed_successor: row.get(5)?,
    };
    let family = RefreshFamily {
        id: codec::family_id(row, 6)?,
        user_id: codec::user_id(row, 7)?,
        created_at: codec::time(row, 8)?,
        expires_at: codec::time(row, 9)?,
        ended_at: codec::opt_time(row, 10)?,
    };
    Ok((token, family))
}

/// Inserts one token row.
fn insert_token(conn: &Connection, t: &RefreshToken) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens
             (digest, family_id, issued_at, spent_at, successor, sealed_successor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        t.digest.as_bytes().as_slice(),
        t.family_id.as_bytes().as_slice(),
        t.issued_at.as_millis(),
        t.spent_at.map(Timestamp::as_millis),
        t.successor.map(|d| d.as_bytes().to_vec()),
        t.sealed_successor,
    ])
    .map(drop)
}

#[async_trait]
impl RefreshStore for SqliteStore {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> StoreResult<()> {
        let (f, first) = (family.clone(), first.clone());
        self.pool
            .write(move |conn| {
                // A conflict on either insert drops the transaction: neither row is kept.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached(
                    "INSERT INTO refresh_families (id, user_id, created_at, expires_at, ended_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    f.id.as_bytes().as_slice(),
                    f.user_id.as_bytes().as_slice(),
                    f.created_at.as_millis(),
                    f.expires_at.as_millis(),
                    f.ended_at.map(Timestamp::as_millis),
                ])?;
                insert_token(&tx, &first)?;
                tx.commit()
            })
            .await
    }

    async fn refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> StoreResult<Option<(RefreshToken, RefreshFamily)>> {
        let digest = *digest;
        self.pool
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT t.digest, t.family_id, t.issued_at, t.spent_at, t.successor,
                            t.sealed_successor,
                            f.id, f.user_id, f.created_at, f.expires_at, f.ended_at
                     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
                     WHERE t.digest = ?1",
                )?
                .query_row([digest.as_bytes().as_slice()], token_and_family)
                .optional()
            })
            .await
    }

    async fn rotate(
        &self,
        spent: &TokenDigest,
        now: Timestamp,
        successor: &RefreshToken,
        sealed_successor: &[u8],
    ) -> StoreResult<RotateOutcome> {
        let (spent, successor, sealed) = (*spent, successor.clone(), sealed_successor.to_vec());
        self.pool
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // The compare-and-set: only an unspent token of a family open at `now`.
                let spent_now = tx
                    .prepare_cached(
                        "UPDATE refresh_tokens
                         SET spent_at = ?2, successor = ?3, sealed_successor = ?4
                         WHERE digest = ?1 AND spent_at IS NULL AND EXISTS (
                             SELECT 1 FROM refresh_families f
                             WHERE f.id = refresh_tokens.family_id
                               AND f.ended_at IS NULL AND f.expires_at > ?2)",
                    )?
                    .execute(params![
                        spent.as_bytes().as_slice(),
                        now.as_millis(),
                        successor.digest.as_bytes().as_slice(),
                        sealed,
                    ])?;
                if spent_now == 0 {
                    return Ok(RotateOutcome::NotRotated);
                }
                insert_token(&tx, &successor)?;
                tx.commit()?;
                Ok(RotateOutcome::Rotated)
            })
            .await
    }

    async fn end_family(&self, id: FamilyId, now: Timestamp) -> StoreResult<bool> {
        self.pool
            .write(move |conn| {
                let ended = conn
                    .prepare_cached(
                        "UPDATE refresh_families SET ended_at = ?2
                         WHERE id = ?1 AND ended_at IS NULL",
                    )?
                    .execute(params![id.as_bytes().as_slice(), now.as_millis()])?;
                Ok(ended > 0)
            })
            .await
    }

    async fn families_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>> {
        self.pool
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id FROM refresh_families
                     WHERE user_id = ?1 AND ended_at IS NULL AND expires_at > ?2
                     ORDER BY created_at, id",
                )?
                .query_map(
                    params![user_id.as_bytes().as_slice(), now.as_millis()],
                    |row| codec::family_id(row, 0),
                )?
                .collect()
            })
            .await
    }

    async fn end_families_of_user(
        &self,
        user_id: UserId,
        keep: Option<FamilyId>,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>> {
        self.pool
            .write(move |conn| {
                // `id IS NOT NULL` holds for every row: no `keep`, no exception.
                let keep = keep.map(|id| id.as_bytes().to_vec());
                let mut ended: Vec<(Timestamp, FamilyId)> = conn
                    .prepare_cached(
                        "UPDATE refresh_families SET ended_at = ?3
                         WHERE user_id = ?1 AND id IS NOT ?2
                           AND ended_at IS NULL AND expires_at > ?3
                         RETURNING created_at, id",
                    )?
                    .query_map(
                        params![user_id.as_bytes().as_slice(), keep, now.as_millis()],
                        |row| Ok((codec::time(row, 0)?, codec::family_id(row, 1)?)),
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                // RETURNING has no defined order.
                ended.sort();
                Ok(ended.into_iter().map(|(_, id)| id).collect())
            })
            .await
    }

    async fn purge_refresh(
        &self,
        now: Timestamp,
        grace_closed_before: Timestamp,
    ) -> StoreResult<u64> {
        self.pool
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached(
                    "UPDATE refresh_tokens SET sealed_successor = NULL
                     WHERE sealed_successor IS NOT NULL AND spent_at < ?1",
                )?
                .execute([grace_closed_before.as_millis()])?;
                tx.prepare_cached(
                    "DELETE FROM refresh_tokens WHERE family_id IN (
                         SELECT id FROM refresh_families WHERE expires_at <= ?1 OR ended_at <= ?1)",
                )?
                .execute([now.as_millis()])?;
                let purged = tx
                    .prepare_cached(
                        "DELETE FROM refresh_families WHERE expires_at <= ?1 OR ended_at <= ?1",
                    )?
                    .execute([now.as_millis()])?;
                tx.commit()?;
                Ok(purged as u64)
            })
            .await
    }
}
