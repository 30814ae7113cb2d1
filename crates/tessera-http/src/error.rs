//! One error type for every handler, and its one mapping to `application/problem+json`
//! (RFC 9457). Internal detail goes to the log, never to the client.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::auth::AuthError;
use tessera_core::store::StoreError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer of the API: a status, a stable `code` and a human `detail`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "authentication required",
        )
    }

    /// 401 `invalid_token` with a safe reason.
    pub fn invalid_token(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", reason)
    }

    /// 403 `csrf_failed`.
    pub fn csrf_failed(detail: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf_failed", detail)
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 500 `internal_error`: the details go to the log, never to the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// 503 `store_unavailable`, retry in a second.
    pub fn store_unavailable() -> Self {
        Self {
            retry_after: Some(Duration::from_secs(1)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "a store needed to answer cannot be reached",
            )
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "store unavailable");
                Self::store_unavailable()
            }
            other => {
                tracing::error!(error = %other, source = ?std::error::Error::source(&other), "store error");
                Self::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidRequest(detail) => Self::invalid_request(detail),
            AuthError::UsernameTaken => {
                Self::new(StatusCode::CONFLICT, "username_taken", "username is taken")
            }
            AuthError::SignupDisabled => Self::new(
                StatusCode::FORBIDDEN,
                "signup_disabled",
                "signup is disabled",
            ),
            AuthError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid username or password",
            ),
            AuthError::TooManyAttempts { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "too many failed attempts; retry later",
                )
            },
            AuthError::Unauthenticated => Self::unauthenticated(),
            AuthError::NotFound => Self::not_found(),
            AuthError::InvalidToken(reason) => Self::invalid_token(reason),
            AuthError::InvalidGrant => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "refresh token is unknown, expired or ended",
            ),
            AuthError::RefreshReused => Self::new(
                StatusCode::UNAUTHORIZED,
                "refresh_reused",
                "refresh token was already used; its session has ended",
            ),
            AuthError::TokenTooLarge => Self::new(
                StatusCode::BAD_REQUEST,
                "token_too_large",
                "the token would exceed token.max_size",
            ),
            AuthError::Store(store) => store.into(),
            other => {
                tracing::error!(error = %other, "unmapped error");
                Self::internal()
            }
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    status: u16,
    title: &'a str,
    code: &'a str,
    detail: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            status: self.status.as_u16(),
            title: self.status.canonical_reason().unwrap_or("Error"),
            code: self.code,
            detail: &self.detail,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up, and at least one.
            let secs = wait.as_millis().div_ceil(1000).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
        }
        response
    }
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_store_is_503_with_retry_after_and_no_detail_leak() {
        let source =
            std::io::Error::other("connection refused to 10.0.0.7:5432 (password=hunter2)");
        let response =
            ApiError::from(AuthError::Store(StoreError::unavailable(source))).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_text(response);
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], "store_unavailable", "{body}");
        for secret in ["hunter2", "10.0.0.7", "5432", "connection refused"] {
            assert!(!body.contains(secret), "{secret} leaked: {body}");
        }
    }

    /// The whole body of a response built in memory.
    fn body_text(response: Response) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let e = ApiError::from(AuthError::TooManyAttempts {
            retry_after: Duration::from_millis(1500),
        });
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn a_corrupt_record_is_a_generic_500() {
        let e = ApiError::from(StoreError::corrupt("row 7: bad blob"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "internal_error");
        assert!(!e.detail.contains("row 7"));
    }
}
