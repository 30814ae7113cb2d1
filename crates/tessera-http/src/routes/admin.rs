//! The admin API (`Authorization: Bearer <admin_key>`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::UserId;

use crate::auth::Admin;
use crate::dto::{RolesRequest, SessionListDto, SessionSummaryDto, UserDto};
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::state::AppState;

fn user_id(text: &str) -> ApiResult<UserId> {
    text.parse().map_err(|_| ApiError::not_found())
}

/// `GET /v1/admin/users/{id}/sessions`.
pub async fn user_sessions(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionListDto>> {
    let user = state.auth().user(user_id(&id)?).await?;
    let sessions = state.auth().sessions_of(user.id).await?;
    Ok(Json(SessionListDto {
        sessions: sessions.iter().map(SessionSummaryDto::new).collect(),
    }))
}

/// `POST /v1/admin/users/{id}/revoke`: ends every session and refresh family of the user.
pub async fn revoke_user(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.auth().revoke_user(user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/admin/users/{id}/roles`.
pub async fn set_roles(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RolesRequest>,
) -> ApiResult<Json<UserDto>> {
    let user = state.auth().set_roles(user_id(&id)?, &req.roles).await?;
    Ok(Json(UserDto::from(&user)))
}
