//! The banking site of the articles, as the reference app behind Tessera: a login page, an
//! accounts overview, a transaction history per account, a devices page (the user's sessions,
//! a revoke button each, log out everywhere) and logout. Server-rendered HTML (minijinja), no
//! JavaScript, a strict CSP.
//!
//! Protected by session cookies checked through [`tessera_guard`]: the login form's password
//! goes to Tessera (`POST /v1/sessions`, `"cookie": false`), and the session token Tessera
//! returns becomes the bank's own HttpOnly cookie, which the guard checks by introspection with
//! the bank's app key (and forgets within a second of a revocation, through the feed). The
//! devices page speaks to Tessera's `/v1/sessions` with that same token as a bearer.
//!
//! Seed data: two users, `alice` and `bob`, each with their own accounts. An account id of
//! another user, or of nothing, is 404 with no data.
#![deny(missing_docs)]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use tessera_guard::{Guard, GuardError, Source};

/// The bank's session cookie (it holds the Tessera session token).
pub const COOKIE: &str = "__Host-bank-sid";

const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// How requests prove who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// The bank's own cookie holding a Tessera session token, checked by introspection.
    Session,
    /// Behind nginx `auth_request` (`deploy/nginx/auth-request.conf`): only the JWT Tessera's
    /// forward auth minted (`X-Auth-Token`, audience `upstream`), verified locally. Logging in,
    /// devices and logging out are Tessera's own pages on the same origin.
    ForwardAuth,
    /// A JSON API for mobile-style clients: only `Authorization: Bearer <JWT>` (hybrid tokens
    /// from `/v1/tokens/exchange`, or `/v1/tokens`), verified locally; see [`client`].
    Jwt,
}

pub mod client;

/// How the bank reaches Tessera.
#[derive(Clone, Debug)]
pub struct BankConfig {
    /// How requests are authenticated.
    pub protection: Protection,
    /// Tessera's base URL, e.g. `http://127.0.0.1:8080`.
    pub tessera_url: String,
    /// One of Tessera's `apps.keys`: grants the revocation feed and introspection.
    pub app_key: String,
}

/// One transaction.
#[derive(Clone, Debug, Serialize)]
pub struct Transaction {
    /// `YYYY-MM-DD`.
    pub date: &'static str,
    /// What it was.
    pub description: &'static str,
    /// Signed, formatted (`-42.10`).
    pub amount: &'static str,
}

/// One account of one user.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// The id in its URL.
    pub id: &'static str,
    /// Its owner's username.
    #[serde(skip)]
    pub owner: &'static str,
    /// "Checking", "Savings".
    pub name: &'static str,
    /// The account number shown.
    pub number: &'static str,
    /// Formatted balance.
    pub balance: &'static str,
    /// Newest first.
    pub transactions: Vec<Transaction>,
}

fn tx(date: &'static str, description: &'static str, amount: &'static str) -> Transaction {
    Transaction {
        date,
        description,
        amount,
    }
}

/// The seed data: alice has a checking and a savings account, bob a checking account.
pub fn seed() -> Vec<Account> {
    vec![
        Account {
            id: "a7c1f2",
            owner: "alice",
            name: "Alice's Checking",
            number: "NL91 TESS 0417 1643 00",
            balance: "€ 1,240.50",
            transactions: vec![
                tx("2026-11-28", "Grocery store", "-82.35"),
                tx("2026-11-25", "Salary November", "+3,100.00"),
                tx("2026-11-20", "Rent", "-1,450.00"),
            ],
        },
        Account {
            id: "a7c1f3",
            owner: "alice",
            name: "Alice's Savings",
            number: "NL91 TESS 0417 1643 01",
            balance: "€ 8,000.00",
            transactions: vec![tx("2026-11-01", "Monthly saving", "+500.00")],
        },
        Account {
            id: "b93e40",
            owner: "bob",
            name: "Bob's Checking",
            number: "NL20 TESS 0532 0111 00",
            balance: "€ 310.00",
            transactions: vec![
                tx("2026-11-27", "Bicycle repair", "-45.00"),
                tx("2026-11-26", "Salary November", "+2,400.00"),
            ],
        },
    ]
}

#[derive(Clone)]
struct AppState {
    /// User id to username, learnt once per user by introspecting a verified JWT (which
    /// carries only the id): the seed data is keyed by username.
    usernames: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    app_key: String,
    protection: Protection,
    guard: Guard,
    http: reqwest::Client,
    tessera: String,
    accounts: Arc<Vec<Account>>,
}

/// The bank's router, its guard started (JWKS fetched, feed followed).
///
/// # Errors
/// The guard cannot reach Tessera.
pub async fn app(config: BankConfig) -> Result<Router, GuardError> {
    let builder = Guard::builder(&config.tessera_url).app_key(&config.app_key);
    let guard = match config.protection {
        Protection::Session => builder.cookie_name(COOKIE).sources(&[Source::Cookie]),
        Protection::ForwardAuth => builder
            .forward_auth("upstream")
            .sources(&[Source::ForwardAuth]),
        Protection::Jwt => builder.sources(&[Source::Bearer]),
    }
    .build()
    .await?;
    let state = AppState {
        usernames: Arc::default(),
        app_key: config.app_key.clone(),
        protection: config.protection,
        guard,
        http: reqwest::Client::new(),
        tessera: config.tessera_url.trim_end_matches('/').to_owned(),
        accounts: Arc::new(seed()),
    };
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/accounts", get(accounts_page))
        .route("/accounts/{id}", get(account_page))
        .route("/devices", get(devices_page))
        .route("/devices/{id}/revoke", post(revoke_device))
        .route("/devices/logout-everywhere", post(logout_everywhere))
        .route("/logout", post(logout))
        .route("/assets/bank.css", get(stylesheet))
        .route("/api/accounts", get(api_accounts))
        .route("/api/accounts/{id}", get(api_account))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(state))
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("accounts.html", include_str!("templates/accounts.html")),
            ("account.html", include_str!("templates/account.html")),
            ("devices.html", include_str!("templates/devices.html")),
            ("message.html", include_str!("templates/message.html")),
            ("moving.html", include_str!("templates/moving.html")),
        ] {
            env.add_template(name, source)
                .expect("the built-in templates parse");
        }
        env
    })
}

fn html(status: StatusCode, name: &str, context: minijinja::Value) -> Response {
    let body = templates()
        .get_template(name)
        .and_then(|t| t.render(context))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "template failed");
            "<!doctype html><title>Bank</title><p>This page could not be shown.".to_owned()
        });
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn message(status: StatusCode, heading: &str, text: &str, back: &str) -> Response {
    html(
        status,
        "message.html",
        minijinja::context! { heading, message => text, back },
    )
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-bank-sid=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

fn read_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The CSRF token of the bank's forms: derived from the session token, so it needs no storage
/// and nobody without the cookie can compute it.
fn csrf_token(session_token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("bank-csrf-v1:{session_token}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A signed-in visitor: the guard's user and the session token of the cookie.
struct Visitor {
    username: String,
    token: String,
}

/// Who is there, per the guard; a response (to the login page, a 503) otherwise.
#[allow(clippy::result_large_err)]
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Visitor, Response> {
    let token = match state.protection {
        Protection::Session => match read_cookie(headers) {
            Some(token) => token.to_owned(),
            None => return Err(see_other("/login")),
        },
        // No token of the bank's own: its forms are Tessera's pages, or there are none.
        Protection::ForwardAuth | Protection::Jwt => String::new(),
    };
    match state.guard.authenticate(headers).await {
        Ok(user) => {
            let username = match user.username {
                Some(name) => name,
                None => username_of(state, &user.id, tessera_cookie(headers)).await?,
            };
            Ok(Visitor { username, token })
        }
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            let mut r = see_other("/login?m=expired");
            if state.protection == Protection::Session {
                r.headers_mut().append(header::SET_COOKIE, clear_cookie());
            }
            Err(r)
        }
        Err(e) => {
            tracing::warn!(status = %e.status(), "guard refused");
            Err(message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The bank cannot check your session right now.",
                "/accounts",
            ))
        }
    }
}

/// Tessera's session cookie, seen by the bank behind nginx (same origin).
const TESSERA_COOKIE: &str = "__Host-sid";

/// The minted JWT's audience is the upstream's, not Tessera's, so Tessera does not introspect
/// it; the session it was minted from (Tessera's cookie, which nginx passes on) names the
/// user, and counts only when its `sub` is the JWT's.
fn tessera_cookie(headers: &HeaderMap) -> &str {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == TESSERA_COOKIE)
        .map_or("", |(_, v)| v)
}

/// The username of the user `id` whose JWT (already verified by the guard) is in
/// `X-Auth-Token`: from the cache, else from Tessera's introspection with the app key.
#[allow(clippy::result_large_err)]
async fn username_of(state: &AppState, id: &str, token: &str) -> Result<String, Response> {
    if let Some(name) = state.usernames.lock().ok().and_then(|m| m.get(id).cloned()) {
        return Ok(name);
    }
    let unavailable = || {
        message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            "The bank cannot check your session right now.",
            "/accounts",
        )
    };
    let reply = state
        .http
        .post(format!("{}/v1/tokens/introspect", state.tessera))
        .bearer_auth(&state.app_key)
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .map_err(|_| unavailable())?;
    let body: serde_json::Value = reply.json().await.map_err(|_| unavailable())?;
    match (body["sub"].as_str(), body["username"].as_str()) {
        (Some(sub), Some(name)) if sub == id => {
            if let Ok(mut m) = state.usernames.lock() {
                m.insert(id.to_owned(), name.to_owned());
            }
            Ok(name.to_owned())
        }
        _ => Err(see_other("/login?m=expired")),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Fields {
    csrf_token: String,
    username: String,
    password: String,
}

/// Cross-site rules of every form post: `Sec-Fetch-Site`, when sent, must be `same-origin`,
/// and an `Origin`, when sent, must be the bank's own (`Host`); then the body must be a form.
#[allow(clippy::result_large_err)]
fn form_post(headers: &HeaderMap, body: &Bytes) -> Result<Fields, Response> {
    let refused = || {
        message(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form was refused: it came from another site.",
            "/accounts",
        )
    };
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"same-origin"))
    {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(|h| h.as_bytes());
        let own = host.is_some_and(|h| {
            origin.as_bytes().strip_prefix(b"http://") == Some(h)
                || origin.as_bytes().strip_prefix(b"https://") == Some(h)
        });
        if !own {
            return Err(refused());
        }
    }
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !urlencoded {
        return Err(message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not accepted",
            "Forms must be sent as application/x-www-form-urlencoded.",
            "/accounts",
        ));
    }
    serde_urlencoded::from_bytes(body).map_err(|_| {
        message(
            StatusCode::BAD_REQUEST,
            "Not accepted",
            "The form could not be read.",
            "/accounts",
        )
    })
}

/// A signed-in form post: the cross-site rules, the session, then the CSRF field.
#[allow(clippy::result_large_err)]
async fn signed_in_post(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Visitor, Response> {
    let fields = form_post(headers, body)?;
    let visitor = signed_in(state, headers).await?;
    let expected = csrf_token(&visitor.token);
    if fields.csrf_token.len() != expected.len()
        || !fields
            .csrf_token
            .bytes()
            .zip(expected.bytes())
            .fold(true, |ok, (a, b)| ok & (a == b))
    {
        return Err(message(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form was refused: its security token was missing or wrong.",
            "/accounts",
        ));
    }
    Ok(visitor)
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok(_) => see_other("/accounts"),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    m: String,
}

async fn login_page(
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let m = query.map(|Query(q)| q.m).unwrap_or_default();
    let notice = match m.as_str() {
        "expired" => Some("Your session has expired or was ended. Please log in again."),
        "logged_out" => Some("You have logged out."),
        "logged_out_everywhere" => Some("You have logged out on every device."),
        _ => None,
    };
    let mut r = html(
        StatusCode::OK,
        "login.html",
        minijinja::context! { notice, username => "" },
    );
    if notice.is_some() {
        // Evicts the pages of the signed-in session from the back/forward cache.
        r.headers_mut()
            .insert("clear-site-data", HeaderValue::from_static("\"cache\""));
    }
    r
}

#[derive(Deserialize)]
struct TesseraLogin {
    token: String,
}

async fn login_submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_post(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let reply = state
        .http
        .post(format!("{}/v1/sessions", state.tessera))
        .header(header::USER_AGENT, user_agent)
        .json(&serde_json::json!({
            "username": fields.username, "password": fields.password, "cookie": false,
        }))
        .send()
        .await;
    let error = match reply {
        Ok(r) if r.status() == StatusCode::CREATED => match r.json::<TesseraLogin>().await {
            Ok(login) => {
                let mut response = see_other("/accounts");
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, cookie(&login.token));
                return response;
            }
            Err(_) => (StatusCode::BAD_GATEWAY, "Tessera answered oddly."),
        },
        Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Try again later.",
        ),
        Ok(r) if r.status().is_client_error() => {
            (StatusCode::UNAUTHORIZED, "Wrong username or password.")
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The bank cannot reach its login service right now.",
        ),
    };
    html(
        error.0,
        "login.html",
        minijinja::context! { error => error.1, username => fields.username },
    )
}

async fn accounts_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let visitor = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let own = owned(&state, &visitor.username);
    html(
        StatusCode::OK,
        "accounts.html",
        minijinja::context! {
            user => visitor.username, accounts => own, csrf_token => csrf_token(&visitor.token),
            forward_auth => state.protection == Protection::ForwardAuth,
        },
    )
}

async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let visitor = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = id.map(|Path(id)| id).unwrap_or_default();
    // Another user's account and no account at all look the same: 404, nothing of the data.
    match owned_account(&state, &visitor.username, &id) {
        Some(account) => html(
            StatusCode::OK,
            "account.html",
            minijinja::context! { user => visitor.username, account },
        ),
        None => message(
            StatusCode::NOT_FOUND,
            "Account not found",
            "There is no such account among yours.",
            "/accounts",
        ),
    }
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<SessionSummary>,
}

#[derive(Deserialize, Serialize)]
struct SessionSummary {
    id: String,
    created_at: String,
    user_agent: String,
    ip: String,
    current: bool,
    #[serde(default)]
    device: String,
}

fn device_label(ua: &str) -> String {
    let browser = if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.is_empty() {
        return "Unknown device".to_owned();
    } else {
        return ua.chars().take(60).collect();
    };
    let os = ["Android", "iPhone", "Windows", "Mac OS", "Linux"]
        .into_iter()
        .find(|o| ua.contains(o));
    match os {
        Some(o) => format!("{browser} on {o}"),
        None => browser.to_owned(),
    }
}

async fn devices_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let visitor = match signed_in(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if state.protection == Protection::ForwardAuth {
        // Behind nginx, Tessera's account page on this origin lists and ends the sessions.
        return see_other("/account");
    }
    let reply = state
        .http
        .get(format!("{}/v1/sessions", state.tessera))
        .bearer_auth(&visitor.token)
        .send()
        .await;
    let mut list = match reply {
        Ok(r) if r.status().is_success() => match r.json::<SessionList>().await {
            Ok(l) => l.sessions,
            Err(_) => Vec::new(),
        },
        Ok(r) if r.status() == StatusCode::UNAUTHORIZED => return see_other("/login?m=expired"),
        _ => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The bank cannot list your devices right now.",
                "/accounts",
            );
        }
    };
    for s in &mut list {
        s.device = device_label(&s.user_agent);
        s.created_at = s.created_at.replace('T', " ").replace('Z', " UTC");
    }
    html(
        StatusCode::OK,
        "devices.html",
        minijinja::context! {
            user => visitor.username, sessions => list, csrf_token => csrf_token(&visitor.token),
        },
    )
}

/// Calls Tessera with the visitor's session token as a bearer; whether it answered 2xx.
async fn tessera_delete(state: &AppState, token: &str, path: &str) -> Result<(), Response> {
    let reply = state
        .http
        .delete(format!("{}{path}", state.tessera))
        .bearer_auth(token)
        .send()
        .await;
    match reply {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status() == StatusCode::NOT_FOUND => Err(message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such device among yours.",
            "/devices",
        )),
        _ => Err(message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            "The bank cannot reach its login service right now.",
            "/devices",
        )),
    }
}

fn signed_out(reason: &str) -> Response {
    let to = format!("/login?m={reason}");
    let mut r = html(
        StatusCode::OK,
        "moving.html",
        minijinja::context! { to, heading => "Logged out" },
    );
    r.headers_mut().append(header::SET_COOKIE, clear_cookie());
    r.headers_mut().insert(
        "clear-site-data",
        HeaderValue::from_static("\"cache\", \"cookies\""),
    );
    r
}

async fn revoke_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Bytes,
) -> Response {
    let visitor = match signed_in_post(&state, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = id.map(|Path(id)| id).unwrap_or_default();
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such device among yours.",
            "/devices",
        );
    }
    match tessera_delete(&state, &visitor.token, &format!("/v1/sessions/{id}")).await {
        Ok(()) => see_other("/devices"),
        Err(r) => r,
    }
}

async fn logout_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let visitor = match signed_in_post(&state, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match tessera_delete(&state, &visitor.token, "/v1/sessions").await {
        Ok(()) => signed_out("logged_out_everywhere"),
        Err(r) => r,
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let visitor = match signed_in_post(&state, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match tessera_delete(&state, &visitor.token, "/v1/sessions/current").await {
        Ok(()) => signed_out("logged_out"),
        Err(r) => r,
    }
}

async fn stylesheet() -> Response {
    let mut r = include_str!("templates/bank.css").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page.",
        "/accounts",
    )
}

/// A JSON problem for the API variant.
fn problem(status: StatusCode, code: &str) -> Response {
    let mut r = (
        status,
        serde_json::json!({"status": status.as_u16(), "code": code}).to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The API's caller's username: a JWT the guard verified (locally, revocations from the
/// feed), its user named once by Tessera's introspection of that same token.
async fn api_owner(state: &AppState, headers: &HeaderMap) -> Result<String, Response> {
    if state.protection != Protection::Jwt {
        return Err(problem(StatusCode::NOT_FOUND, "not_found"));
    }
    let user = state
        .guard
        .authenticate(headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    username_of(state, &user.id, bearer)
        .await
        .map_err(|_| problem(StatusCode::UNAUTHORIZED, "invalid_token"))
}

/// The accounts `username` owns.
fn owned<'a>(state: &'a AppState, username: &str) -> Vec<&'a Account> {
    state
        .accounts
        .iter()
        .filter(|a| a.owner == username)
        .collect()
}

/// The account `id` when `username` owns it; another user's account is as absent as none.
fn owned_account<'a>(state: &'a AppState, username: &str, id: &str) -> Option<&'a Account> {
    owned(state, username).into_iter().find(|a| a.id == id)
}

async fn api_accounts(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match api_owner(&state, &headers).await {
        Ok(id) => axum::Json(serde_json::json!({ "accounts": owned(&state, &id) })).into_response(),
        Err(r) => r,
    }
}

async fn api_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let user = match api_owner(&state, &headers).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let id = id.map(|Path(id)| id).unwrap_or_default();
    match owned_account(&state, &user, &id) {
        Some(a) => axum::Json(a).into_response(),
        None => problem(StatusCode::NOT_FOUND, "not_found"),
    }
}
