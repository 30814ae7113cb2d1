//! The Tokens section: password login into a JWT + refresh pair, refresh, exchange, revoke
//! (RFC 7009), introspection (RFC 7662), and the JWKS.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::with_token_body;
use crate::auth::{AppKey, Client, SessionCaller, check_csrf};
use crate::error::{ApiError, ApiResult};
use crate::json::{ApiJson, BodyType, body_type, read_body, unsupported_media_type};
use crate::metrics::record_login;
use crate::state::AppState;
use tessera_core::auth::TokenPair;

/// `POST /v1/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Username: 1 to 64 characters of `[A-Za-z0-9._@-]`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$", min_length = 1, max_length = 64)]
    username: String,
    /// Password: 1 to 1024 bytes.
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
}

/// `POST /v1/tokens/refresh`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// `{"access_token","token_type","expires_in","refresh_token"?}`.
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Seconds.
    expires_in: u64,
    /// Absent when `token.refresh` is off, and from exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

fn token_response(pair: TokenPair) -> Response {
    with_token_body(
        StatusCode::OK,
        TokenResponse {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token.map(|t| t.expose()),
        },
    )
}

/// `POST /v1/tokens`: password login into a refresh family.
#[utoipa::path(
    post, path = "/v1/tokens", tag = "tokens",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "An access token and (unless `token.refresh` is off) a refresh token.", body = TokenResponse, headers(("Cache-Control" = String, description = "`no-store`."), ("Pragma" = String, description = "`no-cache`."))),
        (status = 400, description = "`invalid_request`: unparseable JSON, a missing, unknown or mistyped field, or an invalid value.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a login with a foreign `Origin` or `Sec-Fetch-Site: cross-site`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: throttled.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
)]
pub async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<Response> {
    // A login is refused from a foreign origin or cross-site, like POST /v1/sessions.
    check_csrf(&headers, &state, None)?;
    let result = state
        .auth()
        .issue_tokens(&req.username, &req.password, &client.address)
        .await;
    record_login("jwt", &result);
    Ok(token_response(result?))
}

/// `POST /v1/tokens/refresh`: rotation.
#[utoipa::path(
    post, path = "/v1/tokens/refresh", tag = "tokens",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent.", body = TokenResponse, headers(("Cache-Control" = String, description = "`no-store`."), ("Pragma" = String, description = "`no-cache`."))),
        (status = 400, description = "`invalid_request` (unparseable JSON, a missing, unknown or mistyped field) or `invalid_grant` (the refresh token is unknown, expired or ended, or refresh is off).", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`refresh_reused`: a spent token presented again; the family has ended.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 429, description = "`too_many_attempts`: throttled.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    Ok(token_response(
        state.auth().refresh(&req.refresh_token).await?,
    ))
}

/// `POST /v1/tokens/exchange`: a JWT bound to the caller's session.
#[utoipa::path(
    post, path = "/v1/tokens/exchange", tag = "tokens",
    responses(
        (status = 200, description = "An access token bound to the caller's session (`sid`).", body = TokenResponse, headers(("Cache-Control" = String, description = "`no-store`."), ("Pragma" = String, description = "`no-cache`."))),
        (status = 401, description = "`unauthenticated`: no credential, or an unknown, expired or ended session token (any JWT too on the session-only routes).", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 403, description = "`csrf_failed`: a cookie-authenticated unsafe request without the right `X-CSRF-Token`, with `Sec-Fetch-Site: cross-site`, or with a foreign `Origin`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("session_cookie" = [], "csrf_token" = []), ("session_token" = [])),
)]
pub async fn exchange(State(state): State<AppState>, caller: SessionCaller) -> ApiResult<Response> {
    Ok(token_response(state.auth().exchange(&caller.auth)?))
}

/// The body of the RFC 7009 and RFC 7662 endpoints, JSON or form-encoded; unknown parameters
/// are ignored, as OAuth expects.
pub struct TokenParameter(pub String);

impl FromRequest<AppState> for TokenParameter {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let kind = body_type(req.headers()).ok_or_else(|| {
            unsupported_media_type("application/json or application/x-www-form-urlencoded")
        })?;
        let body = read_body(req, state).await?;
        let token = match kind {
            BodyType::Json => {
                let object =
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
                        .map_err(|_| ApiError::invalid_request("the body is not a JSON object"))?;
                // Unknown parameters are ignored; the known ones must have their type.
                if object
                    .get("token_type_hint")
                    .is_some_and(|hint| !hint.is_string())
                {
                    return Err(ApiError::invalid_request(
                        "token_type_hint must be a string",
                    ));
                }
                object
                    .get("token")
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| ApiError::invalid_request("token must be a string"))
                    })
                    .transpose()?
            }
            BodyType::Form => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                .map_err(|_| ApiError::invalid_request("the body is not form-encoded"))?
                .into_iter()
                .find_map(|(k, v)| (k == "token").then_some(v)),
        };
        match token {
            Some(token) if !token.is_empty() => Ok(Self(token)),
            _ => Err(ApiError::invalid_request("the token parameter is missing")),
        }
    }
}

/// `POST /v1/tokens/revoke` (RFC 7009): 200 whatever the token was.
#[utoipa::path(
    post, path = "/v1/tokens/revoke", tag = "tokens",
    request_body(content(
        (crate::openapi::RevokeRequest = "application/json"),
        (crate::openapi::RevokeRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Revoked, or unknown (RFC 7009)."),
        (status = 400, description = "`invalid_request`: no token, or a known parameter of the wrong type.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is neither `application/json` nor `application/x-www-form-urlencoded`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    TokenParameter(token): TokenParameter,
) -> ApiResult<StatusCode> {
    state.auth().revoke_token(&token).await?;
    Ok(StatusCode::OK)
}

/// `POST /v1/tokens/introspect` (RFC 7662, admin key or an app key).
#[utoipa::path(
    post, path = "/v1/tokens/introspect", tag = "tokens",
    request_body(content(
        (crate::openapi::IntrospectRequest = "application/json"),
        (crate::openapi::IntrospectRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "What the token is, or `{\"active\": false}` (RFC 7662).", body = crate::openapi::Introspection),
        (status = 400, description = "`invalid_request`: no token.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: a missing or wrong admin key.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 404, description = "`not_found`: no `admin_key` is configured.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: a body over 16 KiB.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: the body is neither `application/json` nor `application/x-www-form-urlencoded`.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: a store needed to answer cannot be reached.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("admin_key" = [])),
)]
pub async fn introspect(
    State(state): State<AppState>,
    _: AppKey,
    TokenParameter(token): TokenParameter,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let body = match state.auth().introspect(&token).await? {
        Some(active) => json!({
            "active": true,
            "sub": active.user.id,
            "username": active.user.username.as_str(),
            "roles": active.user.roles,
            "exp": active.exp,
            "iat": active.iat,
            "token_type": active.kind.as_str(),
            "sid": active.sid,
        }),
        None => json!({"active": false}),
    };
    Ok(ApiJson(body))
}

/// `GET /.well-known/jwks.json`: the public verification keys, cacheable for a minute.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "tokens",
    responses(
        (status = 200, description = "The JWK Set of every public verification key still in use.", body = crate::openapi::JwkSet, headers(("Cache-Control" = String, description = "`public, max-age=60`."))),
    ),
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = ApiJson(state.auth().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}
