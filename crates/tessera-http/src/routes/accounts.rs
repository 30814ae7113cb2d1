//! `POST /v1/users`, `POST /v1/password`.

use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::{Caller, Client};
use crate::dto::{PasswordChangeRequest, RegisterRequest, UserDto};
use crate::error::ApiResult;
use crate::json::ApiJson;
use crate::state::AppState;

/// `POST /v1/users`: registration.
#[utoipa::path(
    post, path = "/v1/users", tag = "accounts",
    request_body(content = crate::dto::RegisterRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new user.", body = crate::dto::UserDto),
        (status = 400, description = "`invalid_request`: unparseable JSON, a missing, unknown or mistyped field, or an invalid value.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`signup_disabled`: `signup` is off.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: throttled.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
)]
pub async fn create_user(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, ApiJson<UserDto>)> {
    let user = state
        .auth()
        .register_from(&req.username, &req.password, &client.address)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(UserDto::from(&user))))
}

/// `POST /v1/password`: ends every other session of the user.
#[utoipa::path(
    post, path = "/v1/password", tag = "accounts",
    request_body(content = crate::dto::PasswordChangeRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Changed; every other session and refresh family of the user ended, with their access tokens."),
        (status = 400, description = "`invalid_request`: unparseable JSON, a missing, unknown or mistyped field, or an invalid value.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials` (wrong current password), or `unauthenticated` / `invalid_token` (no valid credential).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated unsafe request without the right `X-CSRF-Token`, with `Sec-Fetch-Site: cross-site`, or with a foreign `Origin`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: throttled.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("session_token" = []), ("jwt" = [])),
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(req): ApiJson<PasswordChangeRequest>,
) -> ApiResult<StatusCode> {
    state
        .auth()
        .change_password(
            caller.user(),
            &req.current_password,
            &req.new_password,
            Some(&caller.sid()),
            &client.address,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
