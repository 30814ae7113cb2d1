//! The Sessions section of the API, over real HTTP against the real server and SQLite store.

use crate::common::{Client, PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn login_sets_the_hardened_cookie_and_me_works() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut c = s.client();
    let r = c
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let token = c.cookies.get("__Host-sid").expect("cookie stored").clone();
    assert_eq!(token.len(), 43);
    assert_eq!(
        cookies[0],
        format!("__Host-sid={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=28800")
    );
    assert_eq!(r.header("cache-control"), "no-store");
    let session = &r.body["session"];
    assert_ne!(session["id"].as_str().unwrap(), token);
    assert_eq!(session["user"]["username"], "alice");
    assert_eq!(session["created_at"], "2027-01-15T08:00:00Z");
    assert_eq!(session["expires_at"], "2027-01-15T16:00:00Z");
    assert_eq!(session["idle_expires_at"], "2027-01-15T08:30:00Z");
    assert!(r.body["csrf_token"].as_str().is_some_and(|t| t.len() >= 32));
    assert!(
        r.body.get("token").is_none(),
        "cookie logins do not put the token in the body"
    );

    let me = c.get("/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "alice");
    assert_eq!(me.body["auth"], "session");
    assert_eq!(me.body["roles"], json!([]));
}

#[tokio::test]
async fn cookie_false_login_returns_a_bearer_token() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let r = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD, "cookie": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.header("pragma"), "no-cache");
    let token = r.body["token"].as_str().unwrap();
    let mut bearer = Client::with_bearer(&s.url, token);
    assert_eq!(bearer.get("/v1/me").await.body["auth"], "session");
    // Bearer requests are exempt from CSRF.
    assert_eq!(
        bearer.delete("/v1/sessions/current").await.status,
        StatusCode::NO_CONTENT
    );
    bearer
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let a = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": "wrong password!"}),
        )
        .await;
    let b = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "nobody", "password": "wrong password!"}),
        )
        .await;
    a.assert_problem(401, "invalid_credentials");
    a.assert_indistinguishable_from(&b);
    assert_eq!(a.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn second_login_carrying_the_cookie_kills_the_old_token() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    let old = c.cookies.clone();
    let r = c
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(c.cookies, old);
    let mut stale = s.client();
    stale.cookies = old;
    stale
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(c.get("/v1/me").await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_needs_csrf_and_then_clears_the_cookie() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    let csrf = c.csrf.take().unwrap();

    c.delete("/v1/sessions/current")
        .await
        .assert_problem(403, "csrf_failed");
    let wrong = c
        .send(
            Method::DELETE,
            "/v1/sessions/current",
            None,
            &[("x-csrf-token", "nope")],
        )
        .await;
    wrong.assert_problem(403, "csrf_failed");
    let foreign = [
        ("x-csrf-token", csrf.as_str()),
        ("origin", "https://evil.example"),
    ];
    c.send(Method::DELETE, "/v1/sessions/current", None, &foreign)
        .await
        .assert_problem(403, "csrf_failed");
    let cross = [
        ("x-csrf-token", csrf.as_str()),
        ("sec-fetch-site", "cross-site"),
    ];
    c.send(Method::DELETE, "/v1/sessions/current", None, &cross)
        .await
        .assert_problem(403, "csrf_failed");
    assert_eq!(
        c.get("/v1/me").await.status,
        StatusCode::OK,
        "refused requests changed nothing"
    );

    let own_origin = s.url.clone();
    let ok = [
        ("x-csrf-token", csrf.as_str()),
        ("origin", own_origin.as_str()),
    ];
    let token = c.cookies["__Host-sid"].clone();
    let r = c
        .send(Method::DELETE, "/v1/sessions/current", None, &ok)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.set_cookies(),
        vec!["__Host-sid=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0".to_owned()]
    );
    assert_eq!(r.header("clear-site-data"), "\"cookies\"");
    let mut again = s.client();
    again.cookies.insert("__Host-sid".into(), token);
    again
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn login_from_a_foreign_origin_is_refused() {
    let s = TestServer::start(&[("TESSERA_ALLOWED_ORIGINS", "https://app.example")]).await;
    s.register("alice").await;
    let body = json!({"username": "alice", "password": PASSWORD});
    let login = |header: (&'static str, &'static str)| {
        let body = body.clone();
        let mut client = s.client();
        async move {
            client
                .send(Method::POST, "/v1/sessions", Some(body), &[header])
                .await
        }
    };
    login(("origin", "https://evil.example"))
        .await
        .assert_problem(403, "csrf_failed");
    login(("sec-fetch-site", "cross-site"))
        .await
        .assert_problem(403, "csrf_failed");
    let r = login(("origin", "https://app.example")).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn list_revoke_one_and_others_sessions() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    s.register("bob").await;
    let mut a1 = s.login("alice").await;
    let a2 = s.bearer_login("alice").await;
    let b = s.bearer_login("bob").await;

    let list = a1
        .send(
            Method::GET,
            "/v1/sessions",
            None,
            &[("user-agent", "test-agent/1")],
        )
        .await;
    let sessions = list.body["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|x| x["current"] == true).count(), 1);
    for field in [
        "id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "user_agent",
        "ip",
        "current",
    ] {
        assert!(sessions[0].get(field).is_some(), "{field} in {sessions:?}");
    }
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    let other = sessions.iter().find(|x| x["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob cannot end Alice's session: 404, and it stays alive.
    let mut bob = Client::with_bearer(&s.url, &b);
    let bob_sessions = bob.get("/v1/sessions").await.body["sessions"].clone();
    let bob_id = bob_sessions[0]["id"].as_str().unwrap().to_owned();
    bob.delete(&format!("/v1/sessions/{other}"))
        .await
        .assert_problem(404, "not_found");
    a1.delete(&format!("/v1/sessions/{bob_id}"))
        .await
        .assert_problem(404, "not_found");
    a1.delete("/v1/sessions/not-an-id")
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        Client::with_bearer(&s.url, &a2).get("/v1/me").await.status,
        StatusCode::OK
    );

    assert_eq!(
        a1.delete(&format!("/v1/sessions/{other}")).await.status,
        StatusCode::NO_CONTENT
    );
    Client::with_bearer(&s.url, &a2)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    a1.delete(&format!("/v1/sessions/{other}"))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(a1.get("/v1/me").await.status, StatusCode::OK);
    assert_eq!(bob.get("/v1/me").await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoke_all_with_and_without_keep_current() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut main = s.login("alice").await;
    let other = s.bearer_login("alice").await;

    let r = main.delete("/v1/sessions?keep_current=true").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        r.set_cookies().is_empty(),
        "the current session stays, so does its cookie"
    );
    Client::with_bearer(&s.url, &other)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(main.get("/v1/me").await.status, StatusCode::OK);

    main.delete("/v1/sessions?keep_current=maybe")
        .await
        .assert_problem(400, "invalid_request");
    let r = main.delete("/v1/sessions").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("clear-site-data"), "\"cookies\"");
    assert!(main.cookies.is_empty());
}

#[tokio::test]
async fn idle_timeout_with_touches_and_absolute_timeout() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let mut c = Client::with_bearer(&s.url, &token);
    // Activity every 29 minutes keeps the session alive past several idle periods...
    for _ in 0..5 {
        s.advance(29 * 60);
        assert_eq!(c.get("/v1/me").await.status, StatusCode::OK);
    }
    // ...and 31 idle minutes end it.
    s.advance(31 * 60);
    c.get("/v1/me").await.assert_problem(401, "unauthenticated");

    let token = s.bearer_login("alice").await;
    let mut c = Client::with_bearer(&s.url, &token);
    for _ in 0..16 {
        s.advance(29 * 60);
        assert_eq!(c.get("/v1/me").await.status, StatusCode::OK);
    }
    // 16 * 29 min = 7 h 44 min; the absolute deadline is 8 h after login.
    s.advance(17 * 60);
    c.get("/v1/me").await.assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn idle_deadline_is_reported_and_moves() {
    let s = TestServer::start(&[("TESSERA_SESSION_IDLE_TIMEOUT", "10m")]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    s.advance(300);
    let r = c.get("/v1/sessions/current").await;
    assert_eq!(r.body["session"]["idle_expires_at"], "2027-01-15T08:15:00Z");
    assert_eq!(r.body["csrf_token"].as_str(), c.csrf.as_deref());
}

#[tokio::test]
async fn password_change_ends_every_other_session() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut me = s.login("alice").await;
    let other = s.bearer_login("alice").await;
    let r = me
        .post(
            "/v1/password",
            json!({"current_password": "wrong password", "new_password": "new password 123"}),
        )
        .await;
    r.assert_problem(401, "invalid_credentials");
    assert_eq!(
        Client::with_bearer(&s.url, &other)
            .get("/v1/me")
            .await
            .status,
        StatusCode::OK
    );
    me.post(
        "/v1/password",
        json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await
    .assert_problem(400, "invalid_request");

    let r = me
        .post(
            "/v1/password",
            json!({"current_password": PASSWORD, "new_password": "new password 123"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    Client::with_bearer(&s.url, &other)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(me.get("/v1/me").await.status, StatusCode::OK);
    let old = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    old.assert_problem(401, "invalid_credentials");
    let new = s
        .client()
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": "new password 123"}),
        )
        .await;
    assert_eq!(new.status, StatusCode::CREATED);
}

#[tokio::test]
async fn sessions_survive_a_restart_on_the_same_data_dir() {
    let mut s = TestServer::start(&[]).await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    s.server.take().unwrap().shutdown().await.unwrap();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = TestServer::start_in(dir, &[]).await;
    let r = Client::with_bearer(&s2.url, &token).get("/v1/me").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["username"], "alice");
}

#[tokio::test]
async fn a_removed_user_s_session_is_dead() {
    let s = TestServer::start(&[]).await;
    let user = s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let auth = &s.server.as_ref().unwrap().auth;
    auth.delete_user(user["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    Client::with_bearer(&s.url, &token)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn a_carried_cookie_ends_even_when_the_login_also_sends_authorization() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let c = s.login("alice").await;
    let old = c.cookies["__Host-sid"].clone();
    let mut again = s.client();
    again.cookies.insert("__Host-sid".into(), old.clone());
    let body = json!({"username": "alice", "password": PASSWORD});
    let r = again
        .send(
            Method::POST,
            "/v1/sessions",
            Some(body),
            &[("authorization", "Basic YWxpY2U6eA==")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    Client::with_bearer(&s.url, &old)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
}

/// The ids of the sessions that `token` lists, sorted.
async fn listed_ids(url: &str, token: &str) -> Vec<String> {
    let r = Client::with_bearer(url, token).get("/v1/sessions").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut ids: Vec<String> = r.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn session_max_per_user_ends_the_oldest_session_and_its_jwts() {
    let s = TestServer::start(&[("TESSERA_SESSION_MAX_PER_USER", "2")]).await;
    s.register("alice").await;
    s.register("bob").await;
    let bob = s.bearer_login("bob").await;
    let first = s.bearer_login("alice").await;
    let r = Client::with_bearer(&s.url, &first)
        .post("/v1/tokens/exchange", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let first_jwt = r.body["access_token"].as_str().unwrap().to_owned();
    s.advance(1);
    let second = s.bearer_login("alice").await;
    s.advance(1);
    // Two live sessions: at the limit, nothing ends yet.
    assert_eq!(listed_ids(&s.url, &first).await.len(), 2);
    assert_eq!(
        Client::with_bearer(&s.url, &first_jwt)
            .get("/v1/me")
            .await
            .status,
        StatusCode::OK
    );

    // The third login ends the oldest (first), not the newer one and not Bob's.
    let third = s.bearer_login("alice").await;
    Client::with_bearer(&s.url, &first)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    Client::with_bearer(&s.url, &first_jwt)
        .get("/v1/me")
        .await
        .assert_problem(401, "invalid_token");
    for token in [&second, &third, &bob] {
        assert_eq!(
            Client::with_bearer(&s.url, token)
                .get("/v1/me")
                .await
                .status,
            StatusCode::OK
        );
    }
    assert_eq!(listed_ids(&s.url, &third).await.len(), 2);
    assert_eq!(
        listed_ids(&s.url, &second).await,
        listed_ids(&s.url, &third).await
    );
    assert_eq!(listed_ids(&s.url, &bob).await.len(), 1);

    // A cookie login counts the same: it ends `second`, now the oldest.
    s.advance(1);
    let mut cookie = s.login("alice").await;
    Client::with_bearer(&s.url, &second)
        .get("/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(cookie.get("/v1/me").await.status, StatusCode::OK);
    assert_eq!(listed_ids(&s.url, &third).await.len(), 2);
}

#[tokio::test]
async fn session_max_per_user_is_off_by_default() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut tokens = Vec::new();
    for _ in 0..6 {
        tokens.push(s.bearer_login("alice").await);
        s.advance(1);
    }
    for token in &tokens {
        assert_eq!(
            Client::with_bearer(&s.url, token)
                .get("/v1/me")
                .await
                .status,
            StatusCode::OK
        );
    }
    assert_eq!(listed_ids(&s.url, &tokens[0]).await.len(), 6);
}

/// On the embedded store, writes by another process on the same database (the operator's CLI)
/// reach the running server's user and session caches after their max age, counted on the
/// server's injected clock: not before, and without waiting in real time.
#[tokio::test]
async fn cached_users_and_sessions_are_read_again_after_their_max_age_on_the_clock() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let mut c = Client::with_bearer(&s.url, &s.bearer_login("alice").await);
    assert_eq!(c.get("/v1/me").await.body["roles"], json!([]));

    let other = tessera_store_sqlite::SqliteStore::open(s.dir.path())
        .expect("a second handle on the data dir")
        .stores();
    let alice = other
        .users
        .user_by_name("alice")
        .await
        .expect("read")
        .expect("alice exists");
    other
        .users
        .set_roles(alice.id, &["teller".to_owned()])
        .await
        .expect("roles set");
    assert_eq!(c.get("/v1/me").await.body["roles"], json!([]), "cached");
    s.advance(2);
    assert_eq!(c.get("/v1/me").await.body["roles"], json!(["teller"]));

    let ended = other
        .sessions
        .delete_sessions_of_user(alice.id, None)
        .await
        .expect("sessions deleted");
    assert_eq!(ended.len(), 1);
    assert_eq!(c.get("/v1/me").await.status, StatusCode::OK, "cached");
    s.advance(2);
    c.get("/v1/me").await.assert_problem(401, "unauthenticated");
}
