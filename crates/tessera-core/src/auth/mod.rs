//! The authentication service: every flow of the API (accounts, password logins, sessions,
//! JWT access tokens, refresh rotation, revocation) as one call each, over the store traits and
//! an injected clock.
//!
//! Handlers in the HTTP layer extract and validate input, make one call here, and map the
//! result; all policy lives here.

mod accounts;
mod error;
mod events;
mod follow;
mod keys;
mod revocation;
mod sessions;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

pub use error::AuthError;
pub use events::{RECENT_EVENTS, RevocationEvent, RevocationEvents};
pub use revocation::{ActiveToken, TokenKind};
pub use sessions::{ClientInfo, NewSession, SessionAuth};
pub use tokens::{JwtAuth, TokenPair, TokenPolicy};

use crate::Clock;
use crate::password::PasswordWorker;
use crate::session::SessionPolicy;
use crate::store::Stores;
use crate::throttle::{LoginThrottle, ThrottleLimits};
use follow::FeedStatus;
use tokens::TokenState;

/// Settings of the service, from the server's configuration.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Session deadlines.
    pub session: SessionPolicy,
    /// Whether `POST /v1/users` is open.
    pub signup: bool,
    /// Access and refresh tokens.
    pub tokens: TokenPolicy,
    /// Login throttling.
    pub throttle: ThrottleLimits,
    /// Shared stores: how long JWT checks trust the last known revocations while the change
    /// feed cannot be heard (then they answer 503 until it is back and caught up).
    pub revocation_max_staleness: Duration,
}

/// The authentication service. Cheap to share behind an `Arc`.
pub struct Auth {
    stores: Stores,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    passwords: PasswordWorker,
    throttle: LoginThrottle,
    tokens: TokenState,
    feed_status: FeedStatus,
    revocation_events: RevocationEvents,
}

impl Auth {
    /// The service over `stores`, reading time from `clock`. Creates the first signing key when
    /// there is none and loads the revocations.
    ///
    /// # Errors
    /// A store error, or stored keys that do not load.
    pub async fn open(
        stores: Stores,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
        passwords: PasswordWorker,
    ) -> Result<Self, AuthError> {
        let ring = keys::load_ring(stores.keys.as_ref(), &settings.tokens, clock.now()).await?;
        let throttle = LoginThrottle::new(stores.failures.clone(), settings.throttle);
        let auth = Self {
            stores,
            settings,
            passwords,
            throttle,
            tokens: TokenState::new(ring),
            feed_status: FeedStatus::new(clock.now()),
            revocation_events: RevocationEvents::new(),
            clock,
        };
        auth.reload_revocations().await?;
        Ok(auth)
    }

    /// The password hashing threads (their counters show what ran).
    pub fn passwords(&self) -> &PasswordWorker {
        &self.passwords
    }

    /// The stores the service works on.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The service's settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Every revocation this instance learns, its own and (through the change feed) other
    /// instances', as it happens: what `GET /v1/revocations` streams to apps.
    pub fn revocation_events(&self) -> &RevocationEvents {
        &self.revocation_events
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> crate::Timestamp {
        self.clock.now()
    }

    /// Picks up what another process changed in the stores: signing keys (a rotation, a key
    /// whose activation came) and, without a change feed, revocations (the CLI's, on the
    /// embedded store). Run every few seconds in the background.
    ///
    /// # Errors
    /// A store error; the next round retries.
    pub async fn sync(&self) -> Result<(), AuthError> {
        self.reload_keys().await?;
        if self.stores.feed.is_none() {
            self.reload_revocations().await?;
        }
        Ok(())
    }

    /// Background housekeeping: drops expired sessions, refresh families, revocations, retired
    /// keys and throttle entries. Never called on a request's path.
    ///
    /// # Errors
    /// A store error; the next round retries.
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        let now = self.now();
        self.throttle.prune(now).await?;
        self.tokens.revocations.prune(now);
        let grace_closed_before = now.minus(self.settings.tokens.refresh_grace);
        let mut purged = self.stores.sessions.purge_expired_sessions(now).await?;
        purged += self
            .stores
            .refresh
            .purge_refresh(now, grace_closed_before)
            .await?;
        purged += self.stores.revocations.purge_revocations(now).await?;
        self.purge_retired_keys(now).await?;
        Ok(purged)
    }
}
