//! Defects found trying the server from outside (issue 7), each a test over real HTTP against
//! the real server with an injected clock: exactly one thing is wrong in each negative case,
//! and the exact `code` is asserted.

use crate::common::{self, Client, PASSWORD, TestServer};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn me(s: &TestServer, token: &str) -> common::Reply {
    Client::with_bearer(&s.url, token).get("/v1/me").await
}

/// The server's current signing key (its private material), read from its own store.
async fn signing_key(s: &TestServer) -> tessera_core::store::SigningKeyRecord {
    let auth = &s.server.as_ref().unwrap().auth;
    let mut keys = auth.stores().keys.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    keys.remove(0)
}

/// `header.payload` (the payload as raw bytes) signed with HMAC-SHA-256 under `secret`.
fn hs256_raw(header: &Value, payload: &[u8], secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(tag.as_ref()))
}

async fn exchange(s: &TestServer, session_token: &str) -> String {
    let r = Client::with_bearer(&s.url, session_token)
        .send(Method::POST, "/v1/tokens/exchange", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["access_token"].as_str().unwrap().to_owned()
}

// Defect 1: leeway is for clock skew, never a way past the session's own deadlines.
#[tokio::test]
async fn an_exchanged_jwt_dies_at_its_session_s_idle_timeout_despite_the_leeway() {
    let s = TestServer::start(&[("TESSERA_SESSION_IDLE_TIMEOUT", "60s")]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let jwt = exchange(&s, &token).await;
    s.advance(59);
    assert_eq!(me(&s, &jwt).await.status, StatusCode::OK);
    // The session's idle deadline has passed; the JWT is within the 30 s leeway of its exp.
    s.advance(2);
    let r = me(&s, &jwt).await;
    r.assert_problem(401, "invalid_token");
    assert_eq!(r.body["detail"], "session ended");
    // Had the session still been live, the leeway would have held: see the next test.
}

#[tokio::test]
async fn an_exchanged_jwt_dies_at_its_session_s_absolute_timeout_despite_the_leeway() {
    let s = TestServer::start(&[
        ("TESSERA_SESSION_IDLE_TIMEOUT", "60s"),
        ("TESSERA_SESSION_ABSOLUTE_TIMEOUT", "100s"),
    ])
    .await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    s.advance(50);
    // A request by the session pushes the idle deadline to 110 s; the absolute one is 100 s.
    let jwt = exchange(&s, &token).await;
    s.advance(49);
    assert_eq!(me(&s, &jwt).await.status, StatusCode::OK);
    s.advance(2);
    let r = me(&s, &jwt).await;
    r.assert_problem(401, "invalid_token");
    assert_eq!(r.body["detail"], "session ended");
}

#[tokio::test]
async fn the_leeway_still_holds_for_a_jwt_whose_session_lives() {
    // Access tokens of a refresh family (30 d) keep the leeway on `exp`.
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let at = s.access_token("alice").await;
    s.advance(600 + 29);
    assert_eq!(me(&s, &at).await.status, StatusCode::OK);
    s.advance(1);
    me(&s, &at).await.assert_problem(401, "invalid_token");
}

// Defect 2: the code follows the shape of what was sent.
#[tokio::test]
async fn a_public_session_id_as_bearer_is_unauthenticated_and_a_bad_jwt_is_invalid_token() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let listed = Client::with_bearer(&s.url, &token)
        .get("/v1/sessions")
        .await;
    let id = listed.body["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    me(&s, &id).await.assert_problem(401, "unauthenticated");
    me(&s, "garbage-without-dots")
        .await
        .assert_problem(401, "unauthenticated");
    me(&s, "a.b.c").await.assert_problem(401, "invalid_token");
}

// Defect 3: claims are a UTF-8 JSON object without duplicate names.
#[tokio::test]
async fn a_jwt_payload_that_is_not_utf8_or_repeats_a_claim_is_refused() {
    let s = TestServer::start(&[("TESSERA_TOKEN_ALGORITHM", "HS256")]).await;
    let user = s.register("alice").await;
    let key = signing_key(&s).await;
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid});
    let now = 1_800_000_000_i64;
    let claims = |extra: &str| {
        format!(
            r#"{{"iss":"tessera","sub":"{}","aud":"tessera","exp":{},"iat":{now},"nbf":{now},"jti":"j1","roles":[],"sid":"s1"{extra}}}"#,
            user["id"].as_str().unwrap(),
            now + 600,
        )
        .into_bytes()
    };
    // The same token without the defect is accepted: only one thing is wrong below.
    let genuine = hs256_raw(&header, &claims(r#","note":"ok""#), &key.private_der);
    assert_eq!(me(&s, &genuine).await.status, StatusCode::OK);

    let mut not_utf8 = claims(r#","note":"o?""#);
    let at = not_utf8.iter().rposition(|b| *b == b'?').unwrap();
    not_utf8[at] = 0xff;
    let r = me(&s, &hs256_raw(&header, &not_utf8, &key.private_der)).await;
    r.assert_problem(401, "invalid_token");
    assert_eq!(r.body["detail"], "invalid claims");

    let repeated = claims(r#","note":"a","note":"b""#);
    let r = me(&s, &hs256_raw(&header, &repeated, &key.private_der)).await;
    r.assert_problem(401, "invalid_token");
    assert_eq!(r.body["detail"], "invalid claims");
}

// Defect 4: a wrongly typed known parameter of RFC 7009 is 400; unknown ones stay ignored.
#[tokio::test]
async fn revoke_with_a_wrongly_typed_token_type_hint_is_invalid_request() {
    let s = TestServer::start(&[]).await;
    let mut c = s.client();
    c.post(
        "/v1/tokens/revoke",
        json!({"token": "x", "token_type_hint": 3}),
    )
    .await
    .assert_problem(400, "invalid_request");
    let r = c
        .post(
            "/v1/tokens/revoke",
            json!({"token": "x", "token_type_hint": "refresh_token", "other": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

// Defect 6: signups are throttled per client address before any hashing.
#[tokio::test]
async fn signups_are_throttled_per_address_with_retry_after() {
    let s = TestServer::start(&[("TESSERA_THROTTLE_SIGNUP_PER_ADDRESS", "3")]).await;
    let mut c = s.client();
    for i in 0..3 {
        let r = c
            .post(
                "/v1/users",
                json!({"username": format!("user{i}"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        s.advance(10);
    }
    let r = c
        .post(
            "/v1/users",
            json!({"username": "user3", "password": PASSWORD}),
        )
        .await;
    r.assert_problem(429, "too_many_attempts");
    // The first signup leaves the 15 min window 870 s from now.
    assert_eq!(r.header("retry-after"), "870");
    // Once the first signup has left the window, one more is let in.
    s.advance(870);
    let r = c
        .post(
            "/v1/users",
            json!({"username": "user3", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn a_malformed_username_is_refused_before_the_signup_throttle_counts() {
    let s = TestServer::start(&[("TESSERA_THROTTLE_SIGNUP_PER_ADDRESS", "1")]).await;
    let mut c = s.client();
    for _ in 0..3 {
        c.post(
            "/v1/users",
            json!({"username": "no spaces allowed", "password": PASSWORD}),
        )
        .await
        .assert_problem(400, "invalid_request");
    }
    let r = c
        .post(
            "/v1/users",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

// Defect 7: the per-address throttle keys an IPv6 client by its /64.
#[tokio::test]
async fn the_address_throttle_keys_ipv6_by_its_64() {
    let s = TestServer::start(&[
        ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
        ("TESSERA_THROTTLE_ADDRESS_FAILURES", "3"),
    ])
    .await;
    s.register("alice").await;
    let mut c = s.client();
    let login = |user: &str, password: &str| json!({"username": user, "password": password});
    for i in 1..=3 {
        let xff = format!("2001:db8:1:2::{i}");
        c.send(
            Method::POST,
            "/v1/sessions",
            Some(login(&format!("user{i}"), "wrong password")),
            &[("x-forwarded-for", &xff)],
        )
        .await
        .assert_problem(401, "invalid_credentials");
    }
    // Another address of the same /64.
    c.send(
        Method::POST,
        "/v1/sessions",
        Some(login("alice", PASSWORD)),
        &[("x-forwarded-for", "2001:db8:1:2:ffff:ffff:ffff:ffff")],
    )
    .await
    .assert_problem(429, "too_many_attempts");
    // The neighbouring /64 is another client.
    let r = c
        .send(
            Method::POST,
            "/v1/sessions",
            Some(login("alice", PASSWORD)),
            &[("x-forwarded-for", "2001:db8:1:3::1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn the_ipv6_prefix_of_the_address_throttle_is_configurable() {
    let s = TestServer::start(&[
        ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
        ("TESSERA_THROTTLE_ADDRESS_FAILURES", "1"),
        ("TESSERA_THROTTLE_IPV6_PREFIX", "48"),
    ])
    .await;
    s.register("alice").await;
    let mut c = s.client();
    c.send(
        Method::POST,
        "/v1/sessions",
        Some(json!({"username": "bob", "password": "wrong password"})),
        &[("x-forwarded-for", "2001:db8:1:2::1")],
    )
    .await
    .assert_problem(401, "invalid_credentials");
    c.send(
        Method::POST,
        "/v1/sessions",
        Some(json!({"username": "alice", "password": PASSWORD})),
        &[("x-forwarded-for", "2001:db8:1:3::1")],
    )
    .await
    .assert_problem(429, "too_many_attempts");
}

// Defect 8: CSRF is checked before the session is looked up and touched.
#[tokio::test]
async fn a_request_that_fails_csrf_does_not_push_the_idle_deadline() {
    let s = TestServer::start(&[("TESSERA_SESSION_IDLE_TIMEOUT", "60s")]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    c.csrf = None;
    s.advance(50);
    c.delete("/v1/sessions/current")
        .await
        .assert_problem(403, "csrf_failed");
    // Had the 403 touched the session, it would live until 110 s.
    s.advance(20);
    c.get("/v1/me").await.assert_problem(401, "unauthenticated");
    // With the token it would have worked (and been a touch): a fresh login shows it.
    let mut c = s.login("alice").await;
    s.advance(50);
    let r = c
        .send(
            Method::POST,
            "/v1/tokens/exchange",
            None,
            &[("x-csrf-token", &c.csrf.clone().unwrap())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    s.advance(20);
    assert_eq!(c.get("/v1/me").await.status, StatusCode::OK);
}

// Defect 9: origins are compared in their serialised form (no default port).
#[tokio::test]
async fn a_public_url_with_its_default_port_still_matches_the_browser_s_origin() {
    let s = TestServer::start(&[
        ("TESSERA_PUBLIC_URL", "https://example.com:443"),
        ("TESSERA_ALLOWED_ORIGINS", "http://app.example.com:80"),
    ])
    .await;
    s.register("alice").await;
    for origin in ["https://example.com", "http://app.example.com"] {
        let r = s
            .client()
            .send(
                Method::POST,
                "/v1/sessions",
                Some(json!({"username": "alice", "password": PASSWORD})),
                &[("origin", origin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{origin}: {}", r.text);
    }
    s.client()
        .send(
            Method::POST,
            "/v1/sessions",
            Some(json!({"username": "alice", "password": PASSWORD})),
            &[("origin", "https://example.com:8443")],
        )
        .await
        .assert_problem(403, "csrf_failed");
}

// Defect 10: a password login for tokens refuses cross-site requests like a session login.
#[tokio::test]
async fn a_token_login_from_a_foreign_origin_or_cross_site_is_refused() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let body = json!({"username": "alice", "password": PASSWORD});
    for header in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        s.client()
            .send(Method::POST, "/v1/tokens", Some(body.clone()), &[header])
            .await
            .assert_problem(403, "csrf_failed");
    }
    let own = s.url.clone();
    let r = s
        .client()
        .send(
            Method::POST,
            "/v1/tokens",
            Some(body),
            &[("origin", &own), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

// Defect 5: abandoned logins cannot queue hashing work beyond the hashing threads.
#[tokio::test]
async fn abandoned_logins_run_no_more_hashes_than_there_are_hashing_threads() {
    use tokio::io::AsyncWriteExt as _;
    let s = TestServer::start(&[
        ("TESSERA_THROTTLE_ACCOUNT_FAILURES", "1000"),
        ("TESSERA_THROTTLE_ADDRESS_FAILURES", "1000"),
    ])
    .await;
    s.register("alice").await;
    let worker = s.server.as_ref().unwrap().auth.passwords().clone();
    let before = worker.stats();
    let addr = s.url.trim_start_matches("http://").to_owned();
    let body = json!({"username": "alice", "password": "wrong password"}).to_string();
    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut abandoned = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        abandoned.push(stream);
    }
    // Every login has reached the worker: waiting, queued or running, or done.
    let arrived = |w: &tessera_core::password::WorkerStats| {
        w.waiting + w.in_flight + (w.jobs_run - before.jobs_run) >= 200
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !arrived(&worker.stats()) {
        assert!(std::time::Instant::now() < deadline, "{:?}", worker.stats());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let at_hang_up = worker.stats();
    drop(abandoned);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = worker.stats();
        if now.waiting == 0 && now.in_flight == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let after = worker.stats();
    let ran_after_hang_up = after.jobs_run - at_hang_up.jobs_run;
    assert!(
        ran_after_hang_up <= worker.threads() as u64,
        "{ran_after_hang_up} hashes ran for callers that had gone ({} threads): {at_hang_up:?} -> {after:?}",
        worker.threads()
    );
    // And the server still answers a real login at once.
    assert_eq!(
        s.login("alice").await.get("/v1/me").await.status,
        StatusCode::OK
    );
}

/// With signup closed, a taken name and a free one get the same 403 (the name is not looked up),
/// so the closed signup tells nobody which accounts exist.
#[tokio::test]
async fn closed_signup_answers_a_taken_name_and_a_free_one_alike() {
    let s = TestServer::start(&[("TESSERA_SIGNUP", "false")]).await;
    let auth = &s.server.as_ref().unwrap().auth;
    auth.create_user("alice", PASSWORD, &[])
        .await
        .expect("alice made by the operator");
    let signup = |name: &str| json!({"username": name, "password": PASSWORD});
    let taken = s.client().post("/v1/users", signup("alice")).await;
    let free = s.client().post("/v1/users", signup("bob")).await;
    taken.assert_problem(403, "signup_disabled");
    taken.assert_indistinguishable_from(&free);
}

/// A refresh token that never existed, one past its family's lifetime and one whose family
/// was revoked (RFC 7009) get the same `invalid_grant`: the reply says nothing about whose it was.
#[tokio::test]
async fn unknown_expired_and_ended_refresh_tokens_look_the_same() {
    let s = TestServer::start(&[("TESSERA_TOKEN_REFRESH_TTL", "1h")]).await;
    s.register("alice").await;
    let refresh = |token: String| {
        let mut c = s.client();
        async move {
            c.post("/v1/tokens/refresh", json!({"refresh_token": token}))
                .await
        }
    };
    let expiring = s.tokens("alice").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.advance(3601);
    let ended = s.tokens("alice").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = s
        .client()
        .post("/v1/tokens/revoke", json!({"token": ended}))
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.text);

    let unknown = refresh("A".repeat(43)).await;
    unknown.assert_problem(400, "invalid_grant");
    unknown.assert_indistinguishable_from(&refresh(expiring).await);
    unknown.assert_indistinguishable_from(&refresh(ended).await);
}

/// A password change names no user (it acts on the caller's own account), and a wrong current
/// password is refused exactly as a wrong login is.
#[tokio::test]
async fn a_wrong_current_password_is_refused_like_a_wrong_login() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut c = Client::with_bearer(&s.url, &s.bearer_login("alice").await);
    let change = c
        .post(
            "/v1/password",
            json!({"current_password": "wrong password!", "new_password": "a new long password"}),
        )
        .await;
    let login = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": "wrong password!"}),
        )
        .await;
    change.assert_problem(401, "invalid_credentials");
    change.assert_indistinguishable_from(&login);
}
