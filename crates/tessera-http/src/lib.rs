//! Tessera's HTTP API: [`router`] builds the axum `Router` of the whole contract over an
//! [`AppState`]. This is the only crate that uses axum; it names no concrete store.
#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod cookies;
pub mod dto;
pub mod error;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::{delete, get, post, put};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use state::{AdminKey, AppState, CookieSettings, HttpSettings, MetricsRender};

use crate::error::ApiError;
use crate::routes::{accounts, admin, me, ops, revocations, sessions, tokens};

/// The whole API as a router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so client addresses are known.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with `extra` routes served beside the API's, behind the same layers (body limit,
/// CORS, common headers, request metrics), as `tessera bench` adds its floor request.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/v1/users", post(accounts::create_user))
        .route("/v1/password", post(accounts::change_password))
        .route(
            "/v1/sessions",
            post(sessions::login)
                .get(sessions::list)
                .delete(sessions::revoke_all),
        )
        .route(
            "/v1/sessions/current",
            get(sessions::current).delete(sessions::logout),
        )
        .route("/v1/sessions/{id}", delete(sessions::revoke_one))
        .route("/v1/tokens", post(tokens::issue))
        .route("/v1/tokens/refresh", post(tokens::refresh))
        .route("/v1/tokens/exchange", post(tokens::exchange))
        .route("/v1/tokens/revoke", post(tokens::revoke))
        .route("/v1/tokens/introspect", post(tokens::introspect))
        .route("/.well-known/jwks.json", get(tokens::jwks))
        .route("/v1/revocations", get(revocations::feed))
        .route("/v1/me", get(me::me).delete(me::delete_account))
        .route("/v1/auth", get(me::forward_auth))
        .route("/v1/admin/users/{id}", delete(admin::delete_user))
        .route("/v1/admin/users/{id}/sessions", get(admin::user_sessions))
        .route("/v1/admin/users/{id}/revoke", post(admin::revoke_user))
        .route("/v1/admin/users/{id}/roles", put(admin::set_roles))
        // Tessera's own HTML pages (`/`, `/login`, `/account`...): not API, not in /openapi.json.
        .merge(pages::router())
        .merge(extra)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES))
        .layer(tower::util::option_layer(cors(&state)))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::common_headers,
        ))
        .with_state(state)
}

/// CORS for the origins in `allowed_origins`: credentials allowed, so browser apps on those
/// origins can call the API with the session cookie (and the CSRF header). `None` (no layer, no
/// per-request work) when no origin is allowed.
fn cors(state: &AppState) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = state
        .settings()
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-csrf-token"),
        ])
        .max_age(std::time::Duration::from_secs(600));
    Some(layer)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this path",
    )
}
