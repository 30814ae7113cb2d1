//! How sqlx's errors become [`StoreError`]s, and the errors of connecting.

use tessera_core::store::StoreError;

/// PostgreSQL's SQLSTATE for a unique or primary-key violation.
const UNIQUE_VIOLATION: &str = "23505";

/// What a query step may fail with: a database error still to be classified, or a store error
/// decided already (a row that did not decode). `?` converts both.
#[derive(Debug)]
pub(crate) enum DbError {
    /// An error sqlx returned.
    Sqlx(sqlx::Error),
    /// A decided store error.
    Store(StoreError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sqlx(e)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sqlx(e) => from_sqlx(e),
            DbError::Store(e) => e,
        }
    }
}

/// The result of a query step.
pub(crate) type DbResult<T> = Result<T, DbError>;

/// Maps a sqlx error: unique violations are [`StoreError::Conflict`], values that do not decode
/// are [`StoreError::Corrupt`], everything else (a refused or broken connection, a pool that
/// timed out, a server shutting down) is [`StoreError::Unavailable`].
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match &e {
        E::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => StoreError::Conflict,
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. } => StoreError::corrupt(e),
        _ => StoreError::unavailable(e),
    }
}

/// A column held a value Tessera cannot read.
#[derive(Debug, thiserror::Error)]
#[error("column {column}: {reason}")]
pub(crate) struct BadColumn {
    pub(crate) column: &'static str,
    pub(crate) reason: String,
}

impl BadColumn {
    /// A [`StoreError::Corrupt`] for `column`.
    pub(crate) fn store_error(column: &'static str, reason: impl ToString) -> StoreError {
        StoreError::corrupt(Self {
            column,
            reason: reason.to_string(),
        })
    }
}

/// PostgreSQL did not answer within the time a call may take.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL did not answer within {0:?}")]
pub(crate) struct TimedOut(pub(crate) std::time::Duration);

/// Connecting failed. The text names the server and says why, and never holds the password.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ConnectError(pub(crate) String);

/// The database was migrated by a newer build, with migrations this one does not know.
#[derive(Debug, thiserror::Error)]
#[error("database schema version {found} is newer than this build's ({known})")]
pub(crate) struct SchemaTooNew {
    pub(crate) found: i64,
    pub(crate) known: usize,
}
