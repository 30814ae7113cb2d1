//! What every handler shares: the authentication service and the HTTP-level settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tessera_core::auth::Auth;

use crate::metrics::{RequestDurations, Verifications};

/// How the session cookie is written.
#[derive(Clone, Debug)]
pub struct CookieSettings {
    /// Cookie name (`__Host-sid` by default).
    pub name: String,
    /// Whether to send `Secure` (off only with `session.insecure_dev_cookies`).
    pub secure: bool,
    /// `Max-Age`: the session's absolute lifetime.
    pub max_age: Duration,
}

/// The admin API's bearer key. Never shown in `Debug` output.
#[derive(Clone)]
pub struct AdminKey(String);

impl AdminKey {
    /// Wraps a configured key.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// Whether `presented` is this key (constant time in the key's contents).
    pub fn matches(&self, presented: &str) -> bool {
        tessera_core::secret::constant_time_eq(
            &tessera_core::secret::sha256(self.0.as_bytes()),
            &tessera_core::secret::sha256(presented.as_bytes()),
        )
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKey(<redacted>)")
    }
}

/// Renders the Prometheus exposition text of `/metrics`.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// The HTTP layer's settings, from the server's configuration.
#[derive(Clone)]
pub struct HttpSettings {
    /// The session cookie.
    pub cookie: CookieSettings,
    /// The server's own origin (from `public_url`), e.g. `https://auth.example.com`.
    pub public_origin: String,
    /// More origins allowed for cookie-authenticated unsafe requests.
    pub allowed_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Bearer key of the admin API; `None` turns the admin API off (404).
    pub admin_key: Option<AdminKey>,
    /// The apps' keys (`apps.keys`): they grant the revocation feed and introspection, nothing
    /// of the admin API.
    pub app_keys: Vec<AdminKey>,
    /// Value of `X-Tessera-Instance`; `None` leaves the header off.
    pub instance_name: Option<axum::http::HeaderValue>,
    /// Whether to send `Strict-Transport-Security` (when `public_url` is https).
    pub hsts: bool,
    /// The `/metrics` renderer; `None` answers 404.
    pub metrics: Option<MetricsRender>,
}

/// The state behind every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Arc<Auth>,
    settings: HttpSettings,
    verifications: Verifications,
    request_durations: RequestDurations,
}

impl AppState {
    /// State over the service `auth` with `settings`.
    pub fn new(auth: Arc<Auth>, settings: HttpSettings) -> Self {
        let verifications = Verifications::register();
        Self {
            inner: Arc::new(Inner {
                auth,
                settings,
                verifications,
                request_durations: RequestDurations::default(),
            }),
        }
    }

    /// The authentication service.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The verification counters.
    pub fn verifications(&self) -> &Verifications {
        &self.inner.verifications
    }

    /// The request latency histograms.
    pub fn request_durations(&self) -> &RequestDurations {
        &self.inner.request_durations
    }

    /// The HTTP settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }

    /// Whether `origin` (an `Origin` header value) may make cookie-authenticated unsafe
    /// requests.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let s = &self.inner.settings;
        s.public_origin.eq_ignore_ascii_case(origin)
            || s.allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
    }
}
