//! Reading Tessera's types out of rows. A value that does not decode is a
//! [`rusqlite::Error::FromSqlConversionFailure`], which becomes [`StoreError::Corrupt`].
//!
//! [`StoreError::Corrupt`]: tessera_core::store::StoreError::Corrupt

use rusqlite::Row;
use rusqlite::types::Type;
use tessera_core::{FamilyId, SessionId, Timestamp, TokenDigest, UserId};

/// A decoding failure of column `idx`.
fn failure(
    idx: usize,
    ty: Type,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, e.into())
}

/// A BLOB column of exactly `N` bytes.
fn fixed<const N: usize>(row: &Row<'_>, idx: usize) -> rusqlite::Result<[u8; N]> {
    let bytes = row
        .get_ref(idx)?
        .as_blob()
        .map_err(|e| failure(idx, Type::Blob, e))?;
    <[u8; N]>::try_from(bytes).map_err(|e| failure(idx, Type::Blob, e))
}

/// A user id column.
pub(crate) fn user_id(row: &Row<'_>, idx: usize) -> rusqlite::Result<UserId> {
    fixed(row, idx).map(UserId::from_bytes)
}

/// A session id column.
pub(crate) fn session_id(row: &Row<'_>, idx: usize) -> rusqlite::Result<SessionId> {
    fixed(row, idx).map(SessionId::from_bytes)
}

/// A family id column.
pub(crate) fn family_id(row: &Row<'_>, idx: usize) -> rusqlite::Result<FamilyId> {
    fixed(row, idx).map(FamilyId::from_bytes)
}

/// A token digest column.
pub(crate) fn digest(row: &Row<'_>, idx: usize) -> rusqlite::Result<TokenDigest> {
    fixed(row, idx).map(TokenDigest::from_bytes)
}

/// A nullable token digest column.
pub(crate) fn opt_digest(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<TokenDigest>> {
    match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => digest(row, idx).map(Some),
    }
}

/// An instant column (milliseconds since the epoch).
pub(crate) fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    row.get(idx).map(Timestamp::from_millis)
}

/// A nullable instant column.
pub(crate) fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    row.get::<_, Option<i64>>(idx)
        .map(|millis| millis.map(Timestamp::from_millis))
}

/// A TEXT column parsed by `parse`.
pub(crate) fn parsed<T, E>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> rusqlite::Result<T>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let text = row
        .get_ref(idx)?
        .as_str()
        .map_err(|e| failure(idx, Type::Text, e))?;
    parse(text).map_err(|e| failure(idx, Type::Text, e))
}
