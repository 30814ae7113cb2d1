//! The admin API (`Authorization: Bearer <admin_key>`).

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
#[utoipa::path(
    get, path = "/v1/admin/users/{id}/sessions", tag = "admin",
    params(("id" = String, Path, description = "The public id.")),
    responses(
        (status = 200, description = "The user's live sessions.", body = crate::dto::SessionListDto),
        (status = 401, description = "`unauthenticated`: a missing or wrong admin key.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 404, description = "`not_found`: no `admin_key` is configured, or no such user.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("admin_key" = [])),
)]
pub async fn user_sessions(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<ApiJson<SessionListDto>> {
    let user = state.auth().user(path_id::<UserId>(id)?).await?;
    let sessions = state.auth().sessions_of(user.id).await?;
    Ok(ApiJson(SessionListDto {
        sessions: sessions.iter().map(SessionSummaryDto::new).collect(),
    }))
}

/// `POST /v1/admin/users/{id}/revoke`: ends every session and refresh family of the user.
#[utoipa::path(
    post, path = "/v1/admin/users/{id}/revoke", tag = "admin",
    params(("id" = String, Path, description = "The public id.")),
    responses(
        (status = 204, description = "Every session and refresh family of the user ended, with their access tokens, on every instance."),
        (status = 401, description = "`unauthenticated`: a missing or wrong admin key.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 404, description = "`not_found`: no `admin_key` is configured, or no such user.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("admin_key" = [])),
)]
pub async fn revoke_user(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    state.auth().revoke_user(path_id::<UserId>(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/admin/users/{id}`: removes the user after ending everything of it.
#[utoipa::path(
    delete, path = "/v1/admin/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "The public id.")),
    responses(
        (status = 204, description = "The user is gone; every session and refresh family of it ended, with their access tokens, on every instance."),
        (status = 401, description = "`unauthenticated`: a missing or wrong admin key.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 404, description = "`not_found`: no `admin_key` is configured, or no such user.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("admin_key" = [])),
)]
pub async fn delete_user(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    state.auth().delete_user(path_id::<UserId>(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/admin/users/{id}/roles`.
#[utoipa::path(
    put, path = "/v1/admin/users/{id}/roles", tag = "admin",
    params(("id" = String, Path, description = "The public id.")),
    request_body(content = crate::dto::RolesRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The user with its new roles.", body = crate::dto::UserDto),
        (status = 400, description = "`invalid_request` (unparseable JSON, a missing, unknown or mistyped field, an invalid role) or `token_too_large` (the roles would push the user's access token past `token.max_size`).", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: a missing or wrong admin key.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 404, description = "`not_found`: no `admin_key` is configured, or no such user.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("admin_key" = [])),
)]
pub async fn set_roles(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
    ApiJson(req): ApiJson<RolesRequest>,
) -> ApiResult<ApiJson<UserDto>> {
    let user = state
        .auth()
        .set_roles(path_id::<UserId>(id)?, &req.roles)
        .await?;
    Ok(ApiJson(UserDto::from(&user)))
}
