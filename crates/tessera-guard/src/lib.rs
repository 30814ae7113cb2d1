//! `tessera-guard`: protects a Rust web app that sits behind a [Tessera] authentication server.
//!
//! A [`Guard`] is built once at start from Tessera's URL and an *app key* (one of Tessera's
//! `apps.keys`). It then
//!
//! - verifies Tessera's JWT access tokens **locally** with the keys of Tessera's JWKS (fetched at
//!   start, cached by `Cache-Control: max-age`, refetched on an unknown `kid` at most once per
//!   [`GuardBuilder::jwks_refetch_interval`], so forged `kid`s cannot make it hammer Tessera).
//!   Each key's algorithm is pinned from its JWK's `alg`; `typ` must be `at+jwt`; `iss`, `aud`,
//!   `exp` and `nbf` are checked with a leeway, as Tessera does;
//! - checks **session tokens** (the session cookie, or an opaque bearer token) through Tessera's
//!   introspection (`POST /v1/tokens/introspect` with the app key), caching each answer briefly
//!   ([`GuardBuilder::introspection_cache_ttl`], 1 s by default);
//! - follows Tessera's **revocation feed** (`GET /v1/revocations`, Server-Sent Events) and
//!   refuses a revoked `jti` or an ended `sid` as soon as the event arrives (normally within
//!   milliseconds); the same events clear cached introspection answers of the ended session.
//!   When the feed has been unreachable for longer than [`GuardBuilder::max_staleness`], JWTs are
//!   refused with 503 (the guard can no longer tell whether they were revoked), the same policy
//!   as Tessera's own `revocation.max_staleness`;
//! - optionally accepts the JWT that Tessera's forward auth mints for upstreams (`X-Auth-Token`,
//!   audience `forward_auth.audience`), for apps behind nginx `auth_request`
//!   ([`GuardBuilder::forward_auth`]). The `X-Auth-User-Id`/`X-Auth-Roles` headers are never
//!   trusted: only the signed token counts.
//!
//! Refusals are `application/problem+json` ([`GuardError`]): 401 (no or a bad credential), 403
//! (a missing role), 503 (Tessera or its feed cannot be reached when the answer depends on it).
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tessera_guard::{CurrentUser, Guard, RequireRole, role};
//!
//! role!(Teller = "teller");
//!
//! async fn me(user: CurrentUser) -> String {
//!     format!("hello {}", user.id)
//! }
//!
//! async fn vault(RequireRole(user, ..): RequireRole<Teller>) -> String {
//!     format!("{} may open the vault", user.id)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = Guard::builder("https://auth.example.com")
//!     .app_key(std::env::var("TESSERA_APP_KEY")?)
//!     .build()
//!     .await?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/vault", get(vault))
//!     .layer(guard.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Handlers that serve both visitors and users take `Option<CurrentUser>`: `None` when the
//! request carries no valid credential, while a 503 still rejects the request.
//!
//! ```
//! use tessera_guard::CurrentUser;
//!
//! async fn home(user: Option<CurrentUser>) -> String {
//!     match user {
//!         Some(user) => format!("welcome back, {}", user.id),
//!         None => "please log in".to_owned(),
//!     }
//! }
//! # let _: axum::Router = axum::Router::new().route("/", axum::routing::get(home));
//! ```
//!
//! Outside axum, [`Guard::authenticate`] checks a request's headers directly:
//!
//! ```no_run
//! # async fn check(guard: tessera_guard::Guard, headers: axum::http::HeaderMap) {
//! match guard.authenticate(&headers).await {
//!     Ok(user) => println!("{} with roles {:?}", user.id, user.roles),
//!     Err(e) => println!("refused: {} {}", e.status(), e.code()),
//! }
//! # }
//! ```
//!
//! [Tessera]: https://github.com/
#![deny(missing_docs)]

mod clock;
mod error;
mod feed;
mod guard;
mod introspect;
mod jwks;
mod layer;
mod user;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::GuardError;
pub use guard::{Guard, GuardBuilder, GuardStats, Source};
pub use layer::{GuardLayer, GuardService};
pub use user::{AuthKind, CurrentUser, RequireRole, Role};
