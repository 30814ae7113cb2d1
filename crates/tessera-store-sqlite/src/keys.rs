//! [`KeyStore`] on the `signing_keys` table (private material included: see `files`).

use async_trait::async_trait;
use rusqlite::{Row, params};
use tessera_core::Timestamp;
use tessera_core::store::{KeyAlgorithm, KeyStore, SigningKeyRecord, StoreResult};

use crate::{SqliteStore, codec};

fn key(row: &Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        algorithm: codec::parsed(row, 1, str::parse::<KeyAlgorithm>)?,
        private_der: row.get(2)?,
        created_at: codec::time(row, 3)?,
        retires_at: codec::opt_time(row, 4)?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.pool
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT kid, algorithm, private_der, created_at, retires_at
                     FROM signing_keys ORDER BY created_at, rowid",
                )?
                .query_map([], key)?
                .collect()
            })
            .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let k = key.clone();
        self.pool
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO signing_keys (kid, algorithm, private_der, created_at, retires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    k.kid,
                    k.algorithm.as_str(),
                    k.private_der,
                    k.created_at.as_millis(),
                    k.retires_at.map(Timestamp::as_millis),
                ])
                .map(drop)
            })
            .await
    }

    async fn retire_signing_key(&self, kid: &str, retires_at: Timestamp) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.pool
            .write(move |conn| {
                let changed = conn
                    .prepare_cached("UPDATE signing_keys SET retires_at = ?2 WHERE kid = ?1")?
                    .execute(params![kid, retires_at.as_millis()])?;
                Ok(changed > 0)
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
