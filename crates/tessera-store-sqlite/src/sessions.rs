//! [`SessionStore`] on the `sessions` table.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use tessera_core::session::SessionRecord;
use tessera_core::store::{SessionStore, StoreResult};
use tessera_core::{SessionId, Timestamp, TokenDigest, UserId};

use crate::{SqliteStore, codec};

/// The columns [`session`] reads, in its order.
macro_rules! columns {
    () => {
        "id, digest, user_id, created_at, last_seen_at, expires_at, idle_expires_at, user_agent, ip"
    };
}

fn session(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: codec::session_id(row, 0)?,
        digest: codec::digest(row, 1)?,
        user_id: codec::user_id(row, 2)?,
        created_at: codec::time(row, 3)?,
        last_seen_at: codec::time(row, 4)?,
        expires_at: codec::time(row, 5)?,
        idle_expires_at: codec::time(row, 6)?,
        user_agent: row.get(7)?,
        ip: row.get(8)?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let s = session.clone();
        self.pool
            .write(move |conn| {
                conn.prepare_cached(concat!(
                    "INSERT INTO sessions (",
                    columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ))?
                .execute(params![
                    s.id.as_bytes().as_slice(),
                    s.digest.as_bytes().as_slice(),
                    s.user_id.as_bytes().as_slice(),
                    s.created_at.as_millis(),
                    s.last_seen_at.as_millis(),
                    s.expires_at.as_millis(),
                    s.idle_expires_at.as_millis(),
                    s.user_agent,
                    s.ip,
                ])
                .map(drop)
            })
            .await
    }

    async fn session_by_digest(
        &self,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        let digest = *digest;
        self.pool
            .read(move |conn| {
                conn.prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM sessions
                     WHERE digest = ?1 AND expires_at > ?2 AND idle_expires_at > ?2"
                ))?
                .query_row(
                    params![digest.as_bytes().as_slice(), now.as_millis()],
                    session,
                )
                .optional()
            })
            .await
            .map(|found| found.map(Arc::new))
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let (id, seen, idle) = (session.id, session.last_seen_at, session.idle_expires_at);
        self.pool
            .write(move |conn| {
                // Only a session still live at the touch's time: a touch never revives one, and
                // never moves a deadline backwards.
                conn.prepare_cached(
                    "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2),
                                         idle_expires_at = max(idle_expires_at, ?3)
                     WHERE id = ?1 AND expires_at > ?2 AND idle_expires_at > ?2",
                )?
                .execute(params![
                    id.as_bytes().as_slice(),
                    seen.as_millis(),
                    idle.as_millis()
                ])
                .map(drop)
            })
            .await
    }

    async fn sessions_of_user(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.pool
            .read(move |conn| {
                conn.prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM sessions
                     WHERE user_id = ?1 AND expires_at > ?2 AND idle_expires_at > ?2
                     ORDER BY created_at, rowid"
                ))?
                .query_map(
                    params![user_id.as_bytes().as_slice(), now.as_millis()],
                    session,
                )?
                .collect()
            })
            .await
    }

    async fn delete_session(
        &self,
        user_id: UserId,
        id: SessionId,
    ) -> StoreResult<Option<SessionRecord>> {
        self.pool
            .write(move |conn| {
                conn.prepare_cached(concat!(
                    "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2 RETURNING ",
                    columns!()
                ))?
                .query_row(
                    params![id.as_bytes().as_slice(), user_id.as_bytes().as_slice()],
                    session,
                )
                .optional()
            })
            .await
    }

    async fn delete_sessions_of_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.pool
            .write(move |conn| {
                // `id IS NOT NULL` holds for every row: no `keep`, no exception.
                let keep = keep.map(|id| id.as_bytes().to_vec());
                let mut ended: Vec<SessionRecord> = conn
                    .prepare_cached(concat!(
                        "DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2 RETURNING ",
                        columns!()
                    ))?
                    .query_map(params![user_id.as_bytes().as_slice(), keep], session)?
                    .collect::<rusqlite::Result<_>>()?;
                // RETURNING has no defined order.
                ended.sort_by_key(|s| s.created_at);
                Ok(ended)
            })
            .await
    }

    async fn purge_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        self.pool
            .write(move |conn| {
                let purged = conn
                    .prepare_cached(
                        "DELETE FROM sessions WHERE expires_at <= ?1 OR idle_expires_at <= ?1",
                    )?
                    .execute([now.as_millis()])?;
                Ok(purged as u64)
            })
            .await
    }
}
