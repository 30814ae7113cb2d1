//! `GET /v1/me`, `DELETE /v1/me` and the forward-auth endpoint `GET /v1/auth`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::sessions::current_ended;
use crate::auth::{Caller, Client, is_unsafe};
use crate::dto::{AccountDeletionRequest, MeDto};
use crate::error::ApiResult;
use crate::json::ApiJson;
use crate::state::AppState;

/// `GET /v1/me`: who is calling, and how.
#[utoipa::path(
    get, path = "/v1/me", tag = "apps",
    responses(
        (status = 200, description = "Who is calling, and how.", body = crate::dto::MeDto),
        (status = 401, description = "`unauthenticated` (no credential, or an unknown, expired or ended session token) or `invalid_token` (a JWT that fails any check).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = []), ("session_token" = []), ("jwt" = [])),
)]
pub async fn me(caller: Caller) -> Response {
    let user = caller.user();
    ApiJson(MeDto {
        id: user.id,
        username: user.username.as_str(),
        roles: &user.roles,
        auth: caller.mode(),
    })
    .into_response()
}

/// `DELETE /v1/me`: the caller deletes their own account, with its password.
#[utoipa::path(
    delete, path = "/v1/me", tag = "accounts",
    request_body(content = crate::dto::AccountDeletionRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "The account is gone; every session and refresh family of it ended, with their access tokens, on every instance; the cookie cleared.", headers(("Set-Cookie" = String, description = "The cookie with `Max-Age=0`."), ("Clear-Site-Data" = String, description = "`\"cookies\"`."))),
        (status = 400, description = "`invalid_request`: unparseable JSON, a missing, unknown or mistyped field, or an invalid value.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials` (wrong password), or `unauthenticated` / `invalid_token` (no valid credential).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated unsafe request without the right `X-CSRF-Token`, with `Sec-Fetch-Site: cross-site`, or with a foreign `Origin`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: throttled.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("session_token" = []), ("jwt" = [])),
)]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(req): ApiJson<AccountDeletionRequest>,
) -> ApiResult<Response> {
    state
        .auth()
        .delete_own_account(caller.user(), &req.password, &client.address)
        .await?;
    Ok(current_ended(&state))
}

/// The method of the request a reverse proxy is asking about, for the CSRF rules: unsafe (as
/// POST) when either header names an unsafe method or one that does not parse, else GET.
fn forwarded_method(headers: &HeaderMap) -> Method {
    let unsafe_method = ["x-forwarded-method", "x-original-method"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .any(|value| Method::from_bytes(value.as_bytes()).map_or(true, |m| is_unsafe(&m)));
    if unsafe_method {
        Method::POST
    } else {
        Method::GET
    }
}

/// `GET /v1/auth`: 200 with the identity in headers for a reverse proxy's `auth_request`, and,
/// with `forward_auth.mint_jwt`, a short JWT for the upstream in `X-Auth-Token`. The CSRF rules
/// apply to the forwarded request's method.
#[utoipa::path(
    get, path = "/v1/auth", tag = "apps",
    params(("X-Forwarded-Method" = Option<String>, Header, description = "The method of the request the proxy asks about."), ("X-Original-Method" = Option<String>, Header, description = "Same, as nginx names it.")),
    responses(
        (status = 200, description = "Authenticated; the identity in headers.", headers(("X-Auth-User-Id" = String), ("X-Auth-Username" = String), ("X-Auth-Roles" = String, description = "Comma-separated, no spaces, empty when none."), ("X-Auth-Token" = String, description = "With `forward_auth.mint_jwt`: a JWT for the upstream."))),
        (status = 401, description = "`unauthenticated` (no credential, or an unknown, expired or ended session token) or `invalid_token` (a JWT that fails any check).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: `X-Forwarded-Method` / `X-Original-Method` is unsafe and the cookie-authenticated request fails CSRF.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = []), ("session_token" = []), ("jwt" = [])),
)]
pub async fn forward_auth(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    // Authenticating with the forwarded method applies the CSRF rules to the original request.
    let caller = Caller::authenticate(&state, &headers, &forwarded_method(&headers)).await?;
    let user = caller.user();
    let mut out = HeaderMap::new();
    let text = |s: &str| HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""));
    out.insert("x-auth-user-id", text(&user.id.to_string()));
    out.insert("x-auth-username", text(user.username.as_str()));
    out.insert("x-auth-roles", text(&user.roles.join(",")));
    if let Some(token) = state.auth().mint_forward_token(user, &caller.sid())? {
        out.insert("x-auth-token", text(&token));
    }
    Ok((StatusCode::OK, out))
}
