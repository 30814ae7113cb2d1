//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a store may take to answer the readiness probe.
const READY_TIMEOUT: Duration = Duration::from_millis(1500);

/// `GET /healthz`: 200 while the process serves.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "The process serves.", body = String, content_type = "text/plain"),
    ),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only while every store answers.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every store answers.", body = String, content_type = "text/plain"),
        (status = 503, description = "`store_unavailable`: a store does not answer within 1 s.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    match tokio::time::timeout(READY_TIMEOUT, state.auth().stores().health.ping()).await {
        Ok(Ok(())) => Ok("ready"),
        _ => Err(ApiError::store_unavailable()),
    }
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 404, description = "`not_found`: metrics are off.", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match &state.settings().metrics {
        Some(render) => {
            let mut response = (StatusCode::OK, render()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        None => ApiError::not_found().into_response(),
    }
}
