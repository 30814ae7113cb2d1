//! [`RefreshStore`] on the `refresh_families` and `refresh_tokens` tables.
//!
//! Rotation is a compare-and-set: `UPDATE ... WHERE spent_at IS NULL` in a transaction with the
//! successor's insert. Two rotations of one token at once both try to update its row; the
//! second waits for the first to commit, then finds the token spent and changes nothing, so
//! exactly one wins.

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tessera_core::store::{RefreshFamily, RefreshStore, RefreshToken, RotateOutcome, StoreResult};
use tessera_core::{FamilyId, Timestamp, TokenDigest, UserId};

use crate::error::DbResult;
use crate::{PostgresStore, codec};

/// A token and its family, as `refresh_token` selects them.
fn token_and_family(row: &PgRow) -> DbResult<(RefreshToken, RefreshFamily)> {
    use sqlx::Row;
    let token = RefreshToken {
        digest: codec::digest(row, "digest")?,
        family_id: codec::family_id(row, "family_id")?,
        issued_at: codec::time(row, "issued_at")?,
        spent_at: codec::opt_time(row, "spent_at")?,
        successor: codec::opt_digest(row, "successor")?,
        sealed_successor: row.try_get("sealed_successor")?,
    };
    let family = RefreshFamily {
        id: codec::family_id(row, "id")?,
        user_id: codec::user_id(row, "user_id")?,
        created_at: codec::time(row, "created_at")?,
        expires_at: codec::time(row, "expires_at")?,
        ended_at: codec::opt_time(row, "ended_at")?,
    };
    Ok((token, family))
}

/// Inserts one token row.
async fn insert_token(conn: &mut PgConnection, t: &RefreshToken) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens
             (digest, family_id, issued_at, spent_at, successor, sealed_successor)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.digest.as_bytes().as_slice())
    .bind(t.family_id.as_bytes().as_slice())
    .bind(t.issued_at.as_millis())
    .bind(t.spent_at.map(Timestamp::as_millis))
    .bind(t.successor.map(|d| d.as_bytes().to_vec()))
    .bind(t.sealed_successor.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl RefreshStore for PostgresStore {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> StoreResult<()> {
        self.call(async {
            // A conflict on either insert drops the transaction: neither row is kept.
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO refresh_families (id, user_id, created_at, expires_at, ended_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(family.id.as_bytes().as_slice())
            .bind(family.user_id.as_bytes().as_slice())
            .bind(family.created_at.as_millis())
            .bind(family.expires_at.as_millis())
            .bind(family.ended_at.map(Timestamp::as_millis))
            .execute(&mut *tx)
            .await?;
            insert_token(&mut tx, first).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> StoreResult<Option<(RefreshToken, RefreshFamily)>> {
        self.call(async {
            let row = sqlx::query(
                "SELECT t.digest, t.family_id, t.issued_at, t.spent_at, t.successor,
                        t.sealed_successor,
                        f.id, f.user_id, f.created_at, f.expires_at, f.ended_at
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
                 WHERE t.digest = $1",
            )
            .bind(digest.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(token_and_family).transpose()
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
        self.call(async {
            let mut tx = self.pool.begin().await?;
            // The compare-and-set: only an unspent token of a family open at `now`.
            let spent_now = sqlx::query(
                "UPDATE refresh_tokens
                 SET spent_at = $2, successor = $3, sealed_successor = $4
                 WHERE digest = $1 AND spent_at IS NULL AND EXISTS (
                     SELECT 1 FROM refresh_families f
                     WHERE f.id = refresh_tokens.family_id
                       AND f.ended_at IS NULL AND f.expires_at > $2)",
            )
            .bind(spent.as_bytes().as_slice())
            .bind(now.as_millis())
            .bind(successor.digest.as_bytes().as_slice())
            .bind(sealed_successor)
            .execute(&mut *tx)
            .await?;
            if spent_now.rows_affected() == 0 {
                return Ok(RotateOutcome::NotRotated);
            }
            // A taken successor digest is a Conflict and drops the transaction: nothing is spent.
            insert_token(&mut tx, successor).await?;
            tx.commit().await?;
            Ok(RotateOutcome::Rotated)
        })
        .await
    }

    async fn end_family(&self, id: FamilyId, now: Timestamp) -> StoreResult<bool> {
        self.call(async {
            let done = sqlx::query(
                "UPDATE refresh_families SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
            )
            .bind(id.as_bytes().as_slice())
            .bind(now.as_millis())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn families_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>> {
        self.call(async {
            let rows = sqlx::query(
                "SELECT id FROM refresh_families
                 WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2
                 ORDER BY created_at, id",
            )
            .bind(user_id.as_bytes().as_slice())
            .bind(now.as_millis())
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(|row| codec::family_id(row, "id")).collect()
        })
        .await
    }

    async fn end_families_of_user(
        &self,
        user_id: UserId,
        keep: Option<FamilyId>,
        now: Timestamp,
    ) -> StoreResult<Vec<FamilyId>> {
        self.call(async {
            // `id IS DISTINCT FROM NULL` holds for every row: no `keep`, no exception.
            let rows = sqlx::query(
                "UPDATE refresh_families SET ended_at = $3
                 WHERE user_id = $1 AND id IS DISTINCT FROM $2
                   AND ended_at IS NULL AND expires_at > $3
                 RETURNING created_at, id",
            )
            .bind(user_id.as_bytes().as_slice())
            .bind(keep.map(|id| id.as_bytes().to_vec()))
            .bind(now.as_millis())
            .fetch_all(&self.pool)
            .await?;
            let mut ended = rows
                .iter()
                .map(|row| {
                    Ok((
                        codec::time(row, "created_at")?,
                        codec::family_id(row, "id")?,
                    ))
                })
                .collect::<DbResult<Vec<_>>>()?;
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
        self.call(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "UPDATE refresh_tokens SET sealed_successor = NULL
                 WHERE sealed_successor IS NOT NULL AND spent_at < $1",
            )
            .bind(grace_closed_before.as_millis())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM refresh_tokens WHERE family_id IN (
                     SELECT id FROM refresh_families WHERE expires_at <= $1 OR ended_at <= $1)",
            )
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
            let purged = sqlx::query(
                "DELETE FROM refresh_families WHERE expires_at <= $1 OR ended_at <= $1",
            )
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(purged.rows_affected())
        })
        .await
    }
}
