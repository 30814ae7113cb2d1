//! The [`Guard`]: its settings, start-up and the one check every request goes through.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, header};

use crate::clock::{Clock, SystemClock};
use crate::error::GuardError;
use crate::feed::{self, Revocations};
use crate::introspect::SessionCache;
use crate::jwks::KeySet;
use crate::layer::GuardLayer;
use crate::user::{AuthKind, CurrentUser};

/// Where the guard looks for a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Tessera's session cookie (its name: [`GuardBuilder::cookie_name`]); checked by
    /// introspection.
    Cookie,
    /// `Authorization: Bearer`: a JWT access token (verified locally) or a session token
    /// (introspection). It wins over the cookie, as at Tessera.
    Bearer,
    /// `X-Auth-Token`: the JWT Tessera's forward auth minted for upstreams, audience
    /// [`GuardBuilder::forward_auth`]. When present it wins over the other sources.
    ForwardAuth,
}

/// Counters of what the guard did (for tests and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardStats {
    /// JWKS fetches attempted (at start, on expiry, on unknown `kid`s).
    pub jwks_fetches: u64,
    /// Introspection calls made to Tessera (cache misses).
    pub introspections: u64,
    /// Revocation events received from the feed (snapshot included).
    pub revocation_events: u64,
    /// Connections made to the revocation feed.
    pub feed_connections: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) jwks_fetches: AtomicU64,
    pub(crate) introspections: AtomicU64,
    pub(crate) revocation_events: AtomicU64,
    pub(crate) feed_connections: AtomicU64,
}

/// What a guard is built from; see the setters of [`GuardBuilder`] for each default.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) base_url: String,
    pub(crate) app_key: Option<String>,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) forward_audience: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) cookie_name: String,
    pub(crate) sources: Vec<Source>,
    pub(crate) jwks_refetch_interval: Duration,
    pub(crate) max_staleness: Duration,
    pub(crate) introspection_cache_ttl: Duration,
    pub(crate) feed_idle_timeout: Duration,
    pub(crate) start_timeout: Duration,
}

/// Builds a [`Guard`]: `Guard::builder(url).app_key(key).build().await`.
pub struct GuardBuilder {
    settings: Settings,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
}

impl GuardBuilder {
    /// The app key (one of Tessera's `apps.keys`, or its `admin_key`): it authenticates the
    /// revocation feed and introspection. Required.
    pub fn app_key(mut self, key: impl Into<String>) -> Self {
        self.settings.app_key = Some(key.into());
        self
    }

    /// The `iss` Tessera's tokens carry (its `token.issuer`). Default `tessera`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.settings.issuer = issuer.into();
        self
    }

    /// The `aud` bearer JWTs must carry (Tessera's `token.audience`). Default `tessera`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.settings.audience = audience.into();
        self
    }

    /// Accepts the `X-Auth-Token` JWT of Tessera's forward auth, whose audience is `audience`
    /// (Tessera's `forward_auth.audience`, `upstream` by default); adds [`Source::ForwardAuth`].
    /// Only requests that came through the proxy carry it: a client cannot forge one.
    pub fn forward_auth(mut self, audience: impl Into<String>) -> Self {
        self.settings.forward_audience = Some(audience.into());
        if !self.settings.sources.contains(&Source::ForwardAuth) {
            self.settings.sources.push(Source::ForwardAuth);
        }
        self
    }

    /// Where to look for credentials. Default: [`Source::Cookie`] and [`Source::Bearer`] (plus
    /// [`Source::ForwardAuth`] after [`Self::forward_auth`]). Behind nginx `auth_request`,
    /// `sources(&[Source::ForwardAuth])` accepts only what came through the proxy.
    pub fn sources(mut self, sources: &[Source]) -> Self {
        self.settings.sources = sources.to_vec();
        self
    }

    /// Clock-skew leeway on `exp`/`nbf`/`iat` (Tessera's `token.leeway`). Default 30 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.settings.leeway = leeway;
        self
    }

    /// The session cookie's name (Tessera's `session.cookie_name`). Default `__Host-sid`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.settings.cookie_name = name.into();
        self
    }

    /// The shortest time between two JWKS fetches caused by unknown `kid`s. Default 5 s: a
    /// flood of tokens with forged `kid`s costs Tessera at most one JWKS request per interval.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.settings.jwks_refetch_interval = interval;
        self
    }

    /// How long JWTs are still accepted while the revocation feed cannot be heard; after that
    /// they get 503 until it is back. Default 30 s (Tessera's `revocation.max_staleness`).
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.settings.max_staleness = bound;
        self
    }

    /// How long one introspection answer for a session token is reused. Default 1 s; a
    /// revocation event of the session clears it at once. `Duration::ZERO` turns the cache off.
    pub fn introspection_cache_ttl(mut self, ttl: Duration) -> Self {
        self.settings.introspection_cache_ttl = ttl;
        self
    }

    /// A feed connection that sends nothing (not even its keep-alive comment, every 15 s) for
    /// this long is dropped and reconnected. Default 45 s.
    pub fn feed_idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.feed_idle_timeout = timeout;
        self
    }

    /// How long [`Self::build`] waits for the feed's first snapshot of revocations. Default 5 s.
    /// Until it arrives JWTs get 503.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.settings.start_timeout = timeout;
        self
    }

    /// The clock for every expiry decision. Default the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client for Tessera (JWKS, introspection, feed). Default a new `reqwest` client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Fetches the JWKS, starts following the revocation feed (waiting up to the start timeout
    /// for its snapshot), and returns the guard. Must run inside a tokio runtime; the feed
    /// follower is a task that ends when the last clone of the guard is dropped.
    ///
    /// # Errors
    /// [`GuardError::Setup`]: no app key, a URL that does not parse, or a JWKS that cannot be
    /// fetched or read.
    pub async fn build(self) -> Result<Guard, GuardError> {
        let Self {
            settings,
            clock,
            http,
        } = self;
        if settings.app_key.as_deref().is_none_or(str::is_empty) {
            return Err(GuardError::Setup("an app key is required".into()));
        }
        reqwest::Url::parse(&settings.base_url)
            .map_err(|e| GuardError::Setup(format!("bad Tessera URL: {e}")))?;
        let http = http.unwrap_or_default();
        let inner = Arc::new(Inner {
            keys: KeySet::new(),
            revocations: Revocations::new(),
            sessions: SessionCache::new(),
            counters: Counters::default(),
            http,
            clock,
            settings,
        });
        inner
            .keys
            .refresh(&inner)
            .await
            .map_err(|e| GuardError::Setup(format!("cannot fetch the JWKS: {e}")))?;
        let task = tokio::spawn(feed::follow(Arc::downgrade(&inner)));
        let guard = Guard {
            inner,
            _feed: Arc::new(AbortOnDrop(task)),
        };
        let _ = tokio::time::timeout(
            guard.inner.settings.start_timeout,
            guard.inner.revocations.wait_for_snapshot(),
        )
        .await;
        Ok(guard)
    }
}

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: reqwest::Client,
    pub(crate) keys: KeySet,
    pub(crate) revocations: Revocations,
    pub(crate) sessions: SessionCache,
    pub(crate) counters: Counters,
}

impl Inner {
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url)
    }

    pub(crate) fn app_key(&self) -> &str {
        self.settings.app_key.as_deref().unwrap_or_default()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checks requests against Tessera. Cheap to clone (clones share keys, caches and the feed).
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
    _feed: Arc<AbortOnDrop>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("tessera", &self.inner.settings.base_url)
            .field("sources", &self.inner.settings.sources)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A builder for a guard of the Tessera at `tessera_url` (e.g. `https://auth.example.com`).
    pub fn builder(tessera_url: impl Into<String>) -> GuardBuilder {
        let base_url = tessera_url.into().trim_end_matches('/').to_owned();
        GuardBuilder {
            settings: Settings {
                base_url,
                app_key: None,
                issuer: "tessera".into(),
                audience: "tessera".into(),
                forward_audience: None,
                leeway: Duration::from_secs(30),
                cookie_name: "__Host-sid".into(),
                sources: vec![Source::Cookie, Source::Bearer],
                jwks_refetch_interval: Duration::from_secs(5),
                max_staleness: Duration::from_secs(30),
                introspection_cache_ttl: Duration::from_secs(1),
                feed_idle_timeout: Duration::from_secs(45),
                start_timeout: Duration::from_secs(5),
            },
            clock: Arc::new(SystemClock),
            http: None,
        }
    }

    /// The tower layer that makes the guard available to [`CurrentUser`] and
    /// [`RequireRole`](crate::RequireRole); [`GuardLayer::required`] refuses unauthenticated
    /// requests before they reach the app.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone())
    }

    /// Authenticates a request by its headers, from the configured [`Source`]s.
    ///
    /// # Errors
    /// 401 [`GuardError::Unauthenticated`] or [`GuardError::InvalidToken`]; 503
    /// [`GuardError::Unavailable`] when Tessera's answer is needed and cannot be had.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<CurrentUser, GuardError> {
        let s = &self.inner.settings;
        if s.sources.contains(&Source::ForwardAuth)
            && let Some(value) = headers.get("x-auth-token")
        {
            let token = value
                .to_str()
                .map_err(|_| GuardError::InvalidToken("malformed token"))?;
            let audience = s.forward_audience.as_deref().unwrap_or("upstream");
            return self
                .inner
                .keys
                .verify(&self.inner, token.trim(), audience, AuthKind::ForwardAuth)
                .await;
        }
        if s.sources.contains(&Source::Bearer)
            && let Some(value) = headers.get(header::AUTHORIZATION)
        {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .ok_or(GuardError::Unauthenticated)?;
            if looks_opaque(token) {
                return self.inner.sessions.check(&self.inner, token).await;
            }
            return self
                .inner
                .keys
                .verify(&self.inner, token, &s.audience, AuthKind::Jwt)
                .await;
        }
        if s.sources.contains(&Source::Cookie)
            && let Some(token) = cookie(headers, &s.cookie_name)
        {
            if !looks_opaque(token) {
                return Err(GuardError::Unauthenticated);
            }
            return self.inner.sessions.check(&self.inner, token).await;
        }
        Err(GuardError::Unauthenticated)
    }

    /// Whether the revocation feed is connected right now.
    pub fn feed_connected(&self) -> bool {
        self.inner.revocations.connected()
    }

    /// Whether the guard holds revocations recent enough to accept JWTs (the feed is connected,
    /// or was heard within the staleness bound).
    pub fn revocations_fresh(&self) -> bool {
        self.inner.revocations.fresh(&self.inner)
    }

    /// Whether the guard knows `jti` (a JWT id) or `sid` (a session or family id) as revoked.
    pub fn is_revoked(&self, jti: Option<&str>, sid: Option<&str>) -> bool {
        self.inner
            .revocations
            .is_revoked(jti, sid, self.inner.now_ms())
    }

    /// What the guard has done so far.
    pub fn stats(&self) -> GuardStats {
        let c = &self.inner.counters;
        GuardStats {
            jwks_fetches: c.jwks_fetches.load(Ordering::Relaxed),
            introspections: c.introspections.load(Ordering::Relaxed),
            revocation_events: c.revocation_events.load(Ordering::Relaxed),
            feed_connections: c.feed_connections.load(Ordering::Relaxed),
        }
    }
}

/// Tessera's opaque tokens: 43 characters of base64url (32 bytes). JWTs have dots.
fn looks_opaque(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}
