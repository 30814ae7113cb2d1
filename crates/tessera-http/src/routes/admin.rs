//! The admin API (`Authorization: Bearer <admin_key>`).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::UserId;

use super::path_id;
use crate::auth::Admin;
use crate::dto::{RolesRequest, SessionListDto, SessionSummaryDto, UserDto};
use crate::error::ApiResult;
use crate::json::ApiJson;
use crate::state::AppState;

/// `GET /v1/admin/users/{id}/sessions`.
pub async fn user_sessions(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<SessionListDto>> {
    let user = state.auth().user(path_id::<UserId>(id)?).await?;
    let sessions = state.auth().sessions_of(user.id).await?;
    Ok(Json(SessionListDto {
        sessions: sessions.iter().map(SessionSummaryDto::new).collect(),
    }))
}

/// `POST /v1/admin/users/{id}/revoke`: ends every session and refresh family of the user.
pub async fn revoke_user(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    state.auth().revoke_user(path_id::<UserId>(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/admin/users/{id}/roles`.
pub async fn set_roles(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
    ApiJson(req): ApiJson<RolesRequest>,
) -> ApiResult<Json<UserDto>> {
    let user = state
        .auth()
        .set_roles(path_id::<UserId>(id)?, &req.roles)
        .await?;
    Ok(Json(UserDto::from(&user)))
}
