//! The bank behind nginx `auth_request` (deploy/nginx/auth-request.conf) to Tessera's forward
//! auth with `forward_auth.mint_jwt` on: a real nginx, Tessera in process, the bank verifying
//! the minted `X-Auth-Token` with tessera-guard, driven by headless Chromium.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, Site};
use serde_json::json;
use tessera_testkit::{Browser, Nginx, screenshot_path};

const CONFIG: &str = include_str!("../../../deploy/nginx/auth-request.conf");

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn bank_behind_nginx_auth_request_passes_the_journey_and_refuses_forged_and_revoked_tokens() {
    let site = Site::start(
        bank::Protection::ForwardAuth,
        &[("TESSERA_FORWARD_AUTH_MINT_JWT", "true")],
        Arc::new(tessera_core::SystemClock),
    )
    .await;
    let (tessera, bank) = (&site.tessera, &site.bank);
    let nginx = Nginx::start(CONFIG, [site.tessera_addr.port(), site.bank_addr.port(), 9])
        .expect("nginx starts");
    let site = nginx.url();

    // Not logged in: nginx sends the browser to Tessera's login page, on the same origin.
    let b = Browser::start().await.unwrap();
    b.goto(&format!("{site}/accounts")).await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/login");
    b.fill("#username", "alice").await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.submit("#login").await.unwrap();
    assert_eq!(
        b.path().await.unwrap(),
        "/account",
        "{}",
        b.text().await.unwrap()
    );
    b.goto(&format!("{site}/accounts")).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        text.contains("Alice's Checking") && !text.contains("Bob's"),
        "{text}"
    );
    b.screenshot(&screenshot_path("bank-forward-auth-accounts"))
        .await
        .unwrap();
    b.goto(&format!("{site}/accounts/a7c1f2")).await.unwrap();
    assert!(b.text().await.unwrap().contains("Salary November"));
    b.goto(&format!("{site}/accounts/b93e40")).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        text.contains("Account not found") && !text.contains("310.00"),
        "{text}"
    );
    let cookies = b.cookies().await.unwrap();
    let sid = cookies
        .iter()
        .find(|c| c["name"] == "__Host-sid")
        .expect("Tessera's cookie");
    assert_eq!(sid["httpOnly"], true);
    let cookie = format!("__Host-sid={}", sid["value"].as_str().unwrap());

    // Forged identity headers straight to the bank (not through nginx): nothing.
    let forged = no_redirects()
        .get(format!("{bank}/accounts"))
        .header("x-auth-user-id", "anything")
        .header("x-auth-username", "alice")
        .header("x-auth-roles", "admin")
        .header("x-auth-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 303);
    assert!(!forged.text().await.unwrap().contains("Alice"));
    // Through nginx, a forged X-Auth-User-Id without a session gets the login page.
    let r = no_redirects()
        .get(format!("{site}/accounts"))
        .header("x-auth-user-id", "anything")
        .header("x-auth-username", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let to = r.headers()["location"].to_str().unwrap();
    assert!(to == "/login" || to == format!("{site}/login"), "{to}");

    // A token minted for another session of alice's (a phone, say) works straight at the bank
    // until that session is revoked at Tessera (RFC 7009 revoke of its session token, which
    // revokes the token's `sid`); then the guard refuses it within a second, through the feed.
    // (The revoke endpoint verifies a JWT against Tessera's own audience, so the upstream's
    // token is revoked through its session.)
    let phone = reqwest::Client::new()
        .post(format!("{tessera}/v1/sessions"))
        .json(&json!({"username": "alice", "password": PASSWORD, "cookie": false}))
        .send()
        .await
        .unwrap();
    let phone: serde_json::Value = phone.json().await.unwrap();
    let phone_token = phone["token"].as_str().unwrap().to_owned();
    let minted = reqwest::Client::new()
        .get(format!("{tessera}/v1/auth"))
        .bearer_auth(&phone_token)
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status().as_u16(), 200);
    let jwt = minted.headers()["x-auth-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let with_jwt = || async {
        no_redirects()
            .get(format!("{bank}/accounts"))
            .header("x-auth-token", &jwt)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(with_jwt().await, 200);
    let revoked = reqwest::Client::new()
        .post(format!("{tessera}/v1/tokens/revoke"))
        .json(&json!({"token": phone_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);
    let started = Instant::now();
    while with_jwt().await == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    eprintln!("revoked JWT refused by the guard after {took:?}");

    // Logging out on Tessera's account page: the bank's pages are gone, back and reload too.
    b.goto(&format!("{site}/account")).await.unwrap();
    b.submit("#logout").await.unwrap();
    let at_login = b
        .wait_until(Duration::from_secs(5), || async {
            b.path().await.is_ok_and(|p| p.starts_with("/login"))
        })
        .await;
    assert!(at_login);
    b.goto(&format!("{site}/accounts")).await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/login");
    b.back().await.unwrap();
    assert!(!b.text().await.unwrap().contains("Alice's Checking"));
    b.refresh().await.unwrap();
    assert!(!b.text().await.unwrap().contains("Alice's Checking"));
}
