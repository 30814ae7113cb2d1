//! Accounts, bad input and the API's conventions (problem+json, headers, throttling), over real
//! HTTP. Every refused request changes nothing and never yields a 5xx.

use crate::common::{ADMIN_KEY, Client, PASSWORD, TestServer, raw};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn registration_rules() {
    let s = TestServer::start(&[]).await;
    let user = s.register("alice").await;
    assert_eq!(user["username"], "alice");
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["id"].as_str().map(str::len), Some(22));
    assert_eq!(user["created_at"], "2027-01-15T08:00:00Z");
    assert!(user.get("password_hash").is_none());

    let mut c = s.client();
    c.post(
        "/v1/users",
        json!({"username": "ALICE", "password": PASSWORD}),
    )
    .await
    .assert_problem(409, "username_taken");
    let bad = [
        json!({"username": "bob", "password": "short"}),
        json!({"username": "a".repeat(65), "password": PASSWORD}),
        json!({"username": "", "password": PASSWORD}),
        json!({"username": "bad name!", "password": PASSWORD}),
        json!({"username": "bob", "password": "x".repeat(1025)}),
        json!({"username": "bob"}),
        json!({"username": "bob", "password": PASSWORD, "admin": true}),
        json!({"username": 7, "password": PASSWORD}),
        json!(["bob", PASSWORD]),
    ];
    for body in bad {
        c.post("/v1/users", body.clone())
            .await
            .assert_problem(400, "invalid_request");
    }
    // None of them created a user.
    c.post(
        "/v1/users",
        json!({"username": "bob", "password": PASSWORD}),
    )
    .await;
    let r = c
        .post(
            "/v1/sessions",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // All bytes of a password count; 8 bytes of multi-byte UTF-8 are enough.
    let r = c
        .post(
            "/v1/users",
            json!({"username": "carol", "password": "ééééé"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn signup_can_be_closed() {
    let s = TestServer::start(&[("TESSERA_SIGNUP", "false")]).await;
    let r = s
        .client()
        .post(
            "/v1/users",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    r.assert_problem(403, "signup_disabled");
}

#[tokio::test]
async fn malformed_bodies() {
    let s = TestServer::start(&[]).await;
    let url = format!("{}/v1/users", s.url);
    let json_ct = [("content-type", "application/json")];
    raw(&url, Method::POST, &json_ct, Some(b"{not json".to_vec()))
        .await
        .assert_problem(400, "invalid_request");
    raw(&url, Method::POST, &json_ct, Some(vec![b'x'; 20_000]))
        .await
        .assert_problem(413, "payload_too_large");
    let big = format!(
        "{{\"username\":\"a\",\"password\":\"{}\"}}",
        "p".repeat(17 * 1024)
    );
    raw(&url, Method::POST, &json_ct, Some(big.into_bytes()))
        .await
        .assert_problem(413, "payload_too_large");
    raw(
        &url,
        Method::POST,
        &[("content-type", "text/plain")],
        Some(b"{}".to_vec()),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    raw(&url, Method::POST, &[], Some(b"{}".to_vec()))
        .await
        .assert_problem(415, "unsupported_media_type");
    let form = [("content-type", "application/x-www-form-urlencoded")];
    raw(&url, Method::POST, &form, Some(b"username=a".to_vec()))
        .await
        .assert_problem(415, "unsupported_media_type");
    let r = raw(
        &url,
        Method::POST,
        &[("content-type", "application/json; charset=utf-8")],
        Some(format!("{{\"username\":\"bob\",\"password\":\"{PASSWORD}\"}}").into_bytes()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn garbage_credentials_are_unauthenticated() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let me = format!("{}/v1/me", s.url);
    let long_cookie = format!("__Host-sid={}", "A".repeat(8000));
    let random = format!("Bearer {}", "A".repeat(43));
    let truncated = s.bearer_login("alice").await[..40].to_owned();
    let truncated_cookie = format!("__Host-sid={truncated}");
    // Session credentials that are missing, malformed or unknown: `unauthenticated`; a bearer
    // value shaped like a JWT (two dots) fails as `invalid_token`, anything else is no JWT.
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "unauthenticated"),
        (vec![("cookie", long_cookie.as_str())], "unauthenticated"),
        (vec![("cookie", "__Host-sid=%%%;;;===")], "unauthenticated"),
        (
            vec![("cookie", truncated_cookie.as_str())],
            "unauthenticated",
        ),
        (vec![("authorization", random.as_str())], "unauthenticated"),
        (
            vec![("authorization", "Basic YWxpY2U6cGFzcw==")],
            "unauthenticated",
        ),
        (
            vec![("authorization", "Bearer !!not-a-token!!")],
            "unauthenticated",
        ),
        (
            vec![("authorization", "Bearer !!not.a.token!!")],
            "invalid_token",
        ),
        (vec![("authorization", "Bearer")], "unauthenticated"),
    ];
    for (headers, code) in cases {
        let r = raw(&me, Method::GET, &headers, None).await;
        assert_eq!(r.status.as_u16(), 401, "{headers:?}: {}", r.text);
        assert_eq!(r.header("www-authenticate"), "Bearer");
        assert_eq!(r.code(), code, "{headers:?}");
    }
}

#[tokio::test]
async fn headers_on_every_response() {
    let s = TestServer::start(&[("TESSERA_INSTANCE_NAME", "node-a")]).await;
    for path in ["/healthz", "/v1/me", "/nope"] {
        let r = raw(&format!("{}{}", s.url, path), Method::GET, &[], None).await;
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(r.header("x-tessera-instance"), "node-a", "{path}");
        assert!(r.headers.get("server").is_none());
        assert!(
            r.headers.get("strict-transport-security").is_none(),
            "public_url is http"
        );
    }
    let r = raw(&format!("{}/v1/me", s.url), Method::GET, &[], None).await;
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(
        r.header("content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'"
    );

    raw(&format!("{}/nope", s.url), Method::GET, &[], None)
        .await
        .assert_problem(404, "not_found");
    raw(&format!("{}/v1/me", s.url), Method::POST, &[], None)
        .await
        .assert_problem(405, "method_not_allowed");
    assert_eq!(
        raw(&format!("{}/healthz", s.url), Method::GET, &[], None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        raw(&format!("{}/readyz", s.url), Method::GET, &[], None)
            .await
            .status,
        StatusCode::OK
    );

    let https = TestServer::start(&[
        ("TESSERA_PUBLIC_URL", "https://auth.example.com"),
        ("TESSERA_INSTANCE_NAME", ""),
    ])
    .await;
    let r = raw(&format!("{}/healthz", https.url), Method::GET, &[], None).await;
    assert_eq!(r.header("strict-transport-security"), "max-age=31536000");
    assert!(r.headers.get("x-tessera-instance").is_none());
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_then_released() {
    let s = TestServer::start(&[("TESSERA_THROTTLE_ACCOUNT_FAILURES", "3")]).await;
    s.register("alice").await;
    s.register("bob").await;
    let mut c = s.client();
    let wrong = json!({"username": "Alice", "password": "wrong password"});
    for _ in 0..3 {
        c.post("/v1/sessions", wrong.clone())
            .await
            .assert_problem(401, "invalid_credentials");
        s.advance(10);
    }
    // The account is locked even for the right password; the first failure leaves the 15 min
    // window 870 s from now.
    let r = c
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    r.assert_problem(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), "870");
    // A 429 does not count, and other accounts are unaffected.
    assert_eq!(
        s.login("bob").await.get("/v1/me").await.status,
        StatusCode::OK
    );
    // Unknown users are throttled the same way.
    for _ in 0..3 {
        c.post(
            "/v1/sessions",
            json!({"username": "ghost", "password": "wrong password"}),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    }
    c.post(
        "/v1/sessions",
        json!({"username": "GHOST", "password": "wrong password"}),
    )
    .await
    .assert_problem(429, "too_many_attempts");

    s.advance(870);
    assert_eq!(
        s.login("alice").await.get("/v1/me").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_account_s_failures() {
    let s = TestServer::start(&[("TESSERA_THROTTLE_ACCOUNT_FAILURES", "3")]).await;
    s.register("alice").await;
    let mut c = s.client();
    let wrong = json!({"username": "alice", "password": "wrong password"});
    let right = json!({"username": "alice", "password": PASSWORD});
    // One failure short of the limit, then the right password.
    for _ in 0..2 {
        c.post("/v1/sessions", wrong.clone())
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(
        c.post("/v1/sessions", right.clone()).await.status,
        StatusCode::CREATED
    );
    // Without the reset, the next failure would reach the limit and lock the account.
    for _ in 0..2 {
        c.post("/v1/sessions", wrong.clone())
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(
        c.post("/v1/sessions", right).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address() {
    let s = TestServer::start(&[("TESSERA_THROTTLE_ADDRESS_FAILURES", "4")]).await;
    s.register("alice").await;
    let mut c = s.client();
    for i in 0..4 {
        let r = c
            .post(
                "/v1/sessions",
                json!({"username": format!("user{i}"), "password": "wrong password"}),
            )
            .await;
        r.assert_problem(401, "invalid_credentials");
    }
    let r = c
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    r.assert_problem(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), "900");
}

#[tokio::test]
async fn admin_api() {
    let off = TestServer::start(&[]).await;
    let user = off.register("alice").await;
    let id = user["id"].as_str().unwrap();
    let path = format!("/v1/admin/users/{id}/sessions");
    Client::with_bearer(&off.url, "anything")
        .get(&path)
        .await
        .assert_problem(404, "not_found");

    let s = TestServer::start(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]).await;
    let user = s.register("alice").await;
    let id = user["id"].as_str().unwrap();
    let token = s.bearer_login("alice").await;
    let mut admin = Client::with_bearer(&s.url, ADMIN_KEY);
    s.client()
        .get(&format!("/v1/admin/users/{id}/sessions"))
        .await
        .assert_problem(401, "unauthenticated");
    Client::with_bearer(&s.url, "wrong-key-0123456789")
        .get(&format!("/v1/admin/users/{id}/sessions"))
        .await
        .assert_problem(401, "unauthenticated");
    Client::with_bearer(&s.url, &token)
        .get(&format!("/v1/admin/users/{id}/sessions"))
        .await
        .assert_problem(401, "unauthenticated");

    let r = admin.get(&format!("/v1/admin/users/{id}/sessions")).await;
    assert_eq!(
        r.body["sessions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );
    admin
        .get("/v1/admin/users/AAAAAAAAAAAAAAAAAAAAAA/sessions")
        .await
        .assert_problem(404, "not_found");
    admin
        .get("/v1/admin/users/'%20OR%201=1/sessions")
        .await
        .assert_problem(404, "not_found");

    let r = admin
        .send(
            Method::PUT,
            &format!("/v1/admin/users/{id}/roles"),
            Some(json!({"roles": ["admin", "teller"]})),
            &[],
        )
        .await;
    assert_eq!(r.body["roles"], json!(["admin", "teller"]), "{}", r.text);
    assert_eq!(
        Client::with_bearer(&s.url, &token).get("/v1/me").await.body["roles"],
        json!(["admin", "teller"])
    );
    let r = admin
        .send(
            Method::PUT,
            &format!("/v1/admin/users/{id}/roles"),
            Some(json!({"roles": ["bad role"]})),
            &[],
        )
        .await;
    r.assert_problem(400, "invalid_request");

    let r = admin
        .send(
            Method::POST,
            &format!("/v1/admin/users/{id}/revoke"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    Client::with_bearer(&s.url, &token)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn forward_auth_reports_identity_in_headers() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let r = Client::with_bearer(&s.url, &token).get("/v1/auth").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-auth-username"), "alice");
    assert_eq!(r.header("x-auth-roles"), "");
    assert_eq!(r.header("x-auth-user-id").len(), 22);
    s.client()
        .get("/v1/auth")
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn cors_only_for_allowed_origins() {
    let s = TestServer::start(&[("TESSERA_ALLOWED_ORIGINS", "https://app.example")]).await;
    let url = format!("{}/v1/sessions", s.url);
    let preflight = |origin: &'static str| {
        let url = url.clone();
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type,x-csrf-token",
                ),
            ];
            raw(&url, Method::OPTIONS, &headers, None).await
        }
    };
    let ok = preflight("https://app.example").await;
    assert!(ok.status.is_success(), "{}", ok.status);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(ok.header("access-control-allow-credentials"), "true");
    assert!(
        ok.header("access-control-allow-headers")
            .contains("x-csrf-token")
    );
    assert_eq!(ok.header("x-content-type-options"), "nosniff");
    let evil = preflight("https://evil.example").await;
    assert!(evil.headers.get("access-control-allow-origin").is_none());
    let get = raw(
        &format!("{}/healthz", s.url),
        Method::GET,
        &[("origin", "https://app.example")],
        None,
    )
    .await;
    assert_eq!(
        get.header("access-control-allow-origin"),
        "https://app.example"
    );

    let closed = TestServer::start(&[]).await;
    let headers = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "POST"),
    ];
    let r = raw(
        &format!("{}/v1/sessions", closed.url),
        Method::OPTIONS,
        &headers,
        None,
    )
    .await;
    assert!(
        r.headers.get("access-control-allow-origin").is_none(),
        "no allowed origins, no CORS"
    );
}

#[tokio::test]
async fn concurrent_failed_logins_cannot_slip_past_the_limit() {
    let s = TestServer::start(&[]).await;
    s.register("bob").await;
    let attempts = (0..30).map(|_| {
        let url = s.url.clone();
        tokio::spawn(async move {
            let body = json!({"username": "BOB", "password": "wrong password"});
            Client::new(&url)
                .post("/v1/tokens", body)
                .await
                .status
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!((checked, refused), (5, 25), "{statuses:?}");
    let r = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    r.assert_problem(429, "too_many_attempts");
}

#[tokio::test]
async fn odd_paths_and_methods_are_plain_problems() {
    let s = TestServer::start(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let mut caller = Client::with_bearer(&s.url, &token);
    caller
        .delete("/v1/sessions/%FF%FE")
        .await
        .assert_problem(404, "not_found");
    let mut admin = Client::with_bearer(&s.url, ADMIN_KEY);
    admin
        .get("/v1/admin/users/%FF/sessions")
        .await
        .assert_problem(404, "not_found");

    let foobar = Method::from_bytes(b"FOOBAR").unwrap();
    let r = raw(&format!("{}/v1/me", s.url), foobar, &[], None).await;
    r.assert_problem(405, "method_not_allowed");
    let metrics = raw(&format!("{}/metrics", s.url), Method::GET, &[], None)
        .await
        .text;
    assert!(
        !metrics.contains("FOOBAR"),
        "a client cannot mint metric series"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}
