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
use tessera_core::SystemClock;
use tessera_core::auth::ClientInfo;
use tessera_http::AppState;
use tessera_server::Config;
use tessera_server::app::{auth_service, http_settings, open_stores};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

fn router(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp data dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let (app, session, jwt) = rt.block_on(async {
        let stores = open_stores(&config).expect("opening the SQLite store");
        let auth = Arc::new(
            auth_service(&config, stores, Arc::new(SystemClock))
                .await
                .expect("auth"),
        );
        auth.register("alice", PASSWORD)
            .await
            .expect("registering alice");
        let client = ClientInfo {
            address: "127.0.0.1".into(),
            user_agent: "criterion".into(),
        };
        let session = auth
            .login("alice", PASSWORD, &client, None)
            .await
            .expect("login")
            .token
            .expose();
        let jwt = auth
            .issue_tokens("alice", PASSWORD, "127.0.0.1")
            .await
            .expect("tokens")
            .access_token;
        let settings = http_settings(&config, "127.0.0.1:8080".parse().expect("an address"));
        (
            tessera_http::router(AppState::new(auth, settings)),
            session,
            jwt,
        )
    });
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
    g.bench_function("me/session", |b| b.iter(|| call("/v1/me", Some(&session))));
    g.bench_function("me/jwt-eddsa", |b| b.iter(|| call("/v1/me", Some(&jwt))));
    g.finish();
}

criterion::criterion_group!(benches, router);
criterion::criterion_main!(benches);
