//! The guard against a real Tessera started in process, over real HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use tessera_guard::{CurrentUser, Guard, ManualClock, RequireRole, role};
use tower::ServiceExt;

const ADMIN_KEY: &str = "admin-key-for-guard-tests-0123456789";
const APP_KEY: &str = "app-key-for-guard-tests-0123456789";
const PASSWORD: &str = "correct horse battery";
const START_SECS: i64 = 1_800_000_000;

role!(Teller = "teller");

struct Tessera {
    url: String,
    server: Option<tessera_server::RunningServer>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Tessera {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Self::serve(&dir, "127.0.0.1:0").await;
        Self {
            url: format!("http://{}", server.addr),
            server: Some(server),
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// A server on `listen` over the data dir `dir`.
    async fn serve(dir: &tempfile::TempDir, listen: &str) -> tessera_server::RunningServer {
        let env = [
            ("TESSERA_ADMIN_KEY", ADMIN_KEY),
            ("TESSERA_APPS_KEYS", APP_KEY),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let overrides = tessera_server::Overrides {
            listen: Some(listen.into()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let config = tessera_server::Config::load(None, env, &overrides).unwrap();
        let clock = tessera_core::ManualClock::new(tessera_core::Timestamp::from_secs(START_SECS));
        tessera_server::RunningServer::start(&config, Arc::new(clock))
            .await
            .unwrap()
    }

    /// Stops the server (its revocation feeds end with it).
    async fn stop(&mut self) {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("a clean shutdown");
    }

    /// Starts the server again on its old address and data dir.
    async fn restart(&mut self) {
        let listen = self.url.trim_start_matches("http://").to_owned();
        self.server = Some(Self::serve(&self.dir, &listen).await);
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut r = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let r = r.send().await.unwrap();
        let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with `body`, expecting `status`; the string field `field` of the answer.
    async fn post_for(&self, path: &str, body: Value, status: StatusCode, field: &str) -> String {
        let (s, answer) = self.post(path, None, body).await;
        assert_eq!(s, status, "{answer}");
        answer[field].as_str().unwrap().to_owned()
    }

    /// Signs `name` up; its id.
    async fn register(&self, name: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD});
        self.post_for("/v1/users", body, StatusCode::CREATED, "id")
            .await
    }

    /// A JWT access token of a password login of `name`.
    async fn jwt(&self, name: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD});
        self.post_for("/v1/tokens", body, StatusCode::OK, "access_token")
            .await
    }

    /// A bearer session token of `name`.
    async fn session(&self, name: &str) -> String {
        let body = json!({"username": name, "password": PASSWORD, "cookie": false});
        self.post_for("/v1/sessions", body, StatusCode::CREATED, "token")
            .await
    }

    async fn guard(&self, clock: &ManualClock) -> Guard {
        Guard::builder(&self.url)
            .app_key(APP_KEY)
            .clock(Arc::new(clock.clone()))
            .build()
            .await
            .expect("the guard starts")
    }
}

fn clock() -> ManualClock {
    ManualClock::new(START_SECS * 1000)
}

fn app(guard: &Guard) -> Router {
    async fn me(user: CurrentUser) -> Json<Value> {
        Json(json!({"id": user.id, "roles": user.roles, "username": user.username}))
    }
    async fn vault(RequireRole(user, ..): RequireRole<Teller>) -> String {
        user.id
    }
    Router::new()
        .route("/me", get(me))
        .route("/vault", get(vault))
        .layer(guard.layer())
}

async fn call(app: &Router, path: &str, bearer: &str) -> (StatusCode, Value, String) {
    let request = Request::get(path)
        .header("authorization", format!("Bearer {bearer}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        content_type,
    )
}

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// Polls until `check` holds or a second passes; how long it took.
async fn within_a_second<F: AsyncFnMut() -> bool>(mut check: F) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test]
async fn a_jwt_revoked_at_tessera_is_refused_within_a_second_through_the_feed() {
    let t = Tessera::start().await;
    let id = t.register("alice").await;
    let clock = clock();
    let guard = t.guard(&clock).await;
    let app = app(&guard);
    let token = t.jwt("alice").await;
    let (status, body, _) = call(&app, "/me", &token).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    let (s, _) = t
        .post("/v1/tokens/revoke", None, json!({"token": token}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let took =
        within_a_second(async || call(&app, "/me", &token).await.0 == StatusCode::UNAUTHORIZED)
            .await;
    assert!(
        took.is_some(),
        "still accepted a second after the revocation"
    );
    let (_, body, content_type) = call(&app, "/me", &token).await;
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(
        (body["code"].as_str(), body["detail"].as_str()),
        (Some("invalid_token"), Some("token revoked"))
    );
    // Another token of the same user still works: only that jti was revoked.
    assert_eq!(
        call(&app, "/me", &t.jwt("alice").await).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_thousand_tokens_with_unknown_kids_cause_a_bounded_number_of_jwks_fetches() {
    let t = Tessera::start().await;
    t.register("alice").await;
    let clock = clock();
    let guard = t.guard(&clock).await;
    let app = app(&guard);
    let real = t.jwt("alice").await;
    let mut parts = real.split('.');
    let (_, payload, signature) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    let before = guard.stats().jwks_fetches;
    assert_eq!(before, 1, "one fetch at start");
    let forged = |i: usize| {
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": format!("forged-{i}")});
        format!(
            "{}.{payload}.{signature}",
            b64(header.to_string().as_bytes())
        )
    };
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let app = app.clone();
        let token = forged(i);
        tasks.push(tokio::spawn(async move { call(&app, "/me", &token).await }));
    }
    for task in tasks {
        let (status, body, _) = task.await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["detail"], "unknown kid");
    }
    assert_eq!(
        guard.stats().jwks_fetches,
        before,
        "no refetch within the interval of the start fetch"
    );
    // After the interval, one more is allowed, and no more.
    clock.advance(Duration::from_secs(5));
    for i in 0..100 {
        assert_eq!(
            call(&app, "/me", &forged(i)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(guard.stats().jwks_fetches, before + 1);
    // The real token still passes without fetching.
    assert_eq!(call(&app, "/me", &real).await.0, StatusCode::OK);
    assert_eq!(guard.stats().jwks_fetches, before + 1);
}

#[tokio::test]
async fn a_jwt_signed_by_another_key_under_tesseras_kid_is_refused() {
    let t = Tessera::start().await;
    t.register("alice").await;
    let clock = clock();
    let guard = t.guard(&clock).await;
    let app = app(&guard);
    let real = t.jwt("alice").await;
    let header_part = real.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_part)
            .unwrap(),
    )
    .unwrap();
    let claims_part = real.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims_part)
            .unwrap(),
    )
    .unwrap();
    let pkcs8 =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.typ = Some("at+jwt".into());
    h.kid = header["kid"].as_str().map(str::to_owned);
    let forged = jsonwebtoken::encode(&h, &claims, &key).unwrap();
    let (status, body, _) = call(&app, "/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "bad signature");
    assert_eq!(call(&app, "/me", &real).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_route_requiring_a_role_answers_403_without_it_and_200_with_it() {
    let t = Tessera::start().await;
    let id = t.register("alice").await;
    let clock = clock();
    let guard = t.guard(&clock).await;
    let app = app(&guard);
    let (status, body, content_type) = call(&app, "/vault", &t.jwt("alice").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(content_type, "application/problem+json");
    let r = t
        .http
        .put(format!("{}/v1/admin/users/{id}/roles", t.url))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"roles": ["teller"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        call(&app, "/vault", &t.jwt("alice").await).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/vault", &t.session("alice").await).await.0,
        StatusCode::OK
    );
    assert_eq!(call(&app, "/vault", "").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn session_tokens_are_introspected_cached_and_cleared_by_the_feed() {
    let t = Tessera::start().await;
    t.register("alice").await;
    let clock = clock();
    let guard = t.guard(&clock).await;
    let app = app(&guard);
    let token = t.session("alice").await;
    let (status, body, _) = call(&app, "/me", &token).await;
    assert_eq!(
        (status, body["username"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    assert_eq!(guard.stats().introspections, 1);
    assert_eq!(call(&app, "/me", &token).await.0, StatusCode::OK);
    assert_eq!(
        guard.stats().introspections,
        1,
        "the second check is cached"
    );

    // Logout: the feed's sid event clears the cached answer, though the clock has not moved.
    let r = t
        .http
        .delete(format!("{}/v1/sessions/current", t.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let took =
        within_a_second(async || call(&app, "/me", &token).await.0 == StatusCode::UNAUTHORIZED)
            .await;
    assert!(
        took.is_some(),
        "a logged-out session still accepted from the cache"
    );
    assert!(guard.stats().introspections >= 2);

    // Without the feed's help the cache lasts its TTL (1 s by the guard's clock).
    let other = t.session("alice").await;
    assert_eq!(call(&app, "/me", &other).await.0, StatusCode::OK);
    let n = guard.stats().introspections;
    assert_eq!(call(&app, "/me", &other).await.0, StatusCode::OK);
    assert_eq!(guard.stats().introspections, n);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(call(&app, "/me", &other).await.0, StatusCode::OK);
    assert_eq!(
        guard.stats().introspections,
        n + 1,
        "asked again after the TTL"
    );
}

/// Polls until `check` holds, for at most `limit` of real time (events of the network, not
/// timeouts: the guard's clock is moved by hand).
async fn until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn jwts_get_503_once_the_feed_is_down_longer_than_the_staleness_bound_and_200_when_it_is_back()
 {
    let mut t = Tessera::start().await;
    t.register("alice").await;
    let clock = clock();
    let guard = Guard::builder(&t.url)
        .app_key(APP_KEY)
        .clock(Arc::new(clock.clone()))
        .max_staleness(Duration::from_secs(10))
        .build()
        .await
        .expect("the guard starts");
    let app = app(&guard);
    let token = t.jwt("alice").await;
    assert_eq!(call(&app, "/me", &token).await.0, StatusCode::OK);

    t.stop().await;
    assert!(
        until(Duration::from_secs(5), || !guard.feed_connected()).await,
        "the guard never saw the feed end"
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        call(&app, "/me", &token).await.0,
        StatusCode::OK,
        "within the bound"
    );
    clock.advance(Duration::from_secs(1));
    let (status, body, content_type) = call(&app, "/me", &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["code"], "tessera_unavailable");

    t.restart().await;
    assert!(
        until(Duration::from_secs(10), || guard.revocations_fresh()).await,
        "the guard never came back to the feed"
    );
    assert_eq!(call(&app, "/me", &token).await.0, StatusCode::OK);
}
