//! Tessera's own pages (`/`, `/login`, `/account`) in a real browser: Debian's headless
//! Chromium driven through chromedriver (tessera-testkit's `Browser`), against the real server
//! with the default hardened cookie (`__Host-sid`, Secure, HttpOnly).

use crate::common::{PASSWORD, TestServer};
use serde_json::json;
use tessera_testkit::{Browser, screenshot_path};

async fn browser() -> Browser {
    Browser::start().await.expect("headless chromium starts")
}

/// Logs `browser` in as `name` through the login form; asserts it lands on the account page.
async fn log_in(b: &Browser, server: &TestServer, name: &str) {
    b.goto(&format!("{}/login", server.url)).await.unwrap();
    b.fill("#username", name).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.submit("#login").await.unwrap();
    assert_eq!(
        b.path().await.unwrap(),
        "/account",
        "{}",
        b.text().await.unwrap()
    );
    assert!(
        b.text()
            .await
            .unwrap()
            .contains(&format!("Signed in as {name}")),
        "{}",
        b.text().await.unwrap()
    );
}

/// Waits (up to 5 s) for the page at `path`: logging out passes through a page that moves on
/// by itself.
async fn wait_for_path(b: &Browser, path: &str) {
    let arrived = b
        .wait_until(std::time::Duration::from_secs(5), || async {
            b.path().await.is_ok_and(|p| p == path)
        })
        .await;
    assert!(arrived, "at {:?}, not {path}", b.path().await);
}

/// Clicks the header's account link (the next click of a person) and returns where it led.
async fn next_click(b: &Browser) -> String {
    b.submit("header nav a").await.unwrap();
    b.path().await.unwrap()
}

#[tokio::test]
async fn pages_log_in_through_the_form_show_sessions_and_keep_the_cookie_from_scripts() {
    let server = TestServer::start(&[]).await;
    server.register("alice").await;
    let b = browser().await;

    b.goto(&format!("{}/", server.url)).await.unwrap();
    assert!(b.text().await.unwrap().contains("signs people in"));
    b.screenshot(&screenshot_path("tessera-index"))
        .await
        .unwrap();
    b.goto(&format!("{}/login", server.url)).await.unwrap();
    b.screenshot(&screenshot_path("tessera-login"))
        .await
        .unwrap();

    // A wrong password: the form again, with a message that does not say which field was wrong.
    b.fill("#username", "alice").await.unwrap();
    b.fill("#password", "not the password").await.unwrap();
    b.submit("#login").await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/login");
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("Wrong username or password.")
    );

    log_in(&b, &server, "alice").await;
    let text = b.text().await.unwrap();
    assert!(
        text.contains("Chrome on Linux") && text.contains("this device"),
        "{text}"
    );
    b.screenshot(&screenshot_path("tessera-account"))
        .await
        .unwrap();

    // The stylesheet loaded under the CSP (a styled button has a colour of its own).
    let background = b
        .execute(
            "return getComputedStyle(document.querySelector('#logout')).backgroundColor;",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(background, "rgb(41, 82, 204)");

    // The cookie is there for the browser, hardened, and invisible to the page's scripts.
    let cookies = b.cookies().await.unwrap();
    let sid = cookies
        .iter()
        .find(|c| c["name"] == "__Host-sid")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(sid["httpOnly"], true, "{sid}");
    assert_eq!(sid["secure"], true, "{sid}");
    assert_eq!(sid["sameSite"], "Lax", "{sid}");
    let visible = b
        .execute("return document.cookie;", json!([]))
        .await
        .unwrap();
    assert!(
        !visible.as_str().unwrap().contains("__Host-sid"),
        "{visible}"
    );
    assert!(
        !visible
            .as_str()
            .unwrap()
            .contains(sid["value"].as_str().unwrap())
    );
}

#[tokio::test]
async fn pages_revoking_a_session_from_another_device_and_logging_out_everywhere() {
    let server = TestServer::start(&[]).await;
    server.register("alice").await;
    let (first, second) = tokio::join!(browser(), browser());
    log_in(&first, &server, "alice").await;
    log_in(&second, &server, "alice").await;

    // The second device sees both sessions and revokes the other one.
    let other = second.find_all("li.session:not(.current)").await.unwrap();
    assert_eq!(other.len(), 1, "{}", second.text().await.unwrap());
    second
        .submit("li.session:not(.current) button")
        .await
        .unwrap();
    assert_eq!(second.path().await.unwrap(), "/account?m=session_ended");
    assert_eq!(second.find_all("li.session").await.unwrap().len(), 1);

    // The first device's next click lands on the login page, with the reason.
    assert_eq!(next_click(&first).await, "/login?m=expired");
    assert!(
        first
            .text()
            .await
            .unwrap()
            .contains("Your session has expired or was ended"),
        "{}",
        first.text().await.unwrap()
    );

    // Log out everywhere from the first device: both are sent to the login page.
    log_in(&first, &server, "alice").await;
    first.submit("#logout-everywhere").await.unwrap();
    wait_for_path(&first, "/login?m=logged_out_everywhere").await;
    assert!(
        first
            .text()
            .await
            .unwrap()
            .contains("logged out on every device")
    );
    assert_eq!(next_click(&second).await, "/login?m=expired");
}

#[tokio::test]
async fn pages_after_logout_back_and_reload_show_no_account_data_and_an_expired_session_says_so() {
    let server = TestServer::start(&[("TESSERA_SESSION_IDLE_TIMEOUT", "5m")]).await;
    server.register("alice").await;
    let b = browser().await;
    log_in(&b, &server, "alice").await;
    b.submit("#logout").await.unwrap();
    wait_for_path(&b, "/login?m=logged_out").await;
    assert!(b.text().await.unwrap().contains("You have logged out."));

    b.back().await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        !text.contains("Signed in as") && !text.contains("Sessions and devices"),
        "back showed account data: {text}"
    );
    b.refresh().await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        !text.contains("Signed in as"),
        "reload showed account data: {text}"
    );
    assert!(b.path().await.unwrap().starts_with("/login"));

    // A session idle past the configured 5 minutes: the next click says it expired.
    log_in(&b, &server, "alice").await;
    server.advance(301);
    assert_eq!(next_click(&b).await, "/login?m=expired");
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("Your session has expired or was ended. Please log in again.")
    );
    // And the dead cookie is gone from the browser.
    assert!(
        !b.cookies()
            .await
            .unwrap()
            .iter()
            .any(|c| c["name"] == "__Host-sid"),
    );
}

/// A page on another loopback port (another origin, the same site) with forms that post to
/// Tessera: the attacker's page.
async fn attacker_page(tessera: &str, csrf: &str) -> (String, tokio::task::JoinHandle<()>) {
    let page = format!(
        "<!doctype html><title>win a prize</title>\
         <form id=evil method=post action=\"{tessera}/account/logout-everywhere\">\
         <input type=hidden name=csrf_token value=\"{csrf}\"><button id=go>Claim</button></form>\
         <form method=post action=\"{tessera}/login\"><input name=username value=alice>\
         <input name=password value=\"{PASSWORD}\"><button id=login>Log in</button></form>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
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
    (url, task)
}

#[tokio::test]
async fn pages_refuse_a_form_post_without_its_csrf_token_and_a_cross_origin_post() {
    let server = TestServer::start(&[]).await;
    server.register("alice").await;
    let b = browser().await;
    log_in(&b, &server, "alice").await;
    let csrf = b
        .attribute(&b.find("input[name=csrf_token]").await.unwrap(), "value")
        .await
        .unwrap()
        .unwrap();
    let sessions_before = b.find_all("li.session").await.unwrap().len();

    // The form without its hidden token (removed in the page): refused, nothing ends.
    b.execute(
        "document.querySelector('#logout-everywhere').form.querySelector('input[name=csrf_token]').remove();",
        json!([]),
    )
    .await
    .unwrap();
    b.submit("#logout-everywhere").await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        text.contains("security token was missing or wrong"),
        "{text}"
    );
    assert_eq!(next_click(&b).await, "/account", "the session survived");
    assert_eq!(
        b.find_all("li.session").await.unwrap().len(),
        sessions_before
    );

    // From another origin, even with the right token (which an attacker cannot read): refused
    // by its Origin, and the session lives on.
    let (evil, task) = attacker_page(&server.url, &csrf).await;
    b.goto(&evil).await.unwrap();
    b.submit("#go").await.unwrap();
    let text = b.text().await.unwrap();
    assert!(text.contains("it came from another site"), "{text}");
    b.goto(&format!("{}/account", server.url)).await.unwrap();
    assert_eq!(b.path().await.unwrap(), "/account");

    // A login forced from the other origin is refused the same way.
    b.goto(&evil).await.unwrap();
    b.submit("#login").await.unwrap();
    assert!(
        b.text()
            .await
            .unwrap()
            .contains("it came from another site")
    );
    task.abort();
}

#[tokio::test]
async fn pages_change_the_password_and_end_the_other_sessions() {
    let server = TestServer::start(&[]).await;
    server.register("alice").await;
    let (first, second) = tokio::join!(browser(), browser());
    log_in(&first, &server, "alice").await;
    log_in(&second, &server, "alice").await;

    first
        .fill("#current_password", "wrong password!")
        .await
        .unwrap();
    first
        .fill("#new_password", "a brand new passphrase")
        .await
        .unwrap();
    first.submit("#change-password").await.unwrap();
    let text = first.text().await.unwrap();
    assert!(text.contains("The current password is wrong."), "{text}");

    first
        .goto(&format!("{}/account", server.url))
        .await
        .unwrap();
    first.fill("#current_password", PASSWORD).await.unwrap();
    first
        .fill("#new_password", "a brand new passphrase")
        .await
        .unwrap();
    first.submit("#change-password").await.unwrap();
    assert_eq!(first.path().await.unwrap(), "/account?m=password_changed");
    assert_eq!(first.find_all("li.session").await.unwrap().len(), 1);
    assert_eq!(next_click(&second).await, "/login?m=expired");
    // The new password logs in; the old one no longer does.
    second.fill("#username", "alice").await.unwrap();
    second.fill("#password", PASSWORD).await.unwrap();
    second.submit("#login").await.unwrap();
    assert_eq!(second.path().await.unwrap(), "/login");
    second
        .fill("#password", "a brand new passphrase")
        .await
        .unwrap();
    second.submit("#login").await.unwrap();
    assert_eq!(second.path().await.unwrap(), "/account");
}
