//! [`KeyStore`] on the `signing_keys` table (private material included: see `files`).

use async_trait::async_trait;
use rusqlite::{Connection, Row, TransactionBehavior, params};
use tessera_core::Timestamp;
use tessera_core::store::{KeyAlgorithm, KeyStore, SigningKeyRecord, StoreResult};

use crate::{SqliteStore, codec};

fn key(row: &Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        algorithm: codec::parsed(row, 1, str::parse::<KeyAlgorithm>)?,
        private_der: row.get(2)?,
        created_at: codec::time(row, 3)?,
        activates_at: codec::time(row, 4)?,
        retires_at: codec::opt_time(row, 5)?,
    })
}

fn insert(conn: &Connection, k: &SigningKeyRecord) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO signing_keys (kid, algorithm, private_der, created_at, activates_at, retires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        k.kid,
        k.algorithm.as_str(),
        k.private_der,
        k.created_at.as_millis(),
        k.activates_at.as_millis(),
        k.retires_at.map(Timestamp::as_millis),
    ])
    .map(drop)
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.pool
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT kid, algorithm, private_der, created_at, activates_at, retires_at
                     FROM signing_keys ORDER BY created_at, rowid",
                )?
                .query_map([], key)?
                .collect()
            })
            .await
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let k = key.clone();
        self.pool
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let held: i64 =
                    tx.query_row("SELECT count(*) FROM signing_keys", [], |row| row.get(0))?;
                if held > 0 {
                    return Ok(false);
                }
                insert(&tx, &k)?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_at: Timestamp,
    ) -> StoreResult<()> {
        let k = key.clone();
        self.pool
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached(
                    "UPDATE signing_keys SET retires_at = ?1 WHERE retires_at IS NULL",
                )?
                .execute([retire_at.as_millis()])?;
                insert(&tx, &k)?;
                tx.commit()
            })
            .await
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.pool
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM signing_keys WHERE kid = ?1")?
                    .execute([kid])?;
                Ok(deleted > 0)
            })
            .await
    }
}
