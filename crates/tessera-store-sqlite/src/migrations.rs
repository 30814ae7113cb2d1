//! The schema, as an ordered list of migrations.
//!
//! The database's `user_version` pragma counts the migrations applied. Opening the store applies
//! the missing ones in order, each in its own transaction together with the version bump, so a
//! crash leaves the schema at a whole version. Migrations are append-only: never edit one that
//! has shipped, add the next instead.
//!
//! Conventions: ids and digests are BLOBs, instants INTEGER milliseconds since the Unix epoch,
//! tables are STRICT so that a value of the wrong type cannot be stored.

use rusqlite::{Connection, TransactionBehavior};
use tessera_core::store::{StoreError, StoreResult};

use crate::error::{SchemaTooNew, from_sqlite};

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE users (
        id            BLOB    NOT NULL PRIMARY KEY,
        username      TEXT    NOT NULL,
        canonical     TEXT    NOT NULL UNIQUE,
        roles         TEXT    NOT NULL, -- JSON array of strings, in the order granted
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE sessions (
        id              BLOB    NOT NULL PRIMARY KEY,
        digest          BLOB    NOT NULL UNIQUE,
        user_id         BLOB    NOT NULL,
        created_at      INTEGER NOT NULL,
        last_seen_at    INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        idle_expires_at INTEGER NOT NULL,
        user_agent      TEXT    NOT NULL,
        ip              TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
    CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at);

    CREATE TABLE refresh_families (
        id         BLOB    NOT NULL PRIMARY KEY,
        user_id    BLOB    NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ended_at   INTEGER
    ) STRICT;
    CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
    CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);
    CREATE INDEX refresh_families_by_end ON refresh_families (ended_at);

    CREATE TABLE refresh_tokens (
        digest           BLOB    NOT NULL PRIMARY KEY,
        family_id        BLOB    NOT NULL,
        issued_at        INTEGER NOT NULL,
        spent_at         INTEGER,
        successor        BLOB,
        sealed_successor BLOB
    ) STRICT;
    CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
    CREATE INDEX refresh_tokens_sealed_by_spend
        ON refresh_tokens (spent_at) WHERE sealed_successor IS NOT NULL;

    CREATE TABLE revocations (
        kind       TEXT    NOT NULL, -- 'access_token' or 'sid'
        id         TEXT    NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX revocations_by_expiry ON revocations (expires_at);

    CREATE TABLE signing_keys (
        kid         TEXT    NOT NULL PRIMARY KEY,
        algorithm   TEXT    NOT NULL,
        private_der BLOB    NOT NULL, -- private key material: the file is 0600 for this
        created_at  INTEGER NOT NULL,
        retires_at  INTEGER
    ) STRICT;
    ",
    // 2: a key is published ahead of the moment it starts signing.
    "
    ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;
    UPDATE signing_keys SET activates_at = created_at;
    ",
];

/// Brings the schema of `conn`'s database up to date.
///
/// # Errors
/// [`StoreError::Corrupt`] when the database is newer than this build; a mapped SQLite error
/// when a migration fails (the failed migration changes nothing).
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    loop {
        // The version is read inside the write transaction, so two processes opening one new
        // database apply each migration once.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(from_sqlite)?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(from_sqlite)?;
        let pending = usize::try_from(version)
            .ok()
            .and_then(|applied| MIGRATIONS.get(applied..));
        let Some(pending) = pending else {
            return Err(StoreError::corrupt(SchemaTooNew {
                found: version,
                known: MIGRATIONS.len(),
            }));
        };
        let Some(next) = pending.first() else {
            return Ok(());
        };
        tx.execute_batch(next).map_err(from_sqlite)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(from_sqlite)?;
        tx.commit().map_err(from_sqlite)?;
    }
}
