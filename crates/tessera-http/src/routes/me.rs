//! `GET /v1/me` and the forward-auth endpoint `GET /v1/auth`.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;

use crate::auth::Caller;
use crate::dto::MeDto;

/// `GET /v1/me`: who is calling, and how.
pub async fn me(caller: Caller) -> Json<MeDto> {
    let user = caller.user();
    Json(MeDto { id: user.id, username: user.username.to_string(), roles: user.roles.clone(), auth: caller.mode() })
}

/// `GET /v1/auth`: 200 with the identity in headers for a reverse proxy's `auth_request`.
pub async fn forward_auth(caller: Caller) -> impl IntoResponse {
    let user = caller.user();
    let mut headers = HeaderMap::new();
    let text = |s: String| HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""));
    headers.insert("x-auth-user-id", text(user.id.to_string()));
    headers.insert("x-auth-username", text(user.username.to_string()));
    headers.insert("x-auth-roles", text(user.roles.join(",")));
    (StatusCode::OK, headers)
}
