//! Secrets stay where they belong: the store keeps no raw session or refresh token, and the logs
//! of the real binary at `RUST_LOG=trace` hold no token, password, cookie value, CSRF token,
//! admin key or `Authorization` value.

use std::path::Path;

use crate::common::{ADMIN_KEY, Client, PASSWORD, TestServer};
use crate::process::{Running, tessera};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_database_holds_no_raw_session_or_refresh_token() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let session = s.bearer_login("alice").await;
    let cookie_client = s.login("alice").await;
    let cookie = cookie_client.cookies.values().next().unwrap().clone();
    let mut c = s.client();
    let r = c
        .post(
            "/v1/tokens",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let spent = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = c
        .post("/v1/tokens/refresh", json!({"refresh_token": spent}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The successor is sealed under the spent token for the grace window: neither is stored raw.
    let successor = r.body["refresh_token"].as_str().unwrap().to_owned();

    let stored = all_bytes(s.dir.path());
    assert!(
        contains(&stored, b"alice"),
        "the scan reads the store's files (the username is there)"
    );
    for (what, token) in [
        ("bearer session token", &session),
        ("cookie session token", &cookie),
        ("spent refresh token", &spent),
        ("live refresh token", &successor),
    ] {
        assert!(
            !contains(&stored, token.as_bytes()),
            "{what} stored as text"
        );
        let raw = URL_SAFE_NO_PAD.decode(token).unwrap();
        assert_eq!(raw.len(), 32, "{what}");
        assert!(!contains(&stored, &raw), "{what} stored as raw bytes");
    }
    assert!(
        !contains(&stored, PASSWORD.as_bytes()),
        "a password stored as text"
    );
}

/// The real binary at `RUST_LOG=trace` with `env` on the data dir `data`, its stderr collected.
fn spawn_traced(data: &Path, env: &[(&str, &str)]) -> Running {
    let mut cmd = tessera(data, &["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
    cmd.arg(data)
        .env("RUST_LOG", "trace")
        .envs(env.iter().copied());
    Running::start(cmd)
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

#[tokio::test]
async fn trace_logs_of_a_whole_run_hold_no_secret() {
    const NEW_PASSWORD: &str = "a brand new passphrase";
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_traced(
        dir.path(),
        &[
            ("TESSERA_ADMIN_KEY", ADMIN_KEY),
            ("TESSERA_FORWARD_AUTH_MINT_JWT", "true"),
        ],
    );
    let url = server.url.clone();
    let mut secrets: Vec<(String, String)> = vec![
        ("password".into(), PASSWORD.into()),
        ("new password".into(), NEW_PASSWORD.into()),
        ("admin key".into(), ADMIN_KEY.into()),
    ];

    let mut anon = Client::new(&url);
    let r = anon
        .post(
            "/v1/users",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Cookie login, then everything a browser does with it.
    let mut browser = Client::new(&url);
    let r = browser
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let csrf = text(&r.body, "csrf_token");
    browser.csrf = Some(csrf.clone());
    let cookie = browser.cookies.values().next().expect("a cookie").clone();
    secrets.push(("csrf token".into(), csrf));
    secrets.push(("cookie value".into(), cookie));
    assert_eq!(browser.get("/v1/me").await.status, StatusCode::OK);
    let r = browser.post("/v1/tokens/exchange", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    secrets.push(("exchanged JWT".into(), text(&r.body, "access_token")));
    let r = browser.get("/v1/auth").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    secrets.push((
        "forward-auth token".into(),
        r.header("x-auth-token").to_owned(),
    ));
    // A failed CSRF check and a wrong password are logged too.
    let right = browser.csrf.replace("wrong-csrf-token".into());
    let r = browser.post("/v1/tokens/exchange", json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    browser.csrf = right;
    let r = anon
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": "a wrong password!"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    secrets.push(("wrong password".into(), "a wrong password!".into()));

    // Bearer session, JWT and refresh.
    let r = anon
        .post(
            "/v1/sessions",
            json!({"username": "alice", "password": PASSWORD, "cookie": false}),
        )
        .await;
    let session = text(&r.body, "token");
    secrets.push(("bearer session token".into(), session.clone()));
    let r = anon
        .post(
            "/v1/tokens",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let refresh = text(&r.body, "refresh_token");
    secrets.push(("access token".into(), text(&r.body, "access_token")));
    secrets.push(("refresh token".into(), refresh.clone()));
    let r = anon
        .post("/v1/tokens/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let access = text(&r.body, "access_token");
    secrets.push(("rotated access token".into(), access.clone()));
    secrets.push((
        "rotated refresh token".into(),
        text(&r.body, "refresh_token"),
    ));
    let mut jwt = Client::with_bearer(&url, &access);
    assert_eq!(jwt.get("/v1/me").await.status, StatusCode::OK);
    assert_eq!(jwt.get("/v1/auth").await.status, StatusCode::OK);
    let mut admin = Client::with_bearer(&url, ADMIN_KEY);
    let r = admin
        .post("/v1/tokens/introspect", json!({"token": access}))
        .await;
    assert_eq!(r.body["active"], true, "{}", r.text);
    let mut bearer = Client::with_bearer(&url, &session);
    let r = bearer
        .post(
            "/v1/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = anon
        .post("/v1/tokens/revoke", json!({"token": access}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A revoked JWT is refused, and that refusal is logged.
    assert_eq!(jwt.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let r = bearer.delete("/v1/sessions/current").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(bearer.get("/v1/me").await.status, StatusCode::UNAUTHORIZED);

    let logs = server.logs();
    let lines = logs.lines().count();
    assert!(
        lines > 20 && logs.contains(" TRACE ") && logs.contains(" DEBUG "),
        "RUST_LOG=trace was not in force ({lines} lines):\n{logs}"
    );
    // Every request of the run is in the logs, so the scan below covers them.
    for path in [
        "/v1/sessions",
        "/v1/tokens/refresh",
        "/v1/tokens/exchange",
        "/v1/auth",
        "/v1/password",
    ] {
        assert!(
            logs.contains(&format!("path={path} ")),
            "no log line of {path}:\n{logs}"
        );
    }
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 16,
            "{what} is too short to search for: {secret:?}"
        );
        assert!(!logs.contains(secret.as_str()), "the logs hold the {what}");
        // A JWT's signature alone identifies it.
        if let Some(signature) = secret.rsplit('.').next().filter(|_| secret.contains('.')) {
            assert!(
                !logs.contains(signature),
                "the logs hold the {what}'s signature"
            );
        }
    }
    let lower = logs.to_ascii_lowercase();
    for header in ["authorization:", "cookie:", "x-csrf-token:", "bearer "] {
        assert!(!lower.contains(header), "the logs show {header:?}");
    }
}
