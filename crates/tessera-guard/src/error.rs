//! Refusals, as `application/problem+json`.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why the guard refused a request. As a response it is `application/problem+json` with a
/// stable `code`: 401 with `WWW-Authenticate: Bearer`, 403, or 503 with `Retry-After: 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError {
    /// 401 `unauthenticated`: no credential the guard accepts, or a session token that is not
    /// (or no longer) active.
    Unauthenticated,
    /// 401 `invalid_token`: a JWT that fails a check (signature, key, algorithm, `typ`, `iss`,
    /// `aud`, `exp`/`nbf`, revoked `jti` or ended `sid`); the text says which.
    InvalidToken(&'static str),
    /// 403 `forbidden`: authenticated, but without the role the route requires.
    MissingRole(String),
    /// 503 `tessera_unavailable`: the answer depends on Tessera and it cannot be reached
    /// (introspection failed, no keys yet, or the revocation feed has been down longer than
    /// the staleness bound).
    Unavailable(&'static str),
    /// Building a guard failed: a bad URL or setting, or Tessera could not be reached at start.
    Setup(String),
}

impl GuardError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::MissingRole(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's stable `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken(_) => "invalid_token",
            Self::MissingRole(_) => "forbidden",
            Self::Unavailable(_) => "tessera_unavailable",
            Self::Setup(_) => "internal_error",
        }
    }

    /// The problem's `detail`.
    pub fn detail(&self) -> String {
        match self {
            Self::Unauthenticated => "authentication required".into(),
            Self::InvalidToken(why) => (*why).into(),
            Self::MissingRole(role) => format!("the role {role:?} is required"),
            Self::Unavailable(why) => (*why).into(),
            Self::Setup(_) => "the authentication guard is not configured".into(),
        }
    }
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(why) => write!(f, "guard setup failed: {why}"),
            other => write!(
                f,
                "{} {}: {}",
                other.status().as_u16(),
                other.code(),
                other.detail()
            ),
        }
    }
}

impl std::error::Error for GuardError {}

impl IntoResponse for GuardError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "type": "about:blank",
            "status": status.as_u16(),
            "title": status.canonical_reason().unwrap_or("Error"),
            "code": self.code(),
            "detail": self.detail(),
        });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
