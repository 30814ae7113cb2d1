//! The bank's JWT-only JSON API (hybrid tokens: a session exchanged for short JWTs) with the
//! small client that gets a new JWT before the old one expires, against a real Tessera.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bank::client::BankClient;
use serde_json::json;

const APP_KEY: &str = "bank-app-key-for-tests-0123456789";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn bank_api_with_jwts_refreshes_before_expiry_404s_other_accounts_and_dies_with_the_session()
{
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TESSERA_APPS_KEYS", APP_KEY),
        ("TESSERA_TOKEN_ACCESS_TTL", "2s"),
        ("TESSERA_TOKEN_LEEWAY", "0s"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let overrides = tessera_server::Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let config = tessera_server::Config::load(None, env, &overrides).unwrap();
    let server = tessera_server::RunningServer::start(&config, Arc::new(tessera_core::SystemClock))
        .await
        .unwrap();
    let tessera = format!("http://{}", server.addr);
    for name in ["alice", "bob"] {
        let r = reqwest::Client::new()
            .post(format!("{tessera}/v1/users"))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    let app = bank::app(bank::BankConfig {
        protection: bank::Protection::Jwt,
        tessera_url: tessera.clone(),
        app_key: APP_KEY.into(),
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bank = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut alice = BankClient::login(&tessera, &bank, "alice", PASSWORD)
        .await
        .unwrap();
    // 5 s of requests with 2 s tokens: every one answered, new JWTs fetched before expiry.
    let started = Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let (status, body) = alice.get("/api/accounts").await.unwrap();
        assert_eq!(status, 200, "{body}");
        let names: Vec<&str> = body["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Alice's Checking", "Alice's Savings"]);
        requests += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        requests > 20 && alice.exchanges >= 4,
        "{requests} requests, {} JWTs",
        alice.exchanges
    );

    let (status, body) = alice.get("/api/accounts/a7c1f2").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["transactions"].as_array().unwrap().len(), 3);
    for id in ["b93e40", "nothing"] {
        let (status, body) = alice.get(&format!("/api/accounts/{id}")).await.unwrap();
        assert_eq!(status, 404, "{id}");
        assert!(!body.to_string().contains("Bob"), "{body}");
    }

    // No token, forged identity headers, garbage: 401, no data.
    let http = reqwest::Client::new();
    for (name, value) in [
        ("x-auth-user-id", "anything"),
        ("x-auth-token", alice.access_token()),
        ("authorization", "Bearer not.a.jwt"),
    ] {
        let r = http
            .get(format!("{bank}/api/accounts"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{name}");
    }

    // The session ends at Tessera: its current JWT is refused within a second.
    let jwt = alice.access_token().to_owned();
    alice.logout().await.unwrap();
    let ended = Instant::now();
    loop {
        let r = http
            .get(format!("{bank}/api/accounts"))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 401 {
            break;
        }
        assert!(
            ended.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
