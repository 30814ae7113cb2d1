//! The Sessions section: login, the current session, listing and revoking.

use axum::Json;
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
    let mut response = (StatusCode::CREATED, Json(envelope)).into_response();
    let cookie = session_cookie(&state.settings().cookie, &new.token.expose());
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /v1/sessions/current`.
pub async fn current(caller: SessionCaller) -> Json<SessionEnvelopeDto> {
    Json(SessionEnvelopeDto {
        session: SessionDto::current(&caller.auth),
        csrf_token: csrf_token(&caller.token),
        token: None,
    })
}

/// The answer to ending the caller's own current session: 204, cookie cleared,
/// `Clear-Site-Data: "cookies"`.
fn current_ended(state: &AppState) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, clear_cookie(&state.settings().cookie));
    headers.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
    response
}

/// `DELETE /v1/sessions/current`: logout.
pub async fn logout(State(state): State<AppState>, caller: SessionCaller) -> ApiResult<Response> {
    state.auth().end_this_session(&caller.auth.session).await?;
    Ok(current_ended(&state))
}

/// `GET /v1/sessions`: the caller's live sessions.
pub async fn list(
    State(state): State<AppState>,
    caller: SessionCaller,
) -> ApiResult<Json<SessionListDto>> {
    let sessions = state
        .auth()
        .sessions_of(caller.auth.session.user_id)
        .await?;
    Ok(Json(SessionListDto {
        sessions: sessions
            .iter()
            .map(|s| SessionSummaryDto::of_caller(s, &caller.auth))
            .collect(),
    }))
}

/// `DELETE /v1/sessions/{id}`: ends one of the caller's own sessions.
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
