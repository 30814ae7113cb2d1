//! A Tessera server on 127.0.0.1 with a fresh data dir and a clock the test moves, and a tiny
//! HTTP client that carries cookies by hand (Secure `__Host-` cookies over loopback HTTP).

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera_core::{ManualClock, Timestamp};
use tessera_server::{Config, Overrides, RunningServer};

pub const PASSWORD: &str = "correct horse battery";
pub const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";

pub struct TestServer {
    pub url: String,
    pub clock: ManualClock,
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the default configuration plus `env` (as `TESSERA_*` variables).
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, env).await
    }

    pub async fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let clock = ManualClock::new(Timestamp::from_secs(1_800_000_000));
        let config = config(&dir, env);
        let server = RunningServer::start(&config, Arc::new(clock.clone()))
            .await
            .expect("server starts");
        let url = format!("http://{}", server.addr);
        Self {
            url,
            clock,
            server: Some(server),
            dir,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// Registers `name` with [`PASSWORD`].
    pub async fn register(&self, name: &str) -> Value {
        let r = self
            .client()
            .post(
                "/v1/users",
                serde_json::json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body
    }

    /// A client logged in as `name` by cookie.
    pub async fn login(&self, name: &str) -> Client {
        let mut c = self.client();
        let r = c
            .post(
                "/v1/sessions",
                serde_json::json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        c.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        c
    }

    /// A `/v1/tokens` login of `name` with [`PASSWORD`]: the access and refresh tokens.
    pub async fn tokens(&self, name: &str) -> Value {
        let r = self
            .client()
            .post(
                "/v1/tokens",
                serde_json::json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body
    }

    /// A JWT access token of a `/v1/tokens` login of `name`.
    pub async fn access_token(&self, name: &str) -> String {
        let tokens = self.tokens(name).await;
        tokens["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// A bearer session token for `name`.
    pub async fn bearer_login(&self, name: &str) -> String {
        let r = self
            .client()
            .post(
                "/v1/sessions",
                serde_json::json!({"username": name, "password": PASSWORD, "cookie": false}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["token"].as_str().expect("token in body").to_owned()
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }
}

pub fn config(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> Config {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Overrides::default()
    };
    Config::load(None, env, &overrides).expect("valid test configuration")
}

/// One response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }

    /// Asserts that `other` cannot be told apart from this reply: the same status, body and
    /// headers (but `Date`, which is the second it was sent).
    pub fn assert_indistinguishable_from(&self, other: &Reply) {
        assert_eq!(self.status, other.status);
        assert_eq!(self.text, other.text);
        let headers = |r: &Reply| {
            let mut all: Vec<(String, Vec<u8>)> = r
                .headers
                .iter()
                .filter(|(name, _)| *name != reqwest::header::DATE)
                .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
                .collect();
            all.sort();
            all
        };
        assert_eq!(headers(self), headers(other));
    }

    /// Asserts a problem+json error with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        assert!(
            self.header("content-type")
                .starts_with("application/problem+json"),
            "{:?}",
            self.headers
        );
    }
}

/// A client with a hand-held cookie jar and the session's CSRF token.
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            csrf: None,
            bearer: None,
        }
    }

    pub fn with_bearer(base: &str, token: &str) -> Self {
        let mut c = Self::new(base);
        c.bearer = Some(token.to_owned());
        c
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(token) = &self.bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if let Some(csrf) = &self.csrf
            && method != Method::GET
        {
            req = req.header("x-csrf-token", csrf);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let reply = Reply::from(resp).await;
        for cookie in reply.set_cookies() {
            let pair = cookie.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() || cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn delete(&mut self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }
}

/// A raw request with full control of headers and body.
pub async fn raw(
    url: &str,
    method: Method,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut req = reqwest::Client::new().request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    Reply::from(req.send().await.expect("request")).await
}
