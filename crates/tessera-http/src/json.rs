//! The JSON body extractor: content type first (415), then size (413), then shape (400), each
//! as problem+json; and the JSON response with the API's headers.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut as _, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON request body of type `T` (declare `T` with `#[serde(deny_unknown_fields)]`), or a
/// JSON answer.
pub struct ApiJson<T>(pub T);

/// Headers a JSON answer has room for from the start: its type and length, and the six
/// `metrics::common_headers` may add, so that adding them never grows the map (a reallocation
/// and a rehash of every header, with axum's `Json`, on each `GET /v1/me`).
const ANSWER_HEADERS: usize = 8;

/// The body's media type, as far as the API cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyType {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The media type of a request, or `None` for anything else.
pub fn body_type(headers: &HeaderMap) -> Option<BodyType> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(BodyType::Json)
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(BodyType::Form)
    } else {
        None
    }
}

/// 415 `unsupported_media_type`.
pub fn unsupported_media_type(expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("Content-Type must be {expected}"),
    )
}

/// Reads the whole body, refusing one over [`MAX_BODY_BYTES`] with 413.
///
/// # Errors
/// 413 `payload_too_large`, or 400 when the body cannot be read.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is larger than 16 KiB",
            )
        } else {
            ApiError::invalid_request("request body could not be read")
        }
    })
}

/// Parses a JSON body into `T`, refusing unknown, missing and mistyped fields with 400.
///
/// # Errors
/// 400 `invalid_request` naming the problem's position, never echoing the input.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every body of the API is an object; serde would also map a JSON array onto a struct.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid_request("the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a field is missing, unknown or of the wrong type",
            _ => "the body is not valid JSON",
        };
        ApiError::invalid_request(format!("{what} (line {}, column {})", e.line(), e.column()))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if body_type(req.headers()) != Some(BodyType::Json) {
            return Err(unsupported_media_type("application/json"));
        }
        let body = read_body(req, state).await?;
        parse_json(&body).map(ApiJson)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        let mut body = BytesMut::with_capacity(128).writer();
        if let Err(e) = serde_json::to_writer(&mut body, &self.0) {
            tracing::error!(error = %e, "an answer could not be serialized");
            return ApiError::internal().into_response();
        }
        let mut response = Response::new(Body::from(body.into_inner().freeze()));
        let headers = response.headers_mut();
        *headers = HeaderMap::with_capacity(ANSWER_HEADERS);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}
