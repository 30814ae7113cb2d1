//! `POST /v1/users`, `POST /v1/password`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::{Caller, Client};
use crate::dto::{PasswordChangeRequest, RegisterRequest, UserDto};
use crate::error::ApiResult;
use crate::json::ApiJson;
use crate::state::AppState;

/// `POST /v1/users`: registration.
pub async fn create_user(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let user = state
        .auth()
        .register_from(&req.username, &req.password, &client.address)
        .await?;
    Ok((StatusCode::CREATED, Json(UserDto::from(&user))))
}

/// `POST /v1/password`: ends every other session of the user.
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
