//! What issue 7 listed as untested end to end, over HTTP against the real server: the client
//! address behind `trusted_proxies` (`X-Forwarded-For` believed, `Forwarded` ignored),
//! `/v1/password` failures counting toward the throttle, the larger `Retry-After` when both
//! limits apply, a JWT whose `sub` no longer exists, and tokens refused in a URL or a body field.

use crate::common::{Client, PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The `ip` of the session that a bearer login with `headers` opens.
async fn login_ip(s: &TestServer, headers: &[(&str, &str)]) -> String {
    let r = s
        .client()
        .send(
            Method::POST,
            "/v1/sessions",
            Some(json!({"username": "alice", "password": PASSWORD, "cookie": false})),
            headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap();
    let list = Client::with_bearer(&s.url, token).get("/v1/sessions").await;
    let sessions = list.body["sessions"].as_array().unwrap();
    let id = r.body["session"]["id"].as_str().unwrap();
    sessions.iter().find(|x| x["id"] == id).unwrap()["ip"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies_and_forwarded_never() {
    let trusting = TestServer::start(&[("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    trusting.register("alice").await;
    assert_eq!(
        login_ip(&trusting, &[("x-forwarded-for", "203.0.113.9")]).await,
        "203.0.113.9"
    );
    // The right-most entry that is not a trusted proxy.
    assert_eq!(
        login_ip(
            &trusting,
            &[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 127.0.0.1")]
        )
        .await,
        "203.0.113.9"
    );
    assert_eq!(
        login_ip(&trusting, &[("forwarded", "for=203.0.113.9")]).await,
        "127.0.0.1"
    );
    // A malformed entry: the header is ignored.
    assert_eq!(
        login_ip(&trusting, &[("x-forwarded-for", "203.0.113.9, not-an-ip")]).await,
        "127.0.0.1"
    );

    let direct = TestServer::start(&[]).await;
    direct.register("alice").await;
    assert_eq!(
        login_ip(&direct, &[("x-forwarded-for", "203.0.113.9")]).await,
        "127.0.0.1"
    );
}

#[tokio::test]
async fn password_change_failures_count_toward_the_login_throttle() {
    let s = TestServer::start(&[("TESSERA_THROTTLE_ACCOUNT_FAILURES", "3")]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let mut c = Client::with_bearer(&s.url, &token);
    let wrong = json!({"current_password": "not the password", "new_password": "a new password 1"});
    for _ in 0..3 {
        c.post("/v1/password", wrong.clone())
            .await
            .assert_problem(401, "invalid_credentials");
    }
    // The right password now, by login: refused for the three failures above.
    let r = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    r.assert_problem(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), "900");
}

#[tokio::test]
async fn retry_after_is_the_larger_of_the_two_limits() {
    let s = TestServer::start(&[
        ("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("TESSERA_THROTTLE_ACCOUNT_FAILURES", "2"),
        ("TESSERA_THROTTLE_ADDRESS_FAILURES", "3"),
    ])
    .await;
    s.register("alice").await;
    s.register("bob").await;
    let attempt = |user: &'static str, password: &'static str, from: &'static str| {
        let mut c = s.client();
        async move {
            c.send(
                Method::POST,
                "/v1/sessions",
                Some(json!({"username": user, "password": password})),
                &[("x-forwarded-for", from)],
            )
            .await
        }
    };
    // Alice's account is full at t = 0, from address A: open again at 900 s.
    for _ in 0..2 {
        attempt("alice", "wrong password", "198.51.100.1")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    s.advance(300);
    // Address B is full at t = 300 (Bob's failures): open again at 1200 s.
    for _ in 0..2 {
        attempt("bob", "wrong password", "203.0.113.9")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    // Bob's account is full now too; the third failure of B is a Carol who does not exist.
    attempt("carol", "wrong password", "203.0.113.9")
        .await
        .assert_problem(401, "invalid_credentials");

    // Alice from A: only her account's limit, 600 s away.
    let r = attempt("alice", PASSWORD, "198.51.100.1").await;
    r.assert_problem(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), "600");
    // Alice from B: both limits, the address's 900 s is the larger.
    let r = attempt("alice", PASSWORD, "203.0.113.9").await;
    r.assert_problem(429, "too_many_attempts");
    assert_eq!(r.header("retry-after"), "900");
}

#[tokio::test]
async fn a_jwt_whose_sub_no_longer_exists_is_invalid_token() {
    let s = TestServer::start(&[]).await;
    let user = s.register("alice").await;
    let jwt = s.access_token("alice").await;
    let mut c = Client::with_bearer(&s.url, &jwt);
    assert_eq!(c.get("/v1/me").await.status, StatusCode::OK);
    let auth = &s.server.as_ref().unwrap().auth;
    auth.delete_user(user["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    c.get("/v1/me").await.assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn tokens_in_a_url_or_a_body_field_are_not_credentials() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let session = s.bearer_login("alice").await;
    let jwt = s.access_token("alice").await;
    for token in [&session, &jwt] {
        for name in ["access_token", "token", "sid"] {
            s.client()
                .get(&format!("/v1/me?{name}={token}"))
                .await
                .assert_problem(401, "unauthenticated");
        }
        for name in ["access_token", "token"] {
            s.client()
                .post("/v1/tokens/exchange", json!({ name: token }))
                .await
                .assert_problem(401, "unauthenticated");
        }
    }
    // Both still work where they belong.
    assert_eq!(
        Client::with_bearer(&s.url, &session)
            .get("/v1/me")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        Client::with_bearer(&s.url, &jwt).get("/v1/me").await.status,
        StatusCode::OK
    );
}
