//! [`KeyStore`] on the `signing_keys` table (private material included).
//!
//! The two writes that must be atomic across instances, the first key and a rotation, each run
//! in one transaction that first locks the table against other writers (readers go on): two
//! instances starting at once on an empty database create one key, and two rotations at once
//! leave exactly one key unretired among those they inserted.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tessera_core::Timestamp;
use tessera_core::store::{KeyAlgorithm, KeyStore, SigningKeyRecord, StoreResult};

use crate::error::DbResult;
use crate::{PostgresStore, codec};

fn key(row: &PgRow) -> DbResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid")?,
        algorithm: codec::parsed(row, "algorithm", str::parse::<KeyAlgorithm>)?,
        private_der: row.try_get("private_der")?,
        created_at: codec::time(row, "created_at")?,
        activates_at: codec::time(row, "activates_at")?,
        retires_at: codec::opt_time(row, "retires_at")?,
    })
}

/// Inserts one key row.
async fn insert(conn: &mut PgConnection, k: &SigningKeyRecord) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys
             (kid, algorithm, private_der, created_at, activates_at, retires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(k.kid.as_str())
    .bind(k.algorithm.as_str())
    .bind(k.private_der.as_slice())
    .bind(k.created_at.as_millis())
    .bind(k.activates_at.as_millis())
    .bind(k.retires_at.map(Timestamp::as_millis))
    .execute(conn)
    .await?;
    Ok(())
}

/// Serializes the writers of `signing_keys` until the transaction ends (reads are not blocked).
async fn lock_writers(conn: &mut PgConnection) -> DbResult<()> {
    sqlx::query("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.call(async {
            let rows = sqlx::query(
                "SELECT kid, algorithm, private_der, created_at, activates_at, retires_at
                 FROM signing_keys ORDER BY created_at, seq",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(key).collect()
        })
        .await
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        self.call(async {
            let mut tx = self.pool.begin().await?;
            lock_writers(&mut tx).await?;
            let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM signing_keys)")
                .fetch_one(&mut *tx)
                .await?;
            if any {
                return Ok(false);
            }
            insert(&mut tx, key).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_at: Timestamp,
    ) -> StoreResult<()> {
        self.call(async {
            // A conflict on the insert drops the transaction: no key is retired either.
            let mut tx = self.pool.begin().await?;
            lock_writers(&mut tx).await?;
            sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE retires_at IS NULL")
                .bind(retire_at.as_millis())
                .execute(&mut *tx)
                .await?;
            insert(&mut tx, key).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        self.call(async {
            let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
