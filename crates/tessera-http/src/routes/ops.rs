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
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only while every store answers.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    match tokio::time::timeout(READY_TIMEOUT, state.auth().stores().health.ping()).await {
        Ok(Ok(())) => Ok("ready"),
        _ => Err(ApiError::store_unavailable()),
    }
}

/// `GET /metrics`: Prometheus text exposition.
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
