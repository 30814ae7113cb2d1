//! Wiring: the one place that names concrete stores. Builds the service and router from a
//! [`Config`] and runs them on a listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tessera_core::Clock;
use tessera_core::auth::{Auth, AuthSettings, TokenPolicy};
use tessera_core::password::{PasswordHasher, PasswordWorker};
use tessera_core::session::SessionPolicy;
use tessera_core::store::{
    AllHealthy, CachedSessionStore, CachedUserStore, KeyAlgorithm, MirroredUserStore, Stores,
};
use tessera_core::token::TokenSettings;
use tessera_http::{AdminKey, AppState, CookieSettings, HttpSettings};
use tessera_store_postgres::PostgresStore;
use tessera_store_redis::RedisStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{Config, origin_of};
use crate::telemetry;

/// How many sessions and users the in-process caches hold.
const CACHE_CAPACITY: usize = 100_000;
/// How long a cached session or user is trusted before it is read again: the bound on how
/// late this server sees a change the operator's CLI made to the same database.
const CACHE_MAX_AGE: Duration = Duration::from_secs(2);
/// How often expired state is purged in the background.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How often keys and revocations written by another process (the CLI) are picked up.
const SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// Namespace of every key Tessera keeps in Redis.
const REDIS_NAMESPACE: &str = "tessera";

/// Opens the stores `config` names, with the read caches in front of them: the shared
/// deployment (Redis and PostgreSQL, caches kept exact by the change feed) when both URLs are
/// set, else the embedded store in the data dir (caches trusted for `CACHE_MAX_AGE` of
/// `clock`).
///
/// # Errors
/// When a store cannot be opened or reached.
pub async fn open_stores(config: &Config, clock: &Arc<dyn Clock>) -> anyhow::Result<Stores> {
    let (mut stores, max_age) = match (&config.redis_url, &config.database_url) {
        (Some(redis), Some(database)) => (shared_stores(redis, database).await?, None),
        _ => (embedded_stores(config)?, Some(CACHE_MAX_AGE)),
    };
    stores.users = Arc::new(CachedUserStore::new(
        stores.users,
        CACHE_CAPACITY,
        max_age,
        Arc::clone(clock),
    ));
    stores.sessions = Arc::new(CachedSessionStore::new(
        stores.sessions,
        CACHE_CAPACITY,
        max_age,
        Arc::clone(clock),
    ));
    Ok(stores)
}

fn embedded_stores(config: &Config) -> anyhow::Result<Stores> {
    let store = tessera_store_sqlite::SqliteStore::open(&config.data_dir)
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    Ok(store.stores())
}

/// Redis for the hot state and the change feed, PostgreSQL for the durable state.
async fn shared_stores(redis_url: &str, database_url: &str) -> anyhow::Result<Stores> {
    let redis = RedisStore::connect(redis_url, REDIS_NAMESPACE)
        .await
        .context("cannot use redis_url")?;
    let postgres = PostgresStore::connect(database_url)
        .await
        .context("cannot use database_url")?;
    let redis = Arc::new(redis);
    let postgres = Arc::new(postgres);
    Ok(Stores {
        // Session and JWT checks read users by id: from their copies in Redis, so that they
        // need no PostgreSQL.
        users: Arc::new(MirroredUserStore::new(postgres.clone(), redis.clone())),
        refresh: postgres.clone(),
        keys: postgres.clone(),
        sessions: redis.clone(),
        revocations: redis.clone(),
        failures: redis.clone(),
        health: Arc::new(AllHealthy(vec![redis.clone(), postgres])),
        feed: Some(redis),
    })
}

/// The token policy of `config`.
pub fn token_policy(config: &Config) -> TokenPolicy {
    let t = &config.token;
    TokenPolicy {
        // Validated at load.
        algorithm: t.algorithm.parse().unwrap_or(KeyAlgorithm::EdDSA),
        access: TokenSettings {
            issuer: t.issuer.clone(),
            audience: t.audience.clone(),
            access_ttl: t.access_ttl,
            leeway: t.leeway,
            max_size: t.max_size,
        },
        refresh: t.refresh,
        refresh_ttl: t.refresh_ttl,
        refresh_grace: t.refresh_grace,
        forward_auth: config.forward_auth.mint_jwt.then(|| {
            (
                config.forward_auth.audience.clone(),
                config.forward_auth.ttl,
            )
        }),
        key_publish_ahead: t.key_publish_ahead,
    }
}

/// The authentication service for `config` over `stores`: loads (or creates) the signing keys
/// and the revocations.
///
/// # Errors
/// When the stores fail or hold keys that do not load.
pub async fn auth_service(
    config: &Config,
    stores: Stores,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Auth> {
    let settings = AuthSettings {
        session: SessionPolicy {
            idle_timeout: config.session.idle_timeout,
            absolute_timeout: config.session.absolute_timeout,
            max_per_user: std::num::NonZeroUsize::new(config.session.max_per_user),
        },
        signup: config.signup,
        tokens: token_policy(config),
        throttle: config.throttle.limits(),
        revocation_max_staleness: config.revocation.max_staleness,
    };
    let passwords =
        PasswordWorker::new(PasswordHasher::new(), PasswordWorker::default_concurrency());
    Auth::open(stores, clock, settings, passwords)
        .await
        .context("cannot load the signing keys")
}

/// The HTTP settings for `config`, once the bound address is known.
pub fn http_settings(config: &Config, bound: SocketAddr) -> HttpSettings {
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let public_origin = origin_of(&public_url).unwrap_or_else(|| format!("http://{bound}"));
    let instance_name = match &config.instance_name {
        None => Some(gethostname::gethostname().to_string_lossy().into_owned()),
        Some(name) if name.is_empty() => None,
        Some(name) => Some(name.clone()),
    }
    .and_then(|name| axum::http::HeaderValue::from_str(&name).ok());
    HttpSettings {
        cookie: CookieSettings {
            name: config.cookie_name(),
            secure: !config.session.insecure_dev_cookies,
            max_age: config.session.absolute_timeout,
        },
        hsts: public_origin.starts_with("https://"),
        public_origin,
        allowed_origins: config
            .allowed_origins
            .iter()
            .filter_map(|o| origin_of(o))
            .collect(),
        trusted_proxies: config.trusted_networks(),
        admin_key: config.admin_key.clone().map(AdminKey::new),
        app_keys: config
            .apps
            .keys
            .iter()
            .cloned()
            .map(AdminKey::new)
            .collect(),
        instance_name,
        metrics: Some(telemetry::metrics_render()),
    }
}

/// A server accepting connections.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// The service behind it (tests use it to reach the stores).
    pub auth: Arc<Auth>,
    serve: JoinHandle<std::io::Result<()>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    background: JoinHandle<()>,
    follower: JoinHandle<()>,
}

impl RunningServer {
    /// Binds `config.listen` and serves until [`RunningServer::shutdown`].
    ///
    /// # Errors
    /// When the store cannot be opened or the address cannot be bound.
    pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::start_with_routes(config, clock, axum::Router::new()).await
    }

    /// [`RunningServer::start`], serving `extra` routes beside the API's, behind the same
    /// layers (see [`tessera_http::router_with`]).
    ///
    /// # Errors
    /// As [`RunningServer::start`].
    pub async fn start_with_routes(
        config: &Config,
        clock: Arc<dyn Clock>,
        extra: axum::Router<AppState>,
    ) -> anyhow::Result<Self> {
        let stores = open_stores(config, &clock).await?;
        let auth = Arc::new(auth_service(config, stores, clock).await?);
        if auth.ensure_configured_algorithm().await? {
            tracing::info!(algorithm = %config.token.algorithm, "rotated to a signing key of the configured algorithm");
        }
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let state = AppState::new(auth.clone(), http_settings(config, addr));
        let app = tessera_http::router_with(state, extra);
        let (shutdown, mut stop) = tokio::sync::watch::channel(false);
        let limits = crate::serve::Limits::from_config(config).fit_to_open_files();
        let serve = tokio::spawn(crate::serve::serve(listener, app, limits, async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }));
        let background = tokio::spawn(background(auth.clone()));
        let follower = tokio::spawn({
            let auth = auth.clone();
            async move { auth.follow_changes().await }
        });
        Ok(Self {
            addr,
            auth,
            serve,
            shutdown,
            background,
            follower,
        })
    }

    /// Stops accepting, finishes the requests in flight, and returns.
    ///
    /// # Errors
    /// When the server task failed.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.background.abort();
        self.follower.abort();
        // Revocation feeds never end by themselves: end them, or the shutdown would wait on them.
        self.auth.revocation_events().close();
        let _ = self.shutdown.send(true);
        self.serve.await??;
        Ok(())
    }
}

/// Keeps the in-memory state in step with the store and purges expired state, off the
/// request path.
async fn background(auth: Arc<Auth>) {
    let mut sync = tokio::time::interval(SYNC_INTERVAL);
    let mut purge = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = sync.tick() => {
                if let Err(e) = auth.sync().await {
                    tracing::warn!(error = %e, "reloading keys and revocations failed; will retry");
                }
            }
            _ = purge.tick() => match auth.purge_expired().await {
                Ok(n) if n > 0 => tracing::debug!(purged = n, "purged expired state"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "background purge failed; will retry"),
            },
        }
    }
}
