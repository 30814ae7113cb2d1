//! Metrics recorded by the HTTP layer (exported by the server's Prometheus recorder), and the
//! middleware that adds the API's common response headers.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Counts a login attempt by mode (`session`, `jwt`) and outcome.
pub fn record_login<T>(mode: &'static str, result: &Result<T, tessera_core::auth::AuthError>) {
    use tessera_core::auth::AuthError;
    let outcome = match result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(AuthError::TooManyAttempts { .. }) => "throttled",
        Err(_) => "error",
    };
    metrics::counter!("tessera_logins_total", "mode" => mode, "outcome" => outcome).increment(1);
}

/// How a request authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// By a session token (cookie or bearer).
    Session,
    /// By a JWT access token.
    Jwt,
}

/// `tessera_verifications_total{mode, outcome}`, registered once so that counting a
/// verification on the hot path is one atomic add.
pub struct Verifications([metrics::Counter; 4]);

impl Verifications {
    /// Registers the counters with the installed recorder.
    pub fn register() -> Self {
        let counter = |mode: &'static str, outcome: &'static str| metrics::counter!("tessera_verifications_total", "mode" => mode, "outcome" => outcome);
        Self([
            counter("session", "invalid"),
            counter("session", "valid"),
            counter("jwt", "invalid"),
            counter("jwt", "valid"),
        ])
    }

    /// Counts one verification.
    pub fn record(&self, mode: Mode, ok: bool) {
        let index = match mode {
            Mode::Session => 0,
            Mode::Jwt => 2,
        } + usize::from(ok);
        self.0[index].increment(1);
    }
}

/// `tessera_http_request_duration_seconds{method, route, status}`: a handle per label set,
/// registered with the recorder the first time the set is seen. Recording a request is then a
/// lookup here and the histogram's own update, where `metrics::histogram!` would build the
/// key's labels, hash them and look them up in the recorder's registry on every request (eight
/// of the 46 allocations a `/healthz` made). The label sets are as few as the recorder's: the
/// routes, standard methods and statuses the server answers.
#[derive(Default)]
pub struct RequestDurations(RwLock<HashMap<(&'static str, StatusCode), RouteHistograms>>);

/// The histograms of one method and status, by route.
type RouteHistograms = HashMap<Box<str>, metrics::Histogram>;

impl RequestDurations {
    /// Records one request of `method` (a [`method_label`]) on `route` answered with `status`.
    fn record(&self, method: &'static str, route: &str, status: StatusCode, seconds: f64) {
        let known = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(histogram) = known.get(&(method, status)).and_then(|r| r.get(route)) {
            histogram.record(seconds);
            return;
        }
        drop(known);
        let histogram = metrics::histogram!(
            "tessera_http_request_duration_seconds",
            "method" => method,
            "route" => route.to_owned(),
            "status" => status.as_u16().to_string(),
        );
        histogram.record(seconds);
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method, status))
            .or_default()
            .insert(route.into(), histogram);
    }
}

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const JSON_CSP: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");
const INSTANCE: HeaderName = HeaderName::from_static("x-tessera-instance");

/// The `method` label: the standard methods by name, anything else as `other`, so a client
/// cannot create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The headers [`common_headers`] adds to an answer: always `nosniff` and no referrer, a CSP
/// on JSON, `no-store` under `/v1/`, HSTS when `hsts`, and the instance's name when it has one.
fn add_common_headers(
    headers: &mut HeaderMap,
    under_v1: bool,
    hsts: bool,
    instance_name: Option<&HeaderValue>,
) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    headers.insert(header::REFERRER_POLICY, NO_REFERRER);
    let is_json = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/json")
            || v.as_bytes().starts_with(b"application/problem+json")
    });
    if is_json {
        headers.insert(header::CONTENT_SECURITY_POLICY, JSON_CSP);
    }
    if under_v1 {
        headers.insert(header::CACHE_CONTROL, NO_STORE);
    }
    if hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if let Some(name) = instance_name {
        headers.insert(INSTANCE, name.clone());
    }
}

/// Adds the headers every response carries and records the request's latency by route.
pub async fn common_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let under_v1 = request.uri().path().starts_with("/v1/");
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    let settings = state.settings();
    add_common_headers(
        response.headers_mut(),
        under_v1,
        settings.hsts,
        settings.instance_name.as_ref(),
    );
    state.request_durations().record(
        method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse as _;

    use super::*;
    use crate::json::ApiJson;

    #[test]
    fn an_api_json_answer_is_built_with_room_for_its_length_and_common_headers() {
        let mut response = ApiJson(serde_json::json!({ "ok": true })).into_response();
        let room = response.headers().capacity();
        let headers = response.headers_mut();
        // As axum's router adds it.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("11"));
        let instance = HeaderValue::from_static("vm");
        add_common_headers(headers, true, false, Some(&instance));
        assert_eq!(headers.len(), 7, "{headers:?}");
        assert_eq!(headers.capacity(), room, "the map grew");
    }
}
