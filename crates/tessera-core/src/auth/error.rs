//! The one error type of the authentication flows.

use std::time::Duration;

use crate::store::StoreError;
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
    /// A store failed (503 `store_unavailable`, or 500 for a corrupt record).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<InvalidCredentialFormat> for AuthError {
    fn from(e: InvalidCredentialFormat) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}
