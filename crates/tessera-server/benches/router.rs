//! The whole router in process (routing, middleware, extractors, handler, JSON, headers; no
//! sockets): `GET /healthz` against `GET /v1/me` with a session token and with a JWT, so the
//! user-space cost that authentication adds to a request can be read apart from the kernel's.
//!
//! `cargo bench -p tessera-server --bench router -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::Criterion;
use tessera_http::AppState;
use tessera_server::app::http_settings;
use tower::ServiceExt;

mod common;

use common::{PASSWORD, fixture};

fn router(c: &mut Criterion) {
    let f = fixture();
    let jwt =
        f.rt.block_on(f.auth.issue_tokens("alice", PASSWORD, "127.0.0.1"))
            .expect("tokens")
            .access_token;
    let settings = http_settings(&f.config, "127.0.0.1:8080".parse().expect("an address"));
    let app = tessera_http::router(AppState::new(Arc::clone(&f.auth), settings));
    let (rt, session) = (&f.rt, &f.session_token);
    let call = |path: &'static str, bearer: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Body::empty()).expect("a request");
        let response = rt
            .block_on(app.clone().oneshot(request))
            .expect("infallible");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        black_box(response)
    };
    let mut g = c.benchmark_group("router");
    g.bench_function("healthz", |b| b.iter(|| call("/healthz", None)));
    g.bench_function("me/session", |b| b.iter(|| call("/v1/me", Some(session))));
    g.bench_function("me/jwt-eddsa", |b| b.iter(|| call("/v1/me", Some(&jwt))));
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    router(&mut c);
    c.final_summary();
}
