//! The bank in a real browser (headless Chromium through chromedriver), protected by session
//! cookies checked through tessera-guard, against a real Tessera in process.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{PASSWORD, Site};
use serde_json::json;
use tessera_core::{ManualClock, Timestamp};
use tessera_testkit::{Browser, screenshot_path};

/// The bank protected by session cookies, on a clock the test moves; sessions idle out after
/// 5 minutes.
async fn start() -> (Site, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(1_800_000_000));
    let site = Site::start(
        bank::Protection::Session,
        &[("TESSERA_SESSION_IDLE_TIMEOUT", "5m")],
        Arc::new(clock.clone()),
    )
    .await;
    (site, clock)
}

async fn browser() -> Browser {
    Browser::start().await.expect("headless chromium starts")
}

async fn log_in(b: &Browser, site: &Site, name: &str) {
    b.goto(&site.url("/login")).await.unwrap();
    b.fill("#username", name).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.submit("#login").await.unwrap();
    assert_eq!(
        b.path().await.unwrap(),
        "/accounts",
        "{}",
        b.text().await.unwrap()
    );
}

async fn wait_for_path(b: &Browser, path: &str) {
    let arrived = b
        .wait_until(Duration::from_secs(5), || async {
            b.path().await.is_ok_and(|p| p == path)
        })
        .await;
    assert!(arrived, "at {:?}, not {path}", b.path().await);
}

/// The next click of a person: the Accounts link; where it led.
async fn next_click(b: &Browser) -> String {
    b.goto(&b.current_url().await.unwrap()).await.unwrap();
    b.path().await.unwrap()
}

#[tokio::test]
async fn bank_login_shows_own_accounts_and_transactions_and_another_users_account_is_404() {
    let (site, _) = start().await;
    let b = browser().await;
    b.goto(&site.url("/login")).await.unwrap();
    b.screenshot(&screenshot_path("bank-login")).await.unwrap();
    log_in(&b, &site, "alice").await;
    let text = b.text().await.unwrap();
    assert!(
        text.contains("Alice's Checking") && text.contains("Alice's Savings"),
        "{text}"
    );
    assert!(!text.contains("Bob's"), "{text}");
    b.screenshot(&screenshot_path("bank-accounts"))
        .await
        .unwrap();

    b.click("a[href='/accounts/a7c1f2']").await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        text.contains("Salary November") && text.contains("-1,450.00"),
        "{text}"
    );
    assert_eq!(b.find_all("tr.transaction").await.unwrap().len(), 3);
    b.screenshot(&screenshot_path("bank-account"))
        .await
        .unwrap();

    // Bob's account and an account that does not exist: the same 404, none of the data.
    for id in ["b93e40", "zzz999", "..%2fb93e40"] {
        b.goto(&site.url(&format!("/accounts/{id}"))).await.unwrap();
        let text = b.text().await.unwrap();
        assert!(text.contains("Account not found"), "{id}: {text}");
        assert!(
            !text.contains("Bob") && !text.contains("310.00"),
            "{id}: {text}"
        );
    }
    let status = reqwest::Client::new()
        .get(site.url("/accounts/b93e40"))
        .header(
            "cookie",
            format!(
                "{}={}",
                bank::COOKIE,
                b.cookies().await.unwrap()[0]["value"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);

    // The cookie is HttpOnly: the page's scripts cannot see it.
    let cookies = b.cookies().await.unwrap();
    let sid = cookies
        .iter()
        .find(|c| c["name"] == bank::COOKIE)
        .expect("the bank's cookie");
    assert_eq!(sid["httpOnly"], true);
    let visible = b
        .execute("return document.cookie;", json!([]))
        .await
        .unwrap();
    assert!(
        !visible
            .as_str()
            .unwrap()
            .contains(sid["value"].as_str().unwrap())
    );
}

#[tokio::test]
async fn bank_devices_revoke_one_session_from_another_and_log_out_everywhere() {
    let (site, _) = start().await;
    let (first, second) = tokio::join!(browser(), browser());
    log_in(&first, &site, "alice").await;
    log_in(&second, &site, "alice").await;
    second.click("#nav-devices").await.unwrap();
    assert_eq!(second.find_all("li.session").await.unwrap().len(), 2);
    second
        .screenshot(&screenshot_path("bank-devices"))
        .await
        .unwrap();
    second
        .submit("li.session:not(.current) button")
        .await
        .unwrap();
    assert_eq!(second.path().await.unwrap(), "/devices");
    assert_eq!(second.find_all("li.session").await.unwrap().len(), 1);

    // The revoked browser's next click: the login page, within the guard's 1 s cache.
    let sent_back = first
        .wait_until(Duration::from_secs(2), || async {
            first.goto(&site.url("/accounts")).await.is_ok()
                && first.path().await.is_ok_and(|p| p == "/login?m=expired")
        })
        .await;
    assert!(sent_back, "{}", first.text().await.unwrap());
    assert!(
        first
            .text()
            .await
            .unwrap()
            .contains("Your session has expired or was ended")
    );

    // Log out everywhere from the first: the second is sent to the login page too.
    log_in(&first, &site, "alice").await;
    first.click("#nav-devices").await.unwrap();
    first.submit("#logout-everywhere").await.unwrap();
    wait_for_path(&first, "/login?m=logged_out_everywhere").await;
    let sent_back = second
        .wait_until(Duration::from_secs(2), || async {
            second.goto(&site.url("/accounts")).await.is_ok()
                && second.path().await.is_ok_and(|p| p == "/login?m=expired")
        })
        .await;
    assert!(sent_back, "{}", second.text().await.unwrap());
}

#[tokio::test]
async fn bank_after_logout_back_and_reload_show_no_data_and_an_expired_session_says_so() {
    let (site, clock) = start().await;
    let b = browser().await;
    log_in(&b, &site, "alice").await;
    b.submit("#logout").await.unwrap();
    wait_for_path(&b, "/login?m=logged_out").await;
    b.back().await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        !text.contains("Alice's Checking"),
        "back showed account data: {text}"
    );
    b.refresh().await.unwrap();
    assert!(!b.text().await.unwrap().contains("Alice's Checking"));

    log_in(&b, &site, "alice").await;
    clock.advance(Duration::from_secs(301));
    let expired = b
        .wait_until(Duration::from_secs(3), || async {
            next_click(&b).await == "/login?m=expired"
        })
        .await;
    assert!(expired, "{}", b.text().await.unwrap());
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("Your session has expired or was ended. Please log in again.")
    );
}

#[tokio::test]
async fn bank_refuses_a_form_post_without_its_csrf_token_and_from_another_origin() {
    let (site, _) = start().await;
    let b = browser().await;
    log_in(&b, &site, "alice").await;
    b.click("#nav-devices").await.unwrap();
    let csrf = b
        .attribute(&b.find("input[name=csrf_token]").await.unwrap(), "value")
        .await
        .unwrap()
        .unwrap();
    b.execute(
        "document.querySelector('#logout-everywhere').form.querySelector('input[name=csrf_token]').remove();",
        json!([]),
    )
    .await
    .unwrap();
    b.submit("#logout-everywhere").await.unwrap();
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("security token was missing or wrong")
    );
    b.goto(&site.url("/accounts")).await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/accounts", "still signed in");

    // A page on another loopback port posting the form, with the right token even.
    let page = format!(
        "<!doctype html><form method=post action=\"{}/devices/logout-everywhere\">\
         <input type=hidden name=csrf_token value=\"{csrf}\"><button id=go>Win</button></form>",
        site.bank
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    b.goto(&evil).await.unwrap();
    b.submit("#go").await.unwrap();
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("it came from another site")
    );
    b.goto(&site.url("/accounts")).await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/accounts", "still signed in");
    task.abort();
}
