//! Tessera's own pages over plain HTTP: HTML with a strict CSP and a stylesheet of its own, not
//! part of the API (so not in `/openapi.json`, whose test reads only the API's `.route` calls),
//! and every bad form post refused with a 4xx that changes nothing, never a 500.

use crate::common::{PASSWORD, TestServer};
use reqwest::StatusCode;

const PAGES: [&str; 3] = ["/", "/login", "/assets/tessera.css"];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Logs in through the login form; the cookie pair and the account page's CSRF token.
async fn form_login(server: &TestServer) -> (String, String) {
    let r = client()
        .post(format!("{}/login", server.url))
        .header("content-type", FORM)
        .header("origin", &server.url)
        .body(format!(
            "username=alice&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-sid=")
            && cookie.contains("HttpOnly")
            && cookie.contains("Secure"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = client()
        .get(format!("{}/account", server.url))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF field")
        .to_owned();
    (pair, csrf)
}

#[tokio::test]
async fn pages_are_html_with_a_strict_csp_and_not_in_the_api_document() {
    let server = TestServer::start(&[]).await;
    for path in PAGES {
        let r = client()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        if path.ends_with(".css") {
            assert!(kind.starts_with("text/css"), "{kind}");
            continue;
        }
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script") && !html.contains("style="),
            "{path}"
        );
    }
    let doc: serde_json::Value = client()
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["/", "/login", "/account", "/account/logout"] {
        assert!(
            doc["paths"].get(path).is_none(),
            "{path} is a page, not API"
        );
    }
    // Not signed in: the account page sends the browser to log in.
    let r = client()
        .get(format!("{}/account", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
}

/// A bad form post: path, headers, body, and the status it gets.
type BadPost<'a> = (&'a str, Vec<(&'a str, String)>, String, u16);

#[tokio::test]
async fn pages_refuse_bad_form_posts_with_a_4xx_and_change_nothing() {
    let server = TestServer::start(&[]).await;
    server.register("alice").await;
    let (cookie, csrf) = form_login(&server).await;
    let url = |p: &str| format!("{}{p}", server.url);
    let good = format!("csrf_token={csrf}");
    let cases: Vec<BadPost> = vec![
        // No token, a wrong one, a token twice.
        (
            "/account/logout-everywhere",
            vec![("content-type", FORM.into())],
            String::new(),
            403,
        ),
        (
            "/account/logout-everywhere",
            vec![("content-type", FORM.into())],
            "csrf_token=AAAA".into(),
            403,
        ),
        (
            "/account/logout",
            vec![("content-type", FORM.into())],
            format!("{good}&{good}"),
            400,
        ),
        // The right token from another origin or marked cross-site.
        (
            "/account/logout",
            vec![
                ("content-type", FORM.into()),
                ("origin", "http://127.0.0.1:1".into()),
            ],
            good.clone(),
            403,
        ),
        (
            "/account/logout",
            vec![
                ("content-type", FORM.into()),
                ("sec-fetch-site", "same-site".into()),
            ],
            good.clone(),
            403,
        ),
        (
            "/account/logout",
            vec![
                ("content-type", FORM.into()),
                ("sec-fetch-site", "cross-site".into()),
            ],
            good.clone(),
            403,
        ),
        (
            "/account/logout",
            vec![("content-type", FORM.into()), ("origin", "null".into())],
            good.clone(),
            403,
        ),
        // Not a form, a malformed one.
        (
            "/account/logout",
            vec![("content-type", "application/json".into())],
            "{}".into(),
            415,
        ),
        ("/account/logout", vec![], good.clone(), 415),
        (
            "/account/password",
            vec![("content-type", FORM.into())],
            "%%%".into(),
            403,
        ),
        // A session id that is no session of hers, or not even an id.
        (
            "/account/sessions/AAAAAAAAAAAAAAAAAAAAAA/end",
            vec![("content-type", FORM.into())],
            good.clone(),
            404,
        ),
        (
            "/account/sessions/..%2f..%2f/end",
            vec![("content-type", FORM.into())],
            good.clone(),
            404,
        ),
        // A new password that breaks the rules.
        (
            "/account/password",
            vec![("content-type", FORM.into())],
            format!("{good}&current_password=x&new_password=short"),
            400,
        ),
        // Logins: cross-site, not a form, too long a body.
        (
            "/login",
            vec![
                ("content-type", FORM.into()),
                ("origin", "http://evil.example".into()),
            ],
            "username=alice&password=x".into(),
            403,
        ),
        (
            "/login",
            vec![("content-type", "text/plain".into())],
            "username=alice".into(),
            415,
        ),
        (
            "/login",
            vec![("content-type", FORM.into())],
            format!("username={}", "a".repeat(20_000)),
            413,
        ),
    ];
    for (path, headers, body, status) in cases {
        let mut req = client()
            .post(url(path))
            .header("cookie", &cookie)
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path} {headers:?} {body:.40}");
    }
    // Still signed in, and her one session is still there.
    let r = client()
        .get(url("/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("<li class=\"session").count(), 1, "{html}");
    // And the right post works: it logs her out.
    let r = client()
        .post(url("/account/logout"))
        .header("cookie", &cookie)
        .header("content-type", FORM)
        .header("sec-fetch-site", "same-origin")
        .header("origin", "null")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = client()
        .get(url("/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login?m=expired");
}
