//! How SQLite's errors become [`StoreError`]s, and the errors of opening the store.

use std::path::PathBuf;

use rusqlite::ffi;
use tessera_core::store::StoreError;

/// Maps a SQLite error: unique-key violations are [`StoreError::Conflict`], rows or files that
/// cannot be decoded are [`StoreError::Corrupt`], everything else (busy, locked, I/O, a full
/// disk, a file that cannot be opened) is [`StoreError::Unavailable`].
pub(crate) fn from_sqlite(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::SqliteFailure(failure, _) => match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict
            }
            _ => match failure.code {
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
                    StoreError::corrupt(e)
                }
                _ => StoreError::unavailable(e),
            },
        },
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..)
        | E::Utf8Error(..) => StoreError::corrupt(e),
        _ => StoreError::unavailable(e),
    }
}

/// A file or directory of the data dir could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot prepare {path}")]
pub(crate) struct PathError {
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: std::io::Error,
}

impl PathError {
    /// A [`StoreError::Unavailable`] naming `path`.
    pub(crate) fn store_error(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::unavailable(Self {
            path: path.into(),
            source,
        })
    }
}

/// The database was written by a newer build, with migrations this one does not know.
#[derive(Debug, thiserror::Error)]
#[error("database schema version {found} is newer than this build's ({known})")]
pub(crate) struct SchemaTooNew {
    pub(crate) found: i64,
    pub(crate) known: usize,
}

/// SQLite kept another journal mode when asked for WAL (for example on a file system without
/// shared memory).
#[derive(Debug, thiserror::Error)]
#[error("SQLite refused WAL mode and kept journal mode {0:?}")]
pub(crate) struct WalRefused(pub(crate) String);
