//! Handlers, one module per section of the API. Each handler extracts, makes one call into the
//! core, and maps the result.

pub mod accounts;
pub mod admin;
pub mod me;
pub mod ops;
pub mod revocations;
pub mod sessions;
pub mod tokens;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;

/// The id in a path (`/v1/sessions/{id}`, `/v1/admin/users/{id}/...`). One that is not even
/// well-formed names nothing: 404, like an unknown one.
pub fn path_id<T: std::str::FromStr>(id: Result<Path<String>, PathRejection>) -> ApiResult<T> {
    let Path(text) = id.map_err(|_| ApiError::not_found())?;
    text.parse().map_err(|_| ApiError::not_found())
}

/// A JSON response whose body carries a token: `Pragma: no-cache` on top of the `/v1/`
/// `Cache-Control: no-store`.
pub fn with_token_body(status: axum::http::StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, ApiJson(body)).into_response();
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
