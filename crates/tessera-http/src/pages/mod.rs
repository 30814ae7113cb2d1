//! Tessera's own pages for people: `/` (what this server is), `/login`, and `/account` (sessions
//! and devices with a revoke button each, log out, log out everywhere, password change).
//!
//! Server-rendered HTML (minijinja templates in `templates/`, HTML-escaped), no JavaScript, one
//! stylesheet at its own path, and a strict `Content-Security-Policy`: no inline script or style.
//! These are HTML, not the JSON API: their routes are a router of their own, merged into
//! [`crate::router`], and not in `/openapi.json`.
//!
//! Forms post `application/x-www-form-urlencoded` to routes of their own. Every post passes the
//! API's cross-site rules (no `Sec-Fetch-Site: cross-site`, an allowed `Origin` when one is
//! sent), checked before any session lookup; posts of a signed-in session also carry the
//! session's CSRF token as the hidden field `csrf_token`. Each handler makes one call into
//! [`tessera_core::auth::Auth`].

use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde::Deserialize;
use tessera_core::auth::{AuthError, SessionAuth};
use tessera_core::session::csrf_token;
use tessera_core::store::StoreError;
use tessera_core::{OpaqueToken, SessionId};

use crate::auth::Client;
use crate::cookies::{clear_cookie, read_cookie, session_cookie};
use crate::metrics::{Mode, record_login};
use crate::state::AppState;

/// The pages' routes; merged into the API router, which adds the common headers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login_submit))
        .route("/account", get(account_page))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/logout", post(logout))
        .route("/account/logout-everywhere", post(logout_everywhere))
        .route("/account/password", post(change_password))
        .route("/assets/tessera.css", get(stylesheet))
}

/// The CSP of every page: nothing but this origin's stylesheet and forms posting back here.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("templates/tessera.css");

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` names turn HTML escaping on for every value.
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("index.html", include_str!("templates/index.html")),
            ("login.html", include_str!("templates/login.html")),
            ("account.html", include_str!("templates/account.html")),
            ("message.html", include_str!("templates/message.html")),
            ("moving.html", include_str!("templates/moving.html")),
        ] {
            env.add_template(name, source)
                .expect("the built-in templates parse");
        }
        env
    })
}

/// An HTML page with the pages' headers: CSP, never cached (account data must not come back
/// from a cache after logout).
fn html(status: StatusCode, name: &str, context: minijinja::Value) -> Response {
    let body = templates()
        .get_template(name)
        .and_then(|t| t.render(context))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, template = name, "page template failed");
            "<!doctype html><title>Tessera</title><p>This page could not be shown.".to_owned()
        });
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page that says one thing (an error, a refusal) and links on.
fn message(status: StatusCode, heading: &str, text: &str, back: &str) -> Response {
    html(
        status,
        "message.html",
        minijinja::context! { heading, message => text, back },
    )
}

/// 303 See Other to `to`, so the browser follows a form post with a GET.
fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The answer to an `AuthError` that is not the page's own business.
fn failure(e: &AuthError, back: &str) -> Response {
    match e {
        AuthError::Store(StoreError::Unavailable(_)) => {
            let mut r = message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "Tessera cannot reach its store right now.",
                back,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        AuthError::Unauthenticated => see_other("/login?m=expired"),
        AuthError::NotFound => message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such session among yours.",
            back,
        ),
        AuthError::InvalidRequest(detail) => {
            message(StatusCode::BAD_REQUEST, "Not accepted", detail, back)
        }
        other => {
            tracing::error!(error = %other, "page request failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The request could not be completed.",
                back,
            )
        }
    }
}

/// A signed-in browser: the session cookie's token and its live session.
struct PageSession {
    token: OpaqueToken,
    auth: SessionAuth,
}

/// What a request's cookie says about who is there.
enum Visitor {
    SignedIn(PageSession),
    /// No session cookie at all.
    Anonymous,
    /// A cookie whose session has expired or ended.
    Ended,
}

async fn visitor(state: &AppState, headers: &HeaderMap) -> Result<Visitor, AuthError> {
    let name = &state.settings().cookie.name;
    let Some(value) = read_cookie(headers, name) else {
        return Ok(Visitor::Anonymous);
    };
    let Some(token) = OpaqueToken::parse(value) else {
        return Ok(Visitor::Ended);
    };
    let result = state.auth().authenticate_session(&token).await;
    state.verifications().record(Mode::Session, result.is_ok());
    match result {
        Ok(auth) => Ok(Visitor::SignedIn(PageSession { token, auth })),
        Err(AuthError::Unauthenticated) => Ok(Visitor::Ended),
        Err(e) => Err(e),
    }
}

/// To the login page, dropping a dead cookie, with the reason when there is one.
fn to_login(state: &AppState, reason: Option<&str>) -> Response {
    let mut response = see_other(&match reason {
        Some(m) => format!("/login?m={m}"),
        None => "/login".to_owned(),
    });
    if reason.is_some() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, clear_cookie(&state.settings().cookie));
    }
    response
}

/// The fields of the pages' forms; each form sends the ones it has.
#[derive(Deserialize, Default)]
#[serde(default)]
struct FormFields {
    csrf_token: String,
    username: String,
    password: String,
    current_password: String,
    new_password: String,
}

/// Parses a urlencoded form body. Anything else: a refusal page (415, 400), never a 500.
#[allow(clippy::result_large_err)]
fn form(headers: &HeaderMap, body: &Bytes, back: &str) -> Result<FormFields, Response> {
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !urlencoded {
        return Err(message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not accepted",
            "This form must be sent as application/x-www-form-urlencoded.",
            back,
        ));
    }
    serde_urlencoded::from_bytes(body).map_err(|_| {
        message(
            StatusCode::BAD_REQUEST,
            "Not accepted",
            "The form could not be read.",
            back,
        )
    })
}

/// The cross-site rules of the pages' form posts: the API's (no `Sec-Fetch-Site: cross-site`,
/// an allowed `Origin` when one is sent) and stricter, because every response carries
/// `Referrer-Policy: no-referrer` and browsers then send `Origin: null` even on a same-origin
/// form post. So `Sec-Fetch-Site`, when sent, must be `same-origin` (a page on another port of
/// the same host is `same-site`: refused), and `Origin: null` passes only with it. Requests
/// with neither header (not a browser) pass here; a signed-in post still needs its token.
#[allow(clippy::result_large_err)]
fn check_page_post(headers: &HeaderMap, state: &AppState) -> Result<(), Response> {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if fetch_site.is_some_and(|v| !v.eq_ignore_ascii_case(b"same-origin")) {
        return Err(refused("it came from another site"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let opaque_but_same_origin = origin.as_bytes() == b"null" && fetch_site.is_some();
        let allowed = origin.to_str().is_ok_and(|o| state.origin_allowed(o));
        if !allowed && !opaque_but_same_origin {
            return Err(refused("it came from another site"));
        }
    }
    Ok(())
}

/// A refused cross-site or token-less form post.
fn refused(detail: &str) -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Request refused",
        &format!("This form was refused: {detail}. Go back, reload the page and try again."),
        "/account",
    )
}

/// The checks of a signed-in form post, cheapest first: cross-site headers, the form, the
/// session, then the form's CSRF token.
async fn signed_in_post(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(PageSession, FormFields), Response> {
    check_page_post(headers, state)?;
    let fields = form(headers, body, "/account")?;
    let session = match visitor(state, headers).await {
        Ok(Visitor::SignedIn(s)) => s,
        Ok(Visitor::Anonymous) => return Err(to_login(state, None)),
        Ok(Visitor::Ended) => return Err(to_login(state, Some("expired"))),
        Err(e) => return Err(failure(&e, "/account")),
    };
    let expected = csrf_token(&session.token);
    if !tessera_core::secret::constant_time_eq(fields.csrf_token.as_bytes(), expected.as_bytes()) {
        return Err(refused("its security token was missing or wrong"));
    }
    Ok((session, fields))
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let user = match visitor(&state, &headers).await {
        Ok(Visitor::SignedIn(s)) => Some(s.auth.user.username.to_string()),
        _ => None,
    };
    html(StatusCode::OK, "index.html", minijinja::context! { user })
}

/// The query of `/login`: why the visitor was sent there.
#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    m: String,
}

fn login_notice(m: &str) -> Option<&'static str> {
    match m {
        "expired" => Some("Your session has expired or was ended. Please log in again."),
        "logged_out" => Some("You have logged out."),
        "logged_out_everywhere" => Some("You have logged out on every device."),
        _ => None,
    }
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let m = query.map(|Query(q)| q.m).unwrap_or_default();
    match visitor(&state, &headers).await {
        Ok(Visitor::SignedIn(_)) => return see_other("/account"),
        Err(e) => return failure(&e, "/login"),
        Ok(_) => {}
    }
    let notice = login_notice(&m);
    let mut response = html(
        StatusCode::OK,
        "login.html",
        minijinja::context! { notice, username => "" },
    );
    if notice.is_some() {
        response
            .headers_mut()
            .insert("clear-site-data", HeaderValue::from_static("\"cache\""));
    }
    response
}

async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Response {
    if let Err(r) = check_page_post(&headers, &state) {
        return r;
    }
    let fields = match form(&headers, &body, "/login") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let carried = read_cookie(&headers, &state.settings().cookie.name).and_then(OpaqueToken::parse);
    let result = state
        .auth()
        .login(
            &fields.username,
            &fields.password,
            &client,
            carried.as_ref(),
        )
        .await;
    record_login("session", &result);
    let error = match result {
        Ok(new) => {
            let mut response = see_other("/account");
            let cookie = session_cookie(&state.settings().cookie, &new.token.expose());
            response.headers_mut().append(header::SET_COOKIE, cookie);
            return response;
        }
        Err(AuthError::InvalidCredentials | AuthError::InvalidRequest(_)) => (
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".to_owned(),
        ),
        Err(AuthError::TooManyAttempts { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed attempts. Try again in {} seconds.",
                retry_after.as_secs_f64().ceil()
            ),
        ),
        Err(e) => return failure(&e, "/login"),
    };
    html(
        error.0,
        "login.html",
        minijinja::context! { error => error.1, username => fields.username },
    )
}

/// The query of `/account`: what just happened.
#[derive(Deserialize, Default)]
struct AccountQuery {
    #[serde(default)]
    m: String,
}

/// A session as the account page lists it.
#[derive(serde::Serialize)]
struct SessionRow {
    id: String,
    device: String,
    ip: String,
    created_at: String,
    last_seen_at: String,
    current: bool,
}

fn device_label(user_agent: &str) -> String {
    let browser = ["Edg/", "Firefox/", "Chrome/", "Safari/", "curl/"]
        .iter()
        .find(|b| user_agent.contains(*b))
        .map(|b| match *b {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            "Safari/" => "Safari",
            _ => "curl",
        });
    let os = ["Android", "iPhone", "Windows", "Mac OS", "Linux"]
        .iter()
        .find(|o| user_agent.contains(*o))
        .map(|o| if *o == "Mac OS" { "macOS" } else { o });
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        _ if user_agent.is_empty() => "Unknown device".to_owned(),
        _ => user_agent.chars().take(60).collect(),
    }
}

fn short_time(t: tessera_core::Timestamp) -> String {
    // `2026-12-01T09:45:30Z` -> `2026-12-01 09:45 UTC`.
    let s = t.to_rfc3339();
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(hm)) => format!("{d} {hm} UTC"),
        _ => s,
    }
}

async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match visitor(&state, &headers).await {
        Ok(Visitor::SignedIn(s)) => s,
        Ok(Visitor::Anonymous) => return to_login(&state, None),
        Ok(Visitor::Ended) => return to_login(&state, Some("expired")),
        Err(e) => return failure(&e, "/account"),
    };
    let m = query.map(|Query(q)| q.m).unwrap_or_default();
    let notice = match m.as_str() {
        "session_ended" => Some("That session has ended."),
        "password_changed" => Some("Password changed. Every other session has ended."),
        _ => None,
    };
    let sessions = match state.auth().sessions_of(session.auth.session.user_id).await {
        Ok(s) => s,
        Err(e) => return failure(&e, "/account"),
    };
    let rows: Vec<SessionRow> = sessions
        .iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: device_label(&s.user_agent),
            ip: s.ip.clone(),
            created_at: short_time(s.created_at),
            last_seen_at: short_time(if s.id == session.auth.session.id {
                session.auth.seen_at
            } else {
                s.last_seen_at
            }),
            current: s.id == session.auth.session.id,
        })
        .collect();
    html(
        StatusCode::OK,
        "account.html",
        minijinja::context! {
            user => session.auth.user.username.to_string(),
            csrf_token => csrf_token(&session.token),
            sessions => rows,
            notice,
        },
    )
}

/// After the browser's own session ended: the cookie cleared, then on to the login page.
///
/// Not a redirect but a small page that moves on by `<meta http-equiv="refresh">` (no script):
/// the account page has then entered the browser's back/forward cache, so the login page's
/// `Clear-Site-Data: "cache"` (see [`login_page`]) evicts it, and the back button cannot bring
/// the account page back from memory.
fn signed_out(state: &AppState, reason: &str) -> Response {
    let to = format!("/login?m={reason}");
    let mut response = html(
        StatusCode::OK,
        "moving.html",
        minijinja::context! { to, heading => "Logged out" },
    );
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, clear_cookie(&state.settings().cookie));
    headers.insert(
        "clear-site-data",
        HeaderValue::from_static("\"cache\", \"cookies\""),
    );
    response
}

async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Bytes,
) -> Response {
    let (session, _) = match signed_in_post(&state, &headers, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(id) = id.ok().and_then(|Path(id)| id.parse::<SessionId>().ok()) else {
        return failure(&AuthError::NotFound, "/account");
    };
    let current = &session.auth.session;
    match state.auth().end_session(current.user_id, id).await {
        Ok(_) if id == current.id => signed_out(&state, "logged_out"),
        Ok(_) => see_other("/account?m=session_ended"),
        Err(e) => failure(&e, "/account"),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (session, _) = match signed_in_post(&state, &headers, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.auth().end_this_session(&session.auth.session).await {
        Ok(()) => signed_out(&state, "logged_out"),
        Err(e) => failure(&e, "/account"),
    }
}

async fn logout_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, _) = match signed_in_post(&state, &headers, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state
        .auth()
        .end_sessions(session.auth.session.user_id, None)
        .await
    {
        Ok(()) => signed_out(&state, "logged_out_everywhere"),
        Err(e) => failure(&e, "/account"),
    }
}

async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Response {
    let (session, fields) = match signed_in_post(&state, &headers, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = state
        .auth()
        .change_password(
            &session.auth.user,
            &fields.current_password,
            &fields.new_password,
            Some(&session.auth.session.id.to_string()),
            &client.address,
        )
        .await;
    let error = match result {
        Ok(()) => return see_other("/account?m=password_changed"),
        Err(AuthError::InvalidCredentials) => "The current password is wrong.".to_owned(),
        Err(AuthError::InvalidRequest(detail)) => format!("Not changed: {detail}."),
        Err(AuthError::TooManyAttempts { .. }) => {
            "Too many failed attempts. Try again later.".to_owned()
        }
        Err(e) => return failure(&e, "/account"),
    };
    let status = StatusCode::BAD_REQUEST;
    message(status, "Password not changed", &error, "/account")
}

async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_escapes() {
        let r = templates()
            .get_template("login.html")
            .unwrap()
            .render(minijinja::context! { username => "<script>x</script>", error => "e" })
            .unwrap();
        assert!(r.contains("&lt;script&gt;"), "{r}");
        assert!(!r.contains("<script>"), "{r}");
        assert!(!r.contains("style="), "no inline style: {r}");
        for name in ["index.html", "account.html", "message.html"] {
            templates()
                .get_template(name)
                .unwrap()
                .render(minijinja::context! { sessions => Vec::<String>::new() })
                .unwrap();
        }
    }

    #[test]
    fn devices_are_named_from_their_user_agent() {
        assert_eq!(
            device_label(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/148.0 Safari/537.36"
            ),
            "Chrome on Linux"
        );
        assert_eq!(device_label(""), "Unknown device");
        assert_eq!(device_label("curl/7.88.1"), "curl");
    }
}
