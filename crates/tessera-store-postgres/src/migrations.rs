//! The schema, as an ordered list of migrations applied at connect.
//!
//! `tessera_migrations` holds one row per applied migration. Connecting applies the missing ones
//! in one transaction that first takes a transaction-scoped advisory lock: instances that start
//! at once on an empty database queue on the lock, and each finds the work done by the first.
//! Migrations are append-only: never edit one that has shipped, add the next instead.
//!
//! Conventions: ids and digests are BYTEA, instants BIGINT milliseconds since the Unix epoch,
//! and a `seq` identity column keeps insertion order where "oldest first" needs a tiebreak.

use sqlx::{Connection, Executor, PgConnection};
use tessera_core::store::StoreError;

use crate::error::{DbResult, SchemaTooNew};

/// The advisory-lock key of migrations ("TESSERA" and 1). Advisory locks are per database.
const LOCK_KEY: i64 = 0x5445_5353_4552_4101;

/// Migration `i` takes the schema from version `i` to `i + 1`: a description and its SQL.
const MIGRATIONS: &[(&str, &str)] = &[(
    "initial schema",
    "
    CREATE TABLE users (
        seq           BIGINT GENERATED ALWAYS AS IDENTITY,
        id            BYTEA  NOT NULL PRIMARY KEY,
        username      TEXT   NOT NULL,
        canonical     TEXT   NOT NULL UNIQUE,
        roles         TEXT   NOT NULL, -- JSON array of strings, in the order granted
        password_hash TEXT   NOT NULL,
        created_at    BIGINT NOT NULL
    );
    CREATE INDEX users_by_age ON users (created_at, seq);

    CREATE TABLE refresh_families (
        id         BYTEA  NOT NULL PRIMARY KEY,
        user_id    BYTEA  NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        ended_at   BIGINT
    );
    CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
    CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);
    CREATE INDEX refresh_families_by_end ON refresh_families (ended_at);

    CREATE TABLE refresh_tokens (
        digest           BYTEA  NOT NULL PRIMARY KEY,
        family_id        BYTEA  NOT NULL,
        issued_at        BIGINT NOT NULL,
        spent_at         BIGINT,
        successor        BYTEA,
        sealed_successor BYTEA
    );
    CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
    CREATE INDEX refresh_tokens_sealed_by_spend
        ON refresh_tokens (spent_at) WHERE sealed_successor IS NOT NULL;

    CREATE TABLE signing_keys (
        seq          BIGINT GENERATED ALWAYS AS IDENTITY,
        kid          TEXT   NOT NULL PRIMARY KEY,
        algorithm    TEXT   NOT NULL,
        private_der  BYTEA  NOT NULL, -- private key material
        created_at   BIGINT NOT NULL,
        activates_at BIGINT NOT NULL,
        retires_at   BIGINT
    );
    ",
)];

/// How many migrations this build knows.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Brings the schema of `conn`'s database up to date.
///
/// # Errors
/// [`StoreError::Corrupt`] when the database is newer than this build; the database error when
/// a migration fails (the transaction then changes nothing).
pub(crate) async fn migrate(conn: &mut PgConnection) -> DbResult<()> {
    let mut tx = conn.begin().await?;
    // Migrations may take longer than the statement timeout of ordinary calls.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS tessera_migrations (
             version     INTEGER     NOT NULL PRIMARY KEY,
             description TEXT        NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .execute(&mut *tx)
    .await?;
    let applied: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM tessera_migrations")
            .fetch_one(&mut *tx)
            .await?;
    let pending = usize::try_from(applied)
        .ok()
        .and_then(|applied| MIGRATIONS.get(applied..));
    let Some(pending) = pending else {
        return Err(StoreError::corrupt(SchemaTooNew {
            found: applied,
            known: SCHEMA_VERSION,
        })
        .into());
    };
    for (version, (description, sql)) in (applied + 1..).zip(pending) {
        // Several statements: the simple query protocol (through the `Executor` trait, whose
        // future is `Send`, unlike `RawSql::execute`'s).
        (&mut *tx).execute(sqlx::raw_sql(sql)).await?;
        sqlx::query("INSERT INTO tessera_migrations (version, description) VALUES ($1, $2)")
            .bind(i32::try_from(version).unwrap_or(i32::MAX))
            .bind(*description)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
