//! The authentication service: every flow of the API (accounts, password logins, sessions,
//! revocation) as one call each, over the store traits and an injected clock.
//!
//! Handlers in the HTTP layer extract and validate input, make one call here, and map the
//! result; all policy lives here.

mod accounts;
mod error;
mod sessions;

use std::sync::Arc;

pub use error::AuthError;
pub use sessions::{ClientInfo, NewSession, SessionAuth};

use crate::Clock;
use crate::password::PasswordWorker;
use crate::session::SessionPolicy;
use crate::store::Stores;
use crate::throttle::LoginThrottle;

/// Settings of the service, from the server's configuration.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Session deadlines.
    pub session: SessionPolicy,
    /// Whether `POST /v1/users` is open.
    pub signup: bool,
}

/// The authentication service. Cheap to share behind an `Arc`.
pub struct Auth {
    stores: Stores,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    passwords: PasswordWorker,
    throttle: LoginThrottle,
}

impl Auth {
    /// The service over `stores`, reading time from `clock`.
    pub fn new(
        stores: Stores,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
        passwords: PasswordWorker,
        throttle: LoginThrottle,
    ) -> Self {
        Self { stores, clock, settings, passwords, throttle }
    }

    /// The stores the service works on.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The service's settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> crate::Timestamp {
        self.clock.now()
    }

    /// Background housekeeping: drops expired sessions, refresh families, revocations and
    /// throttle entries. Never called on a request's path.
    ///
    /// # Errors
    /// A store error; the next round retries.
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        let now = self.now();
        self.throttle.prune(now);
        let mut purged = self.stores.sessions.purge_expired_sessions(now).await?;
        purged += self.stores.revocations.purge_revocations(now).await?;
        Ok(purged)
    }
}
