//! The bank's JWT-only JSON API (hybrid tokens: a session exchanged for short JWTs) with the
//! small client that gets a new JWT before the old one expires, against a real Tessera.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, Site};
use bank::client::BankClient;

#[tokio::test]
async fn bank_api_with_jwts_refreshes_before_expiry_404s_other_accounts_and_dies_with_the_session()
{
    let site = Site::start(
        bank::Protection::Jwt,
        &[
            ("TESSERA_TOKEN_ACCESS_TTL", "2s"),
            ("TESSERA_TOKEN_LEEWAY", "0s"),
        ],
        Arc::new(tessera_core::SystemClock),
    )
    .await;
    let (tessera, bank) = (&site.tessera, &site.bank);

    let mut alice = BankClient::login(tessera, bank, "alice", PASSWORD)
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
