//! Handlers, one module per section of the API. Each handler extracts, makes one call into the
//! core, and maps the result.

pub mod accounts;
pub mod admin;
pub mod me;
pub mod ops;
pub mod sessions;
pub mod tokens;

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON response whose body carries a token: `Pragma: no-cache` on top of the `/v1/`
/// `Cache-Control: no-store`.
pub fn with_token_body(status: axum::http::StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
