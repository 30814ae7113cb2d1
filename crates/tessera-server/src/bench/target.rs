//! What the bench measures: an in-process server over a temporary data dir, or a running
//! deployment by URL; the throwaway user it creates there and removes afterwards; and the few
//! HTTP calls of the setup (the load itself goes through [`super::load`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use tessera_core::{Clock, OpaqueToken, Timestamp, UserId};

use super::floor::{self, FloorKey};
use crate::{Config, Overrides, RunningServer};

/// The system clock plus an offset the bench moves to test expiry without waiting.
#[derive(Clone, Debug, Default)]
pub struct OffsetClock(Arc<AtomicI64>);

impl OffsetClock {
    /// Puts the clock `by` ahead of the system's.
    pub fn set_ahead(&self, by: Duration) {
        self.0.store(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(Timestamp::now().as_millis() + self.0.load(Ordering::SeqCst))
    }
}

/// An in-process server the bench started.
pub struct Local {
    /// The server.
    pub server: RunningServer,
    /// Its clock.
    pub clock: OffsetClock,
    /// Its configuration.
    pub config: Config,
    /// Its data dir, removed on drop.
    pub dir: tempfile::TempDir,
    /// The key of its floor route ([`super::floor`]).
    pub floor_key: FloorKey,
}

/// One server the bench talks to.
pub struct Target {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// The resolved address, for the load generator.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    /// Set when the bench started this server itself.
    pub local: Option<Local>,
    http: reqwest::Client,
}

/// One answer of a setup call.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when it is not).
    pub body: Value,
    /// Bytes as received: status line, headers and body.
    pub wire_bytes: u64,
}

impl Reply {
    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// The problem+json `code`.
    pub fn code(&self) -> &str {
        self.field("code").unwrap_or("")
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()?)
}

impl Target {
    /// Starts a server in this process on 127.0.0.1 over a new temporary data dir, signing
    /// with `algorithm`, with the floor route beside the API.
    ///
    /// # Errors
    /// When the server cannot start.
    pub async fn start_local(algorithm: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tessera-bench-")
            .tempdir()
            .context("cannot create a temporary data dir")?;
        let env = [
            ("TESSERA_TOKEN_ALGORITHM".to_owned(), algorithm.to_owned()),
            ("TESSERA_INSTANCE_NAME".to_owned(), String::new()),
        ];
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Overrides::default()
        };
        let config = Config::load(None, env, &overrides)?;
        let clock = OffsetClock::default();
        let floor_key = FloorKey::default();
        let server = RunningServer::start_with_routes(
            &config,
            Arc::new(clock.clone()),
            floor::routes(floor_key.clone()),
        )
        .await?;
        let addr = server.addr;
        Ok(Self {
            base: format!("http://{addr}"),
            addr,
            host: addr.to_string(),
            local: Some(Local {
                server,
                clock,
                config,
                dir,
                floor_key,
            }),
            http: client()?,
        })
    }

    /// A running deployment at `url` (`http://host:port`), checked to answer like Tessera.
    ///
    /// # Errors
    /// When the URL is not plain HTTP, cannot be reached, or does not answer like Tessera.
    pub async fn remote(url: &str) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        let Some(hostport) = base.strip_prefix("http://") else {
            bail!(
                "{url}: only http:// URLs are supported (the load generator speaks plain HTTP/1.1)"
            );
        };
        if hostport.is_empty() || hostport.contains('/') {
            bail!("{url}: give the server's root URL, like http://127.0.0.1:8080");
        }
        let with_port = if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            hostport.to_owned()
        } else {
            format!("{hostport}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .with_context(|| format!("cannot resolve {url}"))?
            .next()
            .ok_or_else(|| anyhow!("cannot resolve {url}"))?;
        let target = Self {
            host: hostport.to_owned(),
            base,
            addr,
            local: None,
            http: client()?,
        };
        target.check_is_tessera(url).await?;
        Ok(target)
    }

    async fn check_is_tessera(&self, url: &str) -> anyhow::Result<()> {
        let health = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach {url}: {}", reach_error(&e)))?;
        let not_tessera = || {
            anyhow!(
                "{url} does not answer like a Tessera server (GET /healthz, /v1/me and /.well-known/jwks.json)"
            )
        };
        if !health.status().is_success() {
            return Err(not_tessera());
        }
        let me = self.get("/v1/me", None).await.map_err(|_| not_tessera())?;
        let jwks = self
            .get("/.well-known/jwks.json", None)
            .await
            .map_err(|_| not_tessera())?;
        if me.status != 401 || me.code() != "unauthenticated" || !jwks.body["keys"].is_array() {
            return Err(not_tessera());
        }
        Ok(())
    }

    /// The in-process server's clock, when the bench started it.
    pub fn clock(&self) -> Option<&OffsetClock> {
        self.local.as_ref().map(|l| &l.clock)
    }

    /// `GET path` with an optional `(header, value)` credential.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn get(&self, path: &str, credential: Option<(&str, &str)>) -> anyhow::Result<Reply> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some((name, value)) = credential {
            req = req.header(name, value);
        }
        reply(req).await
    }

    /// The body of `GET path` as text, when it answers 200.
    pub async fn text(&self, path: &str) -> Option<String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    }

    /// A request with a JSON body and optional headers.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        reply(req).await
    }

    /// `POST path` with a JSON body.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        self.send(reqwest::Method::POST, path, Some(body), headers)
            .await
    }
}

/// Why a request did not get an answer, without the URL's query or any header.
fn reach_error(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "connection refused or unreachable"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "the request failed"
    }
}

async fn reply(req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
    let response = req
        .send()
        .await
        .map_err(|e| anyhow!("{}", reach_error(&e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| anyhow!("{}", reach_error(&e)))?;
    let status_line = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum();
    Ok(Reply {
        status: status.as_u16(),
        wire_bytes: (status_line.len() + header_bytes + 2 + body.len()) as u64,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
    })
}

/// The bench's own account on a target: a random name and password, never printed.
pub struct BenchUser {
    /// The username (`bench-` and random hex).
    pub name: String,
    /// The password.
    pub password: String,
    /// Its id.
    pub id: UserId,
}

impl BenchUser {
    /// Registers a new throwaway user on `target`.
    ///
    /// # Errors
    /// When signup is off, or the server refuses or fails.
    pub async fn register(target: &Target, url: &str) -> anyhow::Result<Self> {
        let name = format!(
            "bench-{}",
            &hex(&OpaqueToken::generate().secret_bytes()[..6])
        );
        let password = OpaqueToken::generate().expose();
        let r = target
            .post(
                "/v1/users",
                &json!({"username": name, "password": password}),
                &[],
            )
            .await
            .with_context(|| format!("cannot register the bench user on {url}"))?;
        match (r.status, r.code()) {
            (201, _) => {}
            (403, "signup_disabled") => bail!(
                "{url} has signup disabled, and the API cannot create users any other way: \
                 open signup for the run (TESSERA_SIGNUP=true) or run `tessera bench` without --url"
            ),
            (status, code) => bail!("{url} refused the bench user's signup: {status} {code}"),
        }
        let id = r
            .field("id")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| anyhow!("{url}: the signup answer has no user id"))?;
        Ok(Self { name, password, id })
    }

    /// The login body.
    pub fn login(&self, cookie: bool) -> Value {
        json!({"username": self.name, "password": self.password, "cookie": cookie})
    }

    /// The `/v1/tokens` body.
    pub fn credentials(&self) -> Value {
        json!({"username": self.name, "password": self.password})
    }

    /// Removes the user and everything of it: in process from the store; by URL with
    /// `DELETE /v1/me` (its password proved again), else with the admin key's
    /// `DELETE /v1/admin/users/{id}`. Every session and family of the user ends with it.
    /// Returns a note for the operator when the user could not be removed.
    pub async fn remove(&self, target: &Target, admin_key: Option<&str>) -> Option<String> {
        if let Some(local) = &target.local {
            return match local.server.auth.delete_user(self.id).await {
                Ok(()) => None,
                Err(e) => Some(format!("could not remove the bench user: {e}")),
            };
        }
        if self.delete_itself(target).await {
            return None;
        }
        if let Some(key) = admin_key {
            let removed = target
                .send(
                    reqwest::Method::DELETE,
                    &format!("/v1/admin/users/{}", self.id),
                    None,
                    &[("authorization", &format!("Bearer {key}"))],
                )
                .await;
            if removed.is_ok_and(|r| r.status == 204) {
                return None;
            }
        }
        Some(format!(
            "could not remove the bench user {} from {}: remove it with `tessera user remove {}`",
            self.name, target.base, self.name
        ))
    }

    /// Logs in once more and deletes the account with `DELETE /v1/me`; whether it is gone.
    async fn delete_itself(&self, target: &Target) -> bool {
        let Ok(login) = target.post("/v1/sessions", &self.login(false), &[]).await else {
            return false;
        };
        let Some(token) = login.field("token") else {
            return false;
        };
        let deleted = target
            .send(
                reqwest::Method::DELETE,
                "/v1/me",
                Some(&json!({"password": self.password})),
                &[("authorization", &format!("Bearer {token}"))],
            )
            .await;
        deleted.is_ok_and(|r| r.status == 204)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
