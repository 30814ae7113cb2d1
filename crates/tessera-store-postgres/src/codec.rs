//! Reading Tessera's types out of rows. A value that does not decode (a wrong type, an id of
//! the wrong length, text that does not parse) is [`StoreError::Corrupt`], never trusted.
//!
//! [`StoreError::Corrupt`]: tessera_core::store::StoreError::Corrupt

use sqlx::Row;
use sqlx::postgres::PgRow;
use tessera_core::{FamilyId, Timestamp, TokenDigest, UserId};

use crate::error::{BadColumn, DbResult};

/// A BYTEA column of exactly `N` bytes.
fn fixed<const N: usize>(row: &PgRow, column: &'static str) -> DbResult<[u8; N]> {
    let bytes: &[u8] = row.try_get(column)?;
    <[u8; N]>::try_from(bytes).map_err(|_| {
        BadColumn::store_error(column, format!("{} bytes, expected {N}", bytes.len())).into()
    })
}

/// A user id column.
pub(crate) fn user_id(row: &PgRow, column: &'static str) -> DbResult<UserId> {
    fixed(row, column).map(UserId::from_bytes)
}

/// A family id column.
pub(crate) fn family_id(row: &PgRow, column: &'static str) -> DbResult<FamilyId> {
    fixed(row, column).map(FamilyId::from_bytes)
}

/// A token digest column.
pub(crate) fn digest(row: &PgRow, column: &'static str) -> DbResult<TokenDigest> {
    fixed(row, column).map(TokenDigest::from_bytes)
}

/// A nullable token digest column.
pub(crate) fn opt_digest(row: &PgRow, column: &'static str) -> DbResult<Option<TokenDigest>> {
    let bytes: Option<&[u8]> = row.try_get(column)?;
    match bytes {
        None => Ok(None),
        Some(_) => digest(row, column).map(Some),
    }
}

/// An instant column (BIGINT milliseconds since the epoch).
pub(crate) fn time(row: &PgRow, column: &'static str) -> DbResult<Timestamp> {
    Ok(Timestamp::from_millis(row.try_get(column)?))
}

/// A nullable instant column.
pub(crate) fn opt_time(row: &PgRow, column: &'static str) -> DbResult<Option<Timestamp>> {
    let millis: Option<i64> = row.try_get(column)?;
    Ok(millis.map(Timestamp::from_millis))
}

/// A TEXT column parsed by `parse`.
pub(crate) fn parsed<T, E: std::fmt::Display>(
    row: &PgRow,
    column: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> DbResult<T> {
    let text: &str = row.try_get(column)?;
    parse(text).map_err(|e| BadColumn::store_error(column, e).into())
}
