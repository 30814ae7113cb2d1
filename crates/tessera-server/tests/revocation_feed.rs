//! `GET /v1/revocations`, the apps' revocation feed, over real HTTP: who may read it, the
//! snapshot, live events, resuming with `Last-Event-ID`, and a revocation on one instance of a
//! shared deployment (real Redis and PostgreSQL) reaching the feed of another.

use std::time::Duration;

use crate::common::{ADMIN_KEY, Client, PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_testkit::{PostgresServer, RedisServer};

const APP_KEY: &str = "app-key-for-tests-0123456789abcdef";
/// How long a test waits for an event before it fails (a broken build must not hang).
const EVENT_LIMIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
struct Event {
    name: String,
    data: Value,
    id: Option<String>,
}

/// A connected feed, read event by event.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

impl Feed {
    async fn open(base: &str, key: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new()
            .get(format!("{base}/v1/revocations"))
            .bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("feed answers");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` when none comes within `limit`.
    async fn next_within(&mut self, limit: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    name: String::new(),
                    data: Value::Null,
                    id: None,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_owned());
                    }
                }
                if event.name.is_empty() {
                    continue; // a keep-alive comment
                }
                event.data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?;
            let chunk = chunk.expect("stream reads")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    async fn next(&mut self) -> Event {
        self.next_within(EVENT_LIMIT)
            .await
            .expect("an event within the limit")
    }

    /// Events up to and including `ready`.
    async fn until_ready(&mut self) -> (Vec<Event>, Event) {
        let mut before = Vec::new();
        loop {
            let e = self.next().await;
            if e.name == "ready" {
                return (before, e);
            }
            before.push(e);
        }
    }
}

async fn server() -> TestServer {
    TestServer::start(&[
        ("TESSERA_ADMIN_KEY", ADMIN_KEY),
        ("TESSERA_APPS_KEYS", APP_KEY),
    ])
    .await
}

async fn status_of(base: &str, path: &str, key: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("answers").status()
}

/// A JWT of a fresh `/v1/tokens` login of `name`, and its claims.
async fn jwt(base: &str, name: &str) -> (String, Value) {
    let r = Client::new(base)
        .post(
            "/v1/tokens",
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let payload = token.split('.').nth(1).unwrap();
    let claims = decode_b64url(payload);
    (token, serde_json::from_slice(&claims).unwrap())
}

fn decode_b64url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

async fn revoke(base: &str, token: &str) {
    let r = Client::new(base)
        .post("/v1/tokens/revoke", json!({"token": token}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn the_feed_takes_the_admin_key_or_an_app_key_and_app_keys_grant_nothing_of_the_admin_api() {
    let s = server().await;
    let url = &s.url;
    assert_eq!(
        status_of(url, "/v1/revocations", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(url, "/v1/revocations", Some("not-the-key-0123456789")).await,
        StatusCode::UNAUTHORIZED
    );
    Feed::open(url, APP_KEY, None).await.until_ready().await;
    Feed::open(url, ADMIN_KEY, None).await.until_ready().await;
    // The app key introspects...
    let alice = s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/tokens/introspect"))
        .bearer_auth(APP_KEY)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], alice["id"]);
    assert_eq!(body["token_type"], "session");
    assert!(
        body["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    // ...and nothing of the admin API.
    let id = alice["id"].as_str().unwrap();
    let path = format!("/v1/admin/users/{id}/sessions");
    assert_eq!(
        status_of(url, &path, Some(APP_KEY)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status_of(url, &path, Some(ADMIN_KEY)).await, StatusCode::OK);
}

#[tokio::test]
async fn without_admin_or_app_keys_the_feed_is_not_found() {
    let s = TestServer::start(&[]).await;
    assert_eq!(
        status_of(&s.url, "/v1/revocations", Some(APP_KEY)).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn app_keys_shorter_than_16_characters_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("TESSERA_APPS_KEYS".to_owned(), format!("{APP_KEY},short"))];
    let overrides = tessera_server::Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let e = tessera_server::Config::load(None, env.into_iter(), &overrides)
        .expect_err("a short app key is refused");
    assert!(e.to_string().contains("apps.keys"), "{e}");
}

#[tokio::test]
async fn a_new_client_gets_every_live_revocation_then_ready_then_each_new_one() {
    let s = server().await;
    s.register("alice").await;
    let (old, old_claims) = jwt(&s.url, "alice").await;
    revoke(&s.url, &old).await;

    let mut feed = Feed::open(&s.url, APP_KEY, None).await;
    let (snapshot, ready) = feed.until_ready().await;
    let jti = old_claims["jti"].as_str().unwrap();
    let listed = snapshot
        .iter()
        .find(|e| e.data["kind"] == "jti" && e.data["id"] == jti)
        .expect("the revoked jti is in the snapshot");
    assert!(
        listed.id.is_none(),
        "snapshot events carry no id: {listed:?}"
    );
    assert!(listed.data["exp"].as_i64().unwrap() >= old_claims["exp"].as_i64().unwrap());
    assert!(listed.data["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ready.data["snapshot"], true);
    assert!(ready.id.is_some());

    // A logout happens: its session's sid arrives, with an id.
    let token = s.bearer_login("alice").await;
    let current = Client::with_bearer(&s.url, &token)
        .get("/v1/sessions/current")
        .await;
    let sid = current.body["session"]["id"].as_str().unwrap().to_owned();
    let r = Client::with_bearer(&s.url, &token)
        .delete("/v1/sessions/current")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let e = feed.next().await;
    assert_eq!(
        (e.name.as_str(), &e.data["kind"], &e.data["id"]),
        ("revoked", &json!("sid"), &json!(sid))
    );
    assert!(e.id.is_some() && e.id != ready.id);
}

#[tokio::test]
async fn a_client_reconnecting_with_a_held_id_resumes_after_it_and_any_other_id_gets_the_snapshot()
{
    let s = server().await;
    s.register("alice").await;
    let mut feed = Feed::open(&s.url, APP_KEY, None).await;
    feed.until_ready().await;
    let (first, first_claims) = jwt(&s.url, "alice").await;
    revoke(&s.url, &first).await;
    let seen = feed.next().await;
    assert_eq!(seen.data["id"], first_claims["jti"]);
    drop(feed);

    // Missed while away.
    let (second, second_claims) = jwt(&s.url, "alice").await;
    revoke(&s.url, &second).await;

    let mut resumed = Feed::open(&s.url, APP_KEY, seen.id.as_deref()).await;
    let e = resumed.next().await;
    assert_eq!(
        e.data["id"], second_claims["jti"],
        "resumes right after the held id"
    );
    let ready = resumed.next().await;
    assert_eq!(
        (ready.name.as_str(), &ready.data["snapshot"]),
        ("ready", &json!(false))
    );
    assert_eq!(ready.id, e.id);

    for other in ["garbage", "0123456789abcdef.1", "", "x.y"] {
        let mut fresh = Feed::open(&s.url, APP_KEY, Some(other)).await;
        let (snapshot, ready) = fresh.until_ready().await;
        assert_eq!(ready.data["snapshot"], true, "{other:?}");
        for claims in [&first_claims, &second_claims] {
            assert!(
                snapshot.iter().any(|e| e.data["id"] == claims["jti"]),
                "{other:?}: the snapshot holds {}",
                claims["jti"]
            );
        }
    }
    // An id of this instance from the future is no id to resume from either.
    let epoch = seen.id.as_deref().unwrap().split('.').next().unwrap();
    let mut future = Feed::open(&s.url, APP_KEY, Some(&format!("{epoch}.999999"))).await;
    assert_eq!(future.until_ready().await.1.data["snapshot"], true);
}

#[tokio::test]
async fn on_shared_stores_a_revocation_on_instance_a_reaches_the_feed_of_instance_b() {
    let redis = RedisServer::start_with_aof().expect("redis-server starts");
    let postgres = PostgresServer::start();
    let (redis_url, database_url) = (redis.url(), postgres.url());
    let env = |name: &'static str| {
        vec![
            ("TESSERA_REDIS_URL", redis_url.clone()),
            ("TESSERA_DATABASE_URL", database_url.clone()),
            ("TESSERA_INSTANCE_NAME", name.to_owned()),
            ("TESSERA_APPS_KEYS", APP_KEY.to_owned()),
        ]
    };
    let start = |name: &'static str| {
        let env = env(name);
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            TestServer::start(&env).await
        }
    };
    let a = start("a").await;
    let b = start("b").await;
    a.register("alice").await;
    let mut feed = Feed::open(&b.url, APP_KEY, None).await;
    feed.until_ready().await;

    let (token, claims) = jwt(&a.url, "alice").await;
    revoke(&a.url, &token).await;
    let e = feed.next().await;
    assert_eq!(
        (e.name.as_str(), &e.data["kind"]),
        ("revoked", &json!("jti"))
    );
    assert_eq!(e.data["id"], claims["jti"]);

    // An id of instance a means nothing to instance b: the snapshot, from the shared store.
    let mut on_a = Feed::open(&a.url, APP_KEY, None).await;
    let (_, ready_a) = on_a.until_ready().await;
    let mut moved = Feed::open(&b.url, APP_KEY, ready_a.id.as_deref()).await;
    let (snapshot, ready) = moved.until_ready().await;
    assert_eq!(ready.data["snapshot"], true);
    assert!(snapshot.iter().any(|e| e.data["id"] == claims["jti"]));
}

#[tokio::test]
async fn a_graceful_shutdown_ends_open_feeds_instead_of_waiting_on_them() {
    let mut s = server().await;
    let mut feed = Feed::open(&s.url, APP_KEY, None).await;
    feed.until_ready().await;
    let running = s.server.take().expect("running");
    tokio::time::timeout(Duration::from_secs(5), running.shutdown())
        .await
        .expect("the shutdown waited on an open feed")
        .expect("the server shuts down");
    assert!(
        feed.next_within(Duration::from_secs(2)).await.is_none(),
        "the feed ended with the server"
    );
}

/// RFC 7009 revocation takes the `X-Auth-Token` forward auth mints for the upstream (another
/// audience than the API's) too, and the apps behind the proxy hear of it on the feed.
#[tokio::test]
async fn a_revoked_forward_auth_token_reaches_the_feed() {
    let s = TestServer::start(&[
        ("TESSERA_APPS_KEYS", APP_KEY),
        ("TESSERA_FORWARD_AUTH_MINT_JWT", "true"),
    ])
    .await;
    s.register("alice").await;
    let token = s.bearer_login("alice").await;
    let forwarded = Client::with_bearer(&s.url, &token).get("/v1/auth").await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.text);
    let upstream = forwarded.header("x-auth-token").to_owned();
    let claims: Value =
        serde_json::from_slice(&decode_b64url(upstream.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["aud"], "upstream");

    let mut feed = Feed::open(&s.url, APP_KEY, None).await;
    feed.until_ready().await;
    revoke(&s.url, &upstream).await;
    let e = feed.next().await;
    assert_eq!(
        (e.name.as_str(), &e.data["kind"], &e.data["id"]),
        ("revoked", &json!("jti"), &claims["jti"])
    );
}
