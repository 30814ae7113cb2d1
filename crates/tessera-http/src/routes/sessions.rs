//! The Sessions section: login, the current session, listing and revoking.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_core::session::csrf_token;
use tessera_core::{OpaqueToken, SessionId};

use super::{path_id, with_token_body};
use crate::auth::{Client, SessionCaller, check_csrf};
use crate::cookies::{clear_cookie, read_cookie, session_cookie};
use crate::dto::{LoginRequest, SessionDto, SessionEnvelopeDto, SessionListDto, SessionSummaryDto};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::metrics::record_login;
use crate::state::AppState;

/// `POST /v1/sessions`: password login into a new session.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions",
    request_body(content = crate::dto::LoginRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "A new session; a `Set-Cookie` by default, the token in the body as `token` with `\"cookie\": false`.", body = crate::dto::SessionEnvelopeDto, headers(("Set-Cookie" = String, description = "`__Host-sid=<token>; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=<absolute lifetime>`, unless `\"cookie\": false`."))),
        (status = 400, description = "`invalid_request`: unparseable JSON, a missing, unknown or mistyped field, or an invalid value.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a login with a foreign `Origin` or `Sec-Fetch-Site: cross-site`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: throttled.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    check_csrf(&headers, &state, None)?;
    // The session cookie the client carried in, whatever else authenticates the request.
    let carried = read_cookie(&headers, &state.settings().cookie.name).and_then(OpaqueToken::parse);
    let result = state
        .auth()
        .login(&req.username, &req.password, &client, carried.as_ref())
        .await;
    record_login("session", &result);
    let new = result?;
    let envelope = SessionEnvelopeDto {
        session: SessionDto::new(&new.session, &new.user),
        csrf_token: csrf_token(&new.token),
        token: (!req.cookie).then(|| new.token.expose()),
    };
    if !req.cookie {
        return Ok(with_token_body(StatusCode::CREATED, envelope));
    }
    let mut response = (StatusCode::CREATED, ApiJson(envelope)).into_response();
    let cookie = session_cookie(&state.settings().cookie, &new.token.expose());
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /v1/sessions/current`.
#[utoipa::path(
    get, path = "/v1/sessions/current", tag = "sessions",
    responses(
        (status = 200, description = "The caller's session and its CSRF token.", body = crate::dto::SessionEnvelopeDto),
        (status = 401, description = "`unauthenticated`: no credential, or an unknown, expired or ended session token (any JWT too on the session-only routes).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = []), ("session_token" = [])),
)]
pub async fn current(caller: SessionCaller) -> ApiJson<SessionEnvelopeDto> {
    ApiJson(SessionEnvelopeDto {
        session: SessionDto::current(&caller.auth),
        csrf_token: csrf_token(&caller.token),
        token: None,
    })
}

/// The answer to ending the caller's own current session: 204, cookie cleared,
/// `Clear-Site-Data: "cookies"`.
pub(super) fn current_ended(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, clear_cookie(&state.settings().cookie));
    headers.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
    response
}

/// `DELETE /v1/sessions/current`: logout.
#[utoipa::path(
    delete, path = "/v1/sessions/current", tag = "sessions",
    responses(
        (status = 204, description = "Logged out on every instance; the cookie cleared.", headers(("Set-Cookie" = String, description = "The cookie with `Max-Age=0`."), ("Clear-Site-Data" = String, description = "`\"cookies\"`."))),
        (status = 401, description = "`unauthenticated`: no credential, or an unknown, expired or ended session token (any JWT too on the session-only routes).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated unsafe request without the right `X-CSRF-Token`, with `Sec-Fetch-Site: cross-site`, or with a foreign `Origin`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("session_token" = [])),
)]
pub async fn logout(State(state): State<AppState>, caller: SessionCaller) -> ApiResult<Response> {
    state.auth().end_this_session(&caller.auth.session).await?;
    Ok(current_ended(&state))
}

/// `GET /v1/sessions`: the caller's live sessions.
#[utoipa::path(
    get, path = "/v1/sessions", tag = "sessions",
    responses(
        (status = 200, description = "The caller's live sessions.", body = crate::dto::SessionListDto),
        (status = 401, description = "`unauthenticated`: no credential, or an unknown, expired or ended session token (any JWT too on the session-only routes).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = []), ("session_token" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> ApiResult<ApiJson<SessionListDto>> {
    let sessions = state
        .auth()
        .sessions_of(caller.auth.session.user_id)
        .await?;
    Ok(ApiJson(SessionListDto {
        sessions: sessions
            .iter()
            .map(|s| SessionSummaryDto::of_caller(s, &caller.auth))
            .collect(),
    }))
}

/// `DELETE /v1/sessions/{id}`: ends one of the caller's own sessions.
#[utoipa::path(
    delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The public id.")),
    responses(
        (status = 204, description = "That session of the caller ended (the cookie cleared when it was the current one)."),
        (status = 401, description = "`unauthenticated`: no credential, or an unknown, expired or ended session token (any JWT too on the session-only routes).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated unsafe request without the right `X-CSRF-Token`, with `Sec-Fetch-Site: cross-site`, or with a foreign `Origin`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: not one of the caller's live sessions.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("session_token" = [])),
)]
pub async fn revoke_one(
    State(state): State<AppState>,
    caller: SessionCaller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id: SessionId = path_id(id)?;
    let current = &caller.auth.session;
    state.auth().end_session(current.user_id, id).await?;
    if id == current.id {
        return Ok(current_ended(&state));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Query of `DELETE /v1/sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeAllQuery {
    #[serde(default)]
    keep_current: bool,
}

/// `DELETE /v1/sessions?keep_current=`: ends all the caller's sessions.
#[utoipa::path(
    delete, path = "/v1/sessions", tag = "sessions",
    params(("keep_current" = Option<bool>, Query, description = "Keep the current session (default false).")),
    responses(
        (status = 204, description = "All the caller's sessions ended, the current one too unless `keep_current=true`."),
        (status = 400, description = "`invalid_request`: unparseable JSON, a missing, unknown or mistyped field, or an invalid value.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no credential, or an unknown, expired or ended session token (any JWT too on the session-only routes).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated unsafe request without the right `X-CSRF-Token`, with `Sec-Fetch-Site: cross-site`, or with a foreign `Origin`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("session_token" = [])),
)]
pub async fn revoke_all(
    State(state): State<AppState>,
    caller: SessionCaller,
    query: Result<Query<RevokeAllQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) =
        query.map_err(|_| ApiError::invalid_request("keep_current must be true or false"))?;
    let current = &caller.auth.session;
    let keep = query.keep_current.then_some(current.id);
    state.auth().end_sessions(current.user_id, keep).await?;
    if query.keep_current {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok(current_ended(&state))
    }
}
