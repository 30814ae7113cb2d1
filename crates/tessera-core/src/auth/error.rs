//! The one error type of the authentication flows.

use std::time::Duration;

use crate::store::StoreError;
use crate::token::TokenError;
use crate::user::InvalidCredentialFormat;

/// Why a flow was refused. The HTTP layer maps each variant to one status and `code`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Input breaks a rule of the API (400 `invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// The username exists already (409 `username_taken`).
    #[error("username is taken")]
    UsernameTaken,
    /// Signup is disabled (403 `signup_disabled`).
    #[error("signup is disabled")]
    SignupDisabled,
    /// Wrong username or password; never says which (401 `invalid_credentials`).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failed logins (429 `too_many_attempts`).
    #[error("too many failed attempts")]
    TooManyAttempts {
        /// Until an attempt would be accepted again.
        retry_after: Duration,
    },
    /// No credential, or an unknown, expired or ended one (401 `unauthenticated`).
    #[error("authentication required")]
    Unauthenticated,
    /// The thing named does not exist for this caller (404 `not_found`).
    #[error("not found")]
    NotFound,
    /// A JWT failed a check (401 `invalid_token`), with a reason safe to show.
    #[error("{0}")]
    InvalidToken(String),
    /// A refresh token that is unknown, expired, ended, or refresh is off (400 `invalid_grant`).
    #[error("invalid refresh token")]
    InvalidGrant,
    /// A spent refresh token presented again outside the grace window: its family has ended
    /// (401 `refresh_reused`).
    #[error("refresh token reused; the session has ended")]
    RefreshReused,
    /// The token would exceed `token.max_size` (400 `token_too_large`).
    #[error("the token would exceed token.max_size")]
    TokenTooLarge,
    /// Stored signing keys do not load (500; the detail goes to the log only).
    #[error("signing keys: {0}")]
    Keys(String),
    /// A store failed (503 `store_unavailable`, or 500 for a corrupt record).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Errors of issuing a token (verification maps its errors to `InvalidToken` itself).
impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::TooLarge => Self::TokenTooLarge,
            other => Self::Keys(other.to_string()),
        }
    }
}

impl From<InvalidCredentialFormat> for AuthError {
    fn from(e: InvalidCredentialFormat) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}
