//! The real `tessera` binary, as an operator runs it: zero-config start-up, durability across
//! `kill -9`, the `user` subcommands against a running server's data dir, start-up refusals and
//! configuration precedence.
//!
//! Every child runs in a temp cwd with the inherited `TESSERA_*` variables removed, and is killed
//! by [`Running`]'s `Drop` when a test fails. Readiness is the `listening on` line on stdout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{BIN, Running, finish, tessera};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
/// How long a refused start-up may take to exit.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(20);
/// How long a change made by the CLI may take to reach a running server (its caches trust an
/// entry for 2 s).
const CACHE_DEADLINE: Duration = Duration::from_secs(10);

struct Http {
    base: String,
    http: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    body: Value,
    text: String,
}

impl Http {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send(reqwest::Method::GET, path, bearer, None).await
    }

    async fn register(&self, name: &str) {
        let r = self
            .send(
                reqwest::Method::POST,
                "/v1/users",
                None,
                Some(json!({"username": name, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }

    /// A `"cookie": false` login.
    async fn login(&self, name: &str, password: &str) -> Reply {
        let body = json!({"username": name, "password": password, "cookie": false});
        self.send(reqwest::Method::POST, "/v1/sessions", None, Some(body))
            .await
    }

    /// A bearer session token for `name`.
    async fn bearer(&self, name: &str, password: &str) -> String {
        let r = self.login(name, password).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["token"].as_str().expect("token in body").to_owned()
    }
}

fn rfc3339(value: &Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(value.as_str().expect("a time string")).expect("an RFC 3339 time")
}

fn seconds_between(session: &Value, from: &str, to: &str) -> u64 {
    let from = rfc3339(&session[from]);
    rfc3339(&session[to])
        .duration_since(from)
        .expect("deadline after creation")
        .as_secs()
}

/// Logs `name` in with a bearer token and returns the session's idle window: `idle_expires_at`
/// minus `created_at`, exactly as the login reports it, after checking that
/// `GET /v1/sessions/current` agrees (its idle deadline counts from that request, at most the
/// time since login later).
async fn idle_window(http: &Http, name: &str) -> u64 {
    let login = http.login(name, PASSWORD).await;
    let since_login = Instant::now();
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.text);
    let window = seconds_between(&login.body["session"], "created_at", "idle_expires_at");
    let token = login.body["token"].as_str().expect("token in body");
    let r = http.get("/v1/sessions/current", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["session"]["created_at"],
        login.body["session"]["created_at"]
    );
    let current = seconds_between(&r.body["session"], "created_at", "idle_expires_at");
    let slack = since_login.elapsed().as_secs() + 1;
    assert!(
        (window..=window + slack).contains(&current),
        "login says {window}s, current says {current}s"
    );
    window
}

#[tokio::test]
async fn zero_config_serve_uses_the_default_data_dir_in_the_cwd() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Running::start(tessera(cwd.path(), &["serve", "--listen", "127.0.0.1:0"]));
    assert_ne!(server.port(), 0);
    let http = Http::new(&server.url);
    let r = http.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        cwd.path().join("tessera-data").join("tessera.db").is_file(),
        "default data dir ./tessera-data"
    );
    // Defaults: open signup, 30 min idle timeout, 8 h absolute.
    http.register("alice").await;
    assert_eq!(idle_window(&http, "alice").await, 30 * 60);
    let token = http.bearer("alice", PASSWORD).await;
    let r = http.get("/v1/me", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["auth"], "session");
}

#[tokio::test]
async fn sessions_survive_kill_9_and_restart() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("state");
    let data = data.to_str().unwrap();
    let args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data];
    let server = Running::start(tessera(cwd.path(), &args));
    let http = Http::new(&server.url);
    http.register("alice").await;
    let token = http.bearer("alice", PASSWORD).await;
    assert_eq!(
        http.get("/v1/me", Some(&token)).await.status,
        StatusCode::OK
    );

    let status = server.kill9();
    assert!(!status.success(), "killed by SIGKILL: {status:?}");

    let server = Running::start(tessera(cwd.path(), &args));
    let http = Http::new(&server.url);
    let r = http.get("/v1/me", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["username"], "alice");
    assert_eq!(r.body["auth"], "session");
    // The account survived too.
    http.bearer("alice", PASSWORD).await;
    assert!(
        !cwd.path().join("tessera-data").exists(),
        "--data-dir replaces ./tessera-data"
    );
}

#[tokio::test]
async fn user_subcommands_manage_accounts_of_a_running_server() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("d");
    let data = data.to_str().unwrap();
    let server = Running::start(tessera(
        cwd.path(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data],
    ));
    let http = Http::new(&server.url);
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data]);
        finish(tessera(cwd.path(), &all), stdin, REFUSAL_DEADLINE)
    };

    // add, with the password on stdin (one line, newline stripped).
    let out = cli(
        &["user", "add", "Carol", "--roles", "a,b"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "user add failed: {}{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("Carol"), "{}", out.stdout);
    let token = http.bearer("carol", PASSWORD).await;
    let me = http.get("/v1/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], "Carol");
    assert_eq!(me.body["roles"], json!(["a", "b"]));
    // The newline is not part of the password.
    let r = http.login("carol", &format!("{PASSWORD}\n")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // list
    let out = cli(&["user", "list"], None);
    assert!(out.status.success(), "{}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Carol"))
        .unwrap_or_else(|| panic!("Carol listed: {}", out.stdout));
    assert!(line.contains("a,b"), "{line}");
    assert!(line.contains(me.body["id"].as_str().unwrap()), "{line}");

    // set-roles: seen by the CLI at once, by the running server within its cache age.
    let out = cli(&["user", "set-roles", "carol", "x"], None);
    assert!(out.status.success(), "{}", out.stderr);
    let out = cli(&["user", "list"], None);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Carol"))
        .expect("still listed");
    assert!(line.split('\t').any(|field| field == "x"), "{line}");
    let until = Instant::now() + CACHE_DEADLINE;
    loop {
        let me = http.get("/v1/me", Some(&token)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        if me.body["roles"] == json!(["x"]) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the server never saw the new roles: {}",
            me.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // remove: the next login fails like any wrong credential.
    let out = cli(&["user", "remove", "carol"], None);
    assert!(out.status.success(), "{}", out.stderr);
    let r = http.login("carol", PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.body["code"], "invalid_credentials", "{}", r.text);
    let out = cli(&["user", "list"], None);
    assert!(!out.stdout.contains("Carol"), "{}", out.stdout);
    let out = cli(&["user", "remove", "carol"], None);
    assert!(!out.status.success());
    assert!(out.stderr.contains("no such user"), "{}", out.stderr);

    // A password that breaks the rules: non-zero exit, a message, no account.
    let out = cli(&["user", "add", "dave"], Some("short\n"));
    assert!(!out.status.success(), "a 5-byte password was accepted");
    assert!(
        out.stderr.contains("password"),
        "stderr names the problem: {}",
        out.stderr
    );
    let out = cli(&["user", "list"], None);
    assert!(!out.stdout.contains("dave"), "{}", out.stdout);
}

/// Starts `tessera serve` with `env` (and `file` as `--config` when given) and expects it to
/// refuse quickly with a message containing `needle`.
fn assert_refused(env: &[(&str, &str)], file: Option<&str>, needle: &str) {
    let cwd = tempfile::tempdir().unwrap();
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    if let Some(text) = file {
        std::fs::write(cwd.path().join("custom.toml"), text).unwrap();
        args.extend(["--config", "custom.toml"]);
    }
    let mut cmd = tessera(cwd.path(), &args);
    cmd.envs(env.iter().copied());
    let started = Instant::now();
    let out = finish(cmd, None, REFUSAL_DEADLINE);
    assert!(
        !out.status.success(),
        "started with {env:?} {file:?}: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains(needle),
        "stderr should name {needle:?}:\n{}",
        out.stderr
    );
    assert!(!out.stdout.contains("listening on"), "{}", out.stdout);
    assert!(
        !cwd.path().join("tessera-data").exists(),
        "a refused start-up creates no data dir"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusal took {:?}",
        started.elapsed()
    );
}

#[test]
fn unknown_environment_variable_stops_start_up() {
    assert_refused(&[("TESSERA_NOPE", "1")], None, "TESSERA_NOPE");
}

#[test]
fn idle_timeout_above_absolute_stops_start_up() {
    assert_refused(
        &[("TESSERA_SESSION_IDLE_TIMEOUT", "9h")],
        None,
        "session.idle_timeout",
    );
}

#[test]
fn host_prefixed_cookie_with_insecure_cookies_stops_start_up() {
    assert_refused(
        &[
            ("TESSERA_SESSION_INSECURE_DEV_COOKIES", "true"),
            ("TESSERA_SESSION_COOKIE_NAME", "__Host-x"),
        ],
        None,
        "session.cookie_name",
    );
}

#[test]
fn unknown_key_in_the_file_stops_start_up() {
    assert_refused(&[], Some("colour = \"red\"\n"), "colour");
    assert_refused(
        &[],
        Some("[session]\nidle_timeout = \"10m\"\nflavour = 1\n"),
        "flavour",
    );
}

#[test]
fn bad_values_stop_start_up() {
    assert_refused(&[("TESSERA_SIGNUP", "yes")], None, "TESSERA_SIGNUP");
    assert_refused(
        &[],
        Some("[token]\naccess_ttl = \"31d\"\n"),
        "token.access_ttl",
    );
    assert_refused(
        &[("TESSERA_SESSION_ABSOLUTE_TIMEOUT", "500ms")],
        None,
        "session.absolute_timeout",
    );
}

#[tokio::test]
async fn config_file_is_honoured_and_the_environment_overrides_it() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("custom.toml"),
        "[session]\nidle_timeout = \"10m\"\n",
    )
    .unwrap();
    let serve = [
        "serve",
        "--config",
        "custom.toml",
        "--listen",
        "127.0.0.1:0",
    ];

    {
        let server = Running::start(tessera(cwd.path(), &serve));
        let http = Http::new(&server.url);
        http.register("alice").await;
        assert_eq!(idle_window(&http, "alice").await, 10 * 60);
    }

    // Environment over file; flag over environment (TESSERA_LISTEN names a port the flag replaces).
    let mut cmd = tessera(cwd.path(), &serve);
    cmd.env("TESSERA_SESSION_IDLE_TIMEOUT", "20m")
        .env("TESSERA_LISTEN", "127.0.0.1:1");
    let server = Running::start(cmd);
    assert_ne!(server.port(), 1, "--listen wins over TESSERA_LISTEN");
    let http = Http::new(&server.url);
    assert_eq!(idle_window(&http, "alice").await, 20 * 60);
}

#[tokio::test]
async fn tessera_toml_in_the_cwd_is_read_without_config() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("tessera.toml"),
        "data_dir = \"elsewhere\"\n[session]\nidle_timeout = \"5m\"\n",
    )
    .unwrap();
    let server = Running::start(tessera(cwd.path(), &["serve", "--listen", "127.0.0.1:0"]));
    let http = Http::new(&server.url);
    http.register("alice").await;
    assert_eq!(idle_window(&http, "alice").await, 5 * 60);
    assert!(cwd.path().join("elsewhere").join("tessera.db").is_file());
    assert!(!cwd.path().join("tessera-data").exists());
}

fn jwt_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("a header segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    serde_json::from_slice::<Value>(&bytes).expect("JSON header")["kid"]
        .as_str()
        .expect("kid")
        .to_owned()
}

#[tokio::test]
async fn keys_and_token_commands() {
    let cwd = tempfile::tempdir().unwrap();
    // Read by the server and by `keys rotate` alike (./tessera.toml): a new key is published
    // 3 s before it signs.
    std::fs::write(
        cwd.path().join("tessera.toml"),
        "[token]\nkey_publish_ahead = \"3s\"\n",
    )
    .unwrap();
    let data = cwd.path().join("data");
    let data_dir = data.to_str().unwrap();
    let server = Running::start(tessera(
        cwd.path(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
    ));
    let http = Http::new(&server.url);
    http.register("alice").await;
    let issue = || async {
        let r = http
            .send(
                reqwest::Method::POST,
                "/v1/tokens",
                None,
                Some(json!({"username": "alice", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["access_token"].as_str().unwrap().to_owned()
    };
    let old = issue().await;

    let decoded = finish(
        tessera(cwd.path(), &["token", "decode", &old]),
        None,
        REFUSAL_DEADLINE,
    );
    assert!(decoded.status.success(), "{}", decoded.stderr);
    assert!(
        decoded.stdout.contains("NOT verified"),
        "{}",
        decoded.stdout
    );
    assert!(decoded.stdout.contains("\"sid\""), "{}", decoded.stdout);
    let garbage = finish(
        tessera(cwd.path(), &["token", "decode", "not.a.jwt"]),
        None,
        REFUSAL_DEADLINE,
    );
    assert!(!garbage.status.success());

    let verify = |token: String| {
        finish(
            tessera(
                cwd.path(),
                &["token", "verify", &token, "--data-dir", data_dir],
            ),
            None,
            REFUSAL_DEADLINE,
        )
    };
    let ok = verify(old.clone());
    assert!(ok.status.success(), "{}", ok.stderr);
    assert!(ok.stdout.starts_with("valid: "), "{}", ok.stdout);
    let (signed, signature) = old.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let bad = verify(format!("{signed}.{flipped}{}", &signature[1..]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        bad.stderr.contains("invalid: bad signature"),
        "{}",
        bad.stderr
    );

    let list = finish(
        tessera(cwd.path(), &["keys", "list", "--data-dir", data_dir]),
        None,
        REFUSAL_DEADLINE,
    );
    let rows: Vec<&str> = list.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{}", list.stdout);
    assert!(
        rows[0].starts_with(&format!("{}\tEdDSA\t", jwt_kid(&old))),
        "{}",
        rows[0]
    );
    assert!(
        rows[0].ends_with("\t-"),
        "the current key is not retiring: {}",
        rows[0]
    );

    let rotated = finish(
        tessera(cwd.path(), &["keys", "rotate", "--data-dir", data_dir]),
        None,
        REFUSAL_DEADLINE,
    );
    assert!(rotated.status.success(), "{}", rotated.stderr);
    let list = finish(
        tessera(cwd.path(), &["keys", "list", "--data-dir", data_dir]),
        None,
        REFUSAL_DEADLINE,
    );
    let rows: Vec<String> = list.stdout.lines().skip(1).map(str::to_owned).collect();
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    let old_row = rows
        .iter()
        .find(|r| r.starts_with(&jwt_kid(&old)))
        .expect("the old key is listed");
    assert!(
        !old_row.ends_with("\t-"),
        "the old key now retires: {old_row}"
    );

    // The new key is published ahead: the server still signs with the old one for now.
    assert_eq!(jwt_kid(&issue().await), jwt_kid(&old));
    // The running server publishes the new key (it reloads keys every 2 s), signs with it once
    // its 3 s have passed, and the old token keeps verifying until it expires.
    let deadline = Instant::now() + CACHE_DEADLINE + Duration::from_secs(3);
    loop {
        let fresh = issue().await;
        if jwt_kid(&fresh) != jwt_kid(&old) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server still signs with the old key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(http.get("/v1/me", Some(&old)).await.status, StatusCode::OK);
    let jwks = http.get("/.well-known/jwks.json", None).await.body;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "{jwks}");

    let revoke = http
        .send(
            reqwest::Method::POST,
            "/v1/tokens/revoke",
            None,
            Some(json!({"token": old})),
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK);
    let revoked = verify(old.clone());
    assert_eq!(revoked.status.code(), Some(1));
    assert!(
        revoked.stderr.contains("token revoked"),
        "{}",
        revoked.stderr
    );
}

/// Reads `stream` until the server closes it (end of stream or reset), at most `limit`;
/// returns what it sent and when it closed, or `None` when it was still open at `limit`.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: Duration,
) -> Option<(Vec<u8>, Instant)> {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some((received, Instant::now())),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A connection to `server` from the loopback address `from` (Linux routes all of 127/8).
async fn connect_from(from: &str, server: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind a loopback address");
    socket.connect(server).await.expect("connect")
}

/// Issue 7, defect 11: connections that send half a request line and then nothing are closed
/// at `http.header_timeout` (counted from their first byte, however slowly they trickle), one
/// address holds at most `http.max_connections_per_address` (the rest are closed at once),
/// idle keep-alive and silent connections are closed at `http.idle_timeout`, a body that does
/// not arrive within `http.body_timeout` is a 400, and all the while a normal `GET /healthz`
/// from another address is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_closed_in_time_and_never_starve_a_normal_request() {
    use tokio::io::AsyncWriteExt as _;
    const HEADER: Duration = Duration::from_secs(2);
    const IDLE: Duration = Duration::from_secs(4);
    const BODY: Duration = Duration::from_secs(3);
    const PER_ADDRESS: usize = 40;
    const EXCESS: usize = 20;
    /// How much later than its deadline a connection may be closed on a busy machine.
    const SLACK: Duration = Duration::from_secs(3);
    /// A timer may fire this much before the instant the client measured from.
    const EARLY: Duration = Duration::from_millis(100);

    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = tessera(cwd.path(), &["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("TESSERA_HTTP_HEADER_TIMEOUT", "2s")
        .env("TESSERA_HTTP_IDLE_TIMEOUT", "4s")
        .env("TESSERA_HTTP_BODY_TIMEOUT", "3s")
        .env(
            "TESSERA_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
            PER_ADDRESS.to_string(),
        );
    let server = Running::start(cmd);
    let addr: std::net::SocketAddr = server.url["http://".len()..].parse().unwrap();

    // The slow client, at 127.0.0.2: half a request line on each connection, then nothing.
    let mut slow = Vec::new();
    for _ in 0..PER_ADDRESS + EXCESS {
        let mut stream = connect_from("127.0.0.2", addr).await;
        // A connection already closed for its address may refuse the write.
        let _ = stream.write_all(b"GET /healthz HT").await;
        let sent = Instant::now();
        slow.push(tokio::spawn(async move {
            let closed = read_until_closed(&mut stream, HEADER + SLACK).await;
            closed.map(|(_, at)| at.duration_since(sent))
        }));
    }

    // A trickling client at 127.0.0.3: one byte of a request head every 200 ms.
    let trickle = tokio::spawn(async move {
        let mut stream = connect_from("127.0.0.3", addr).await;
        let first = Instant::now();
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            if first.elapsed() > HEADER + SLACK {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        read_until_closed(&mut stream, SLACK).await?;
        Some(first.elapsed())
    });

    // Silent connections at 127.0.0.4: one never sends a byte; one is kept alive after a
    // complete request and answer.
    let silent = tokio::spawn(async move {
        let mut stream = connect_from("127.0.0.4", addr).await;
        let opened = Instant::now();
        read_until_closed(&mut stream, IDLE + SLACK)
            .await
            .map(|(_, at)| at.duration_since(opened))
    });
    let kept_alive = tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        let mut stream = connect_from("127.0.0.4", addr).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let answered = Instant::now();
        read_until_closed(&mut stream, IDLE + SLACK)
            .await
            .map(|(_, at)| at.duration_since(answered))
    });

    // A body that stops halfway, at 127.0.0.5.
    let half_body = tokio::spawn(async move {
        let mut stream = connect_from("127.0.0.5", addr).await;
        stream
            .write_all(
                b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
            )
            .await
            .unwrap();
        let sent = Instant::now();
        read_until_closed(&mut stream, BODY + SLACK)
            .await
            .map(|(reply, at)| {
                (
                    String::from_utf8_lossy(&reply).into_owned(),
                    at.duration_since(sent),
                )
            })
    });

    // Meanwhile a normal client is answered at once, long before any of those timeouts.
    let http = Http::new(&server.url);
    for _ in 0..3 {
        let asked = Instant::now();
        let r = http.get("/healthz", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "GET /healthz took {:?} beside the slow clients",
            asked.elapsed()
        );
    }

    let mut at_once = 0;
    let mut at_header_timeout = 0;
    for conn in slow {
        let closed_after = conn
            .await
            .unwrap()
            .expect("a half-sent request line still open after the header timeout");
        if closed_after < Duration::from_secs(1) {
            at_once += 1;
        } else {
            assert!(
                closed_after >= HEADER - EARLY,
                "closed after {closed_after:?}, before the header timeout"
            );
            at_header_timeout += 1;
        }
    }
    assert_eq!(
        (at_once, at_header_timeout),
        (EXCESS, PER_ADDRESS),
        "connections past the per-address limit closed at once, the others at the header timeout"
    );

    let trickled = trickle
        .await
        .unwrap()
        .expect("a trickling request head still open after the header timeout");
    assert!(
        (HEADER - EARLY..HEADER + SLACK).contains(&trickled),
        "trickling head closed after {trickled:?}"
    );
    for (what, task) in [("silent", silent), ("kept-alive", kept_alive)] {
        let idle = task
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{what} connection still open after the idle timeout"));
        assert!(
            idle >= IDLE - EARLY,
            "{what} connection closed after {idle:?}, before the idle timeout"
        );
    }
    let (reply, after) = half_body
        .await
        .unwrap()
        .expect("a half-sent body still open after the body timeout");
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    assert!(reply.contains("invalid_request"), "{reply}");
    assert!(after >= BODY - EARLY, "answered after {after:?}");

    // The slow address's connections were all released: it is served again.
    let mut stream = connect_from("127.0.0.2", addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = read_until_closed(&mut stream, SLACK)
        .await
        .expect("answered");
    assert!(
        reply.starts_with(b"HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

/// Issue 7, defect 11: the server raises its soft open-files limit to the hard one at start,
/// so a service manager's usual soft limit of 1,024 does not cap the connections it holds.
/// A client that sends requests and never reads the answers: once the socket's buffers are
/// full and no byte of a response could be written for `http.write_timeout`, the connection
/// is closed (the client's next write fails), and a normal request from another address is
/// answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_is_closed_after_the_write_timeout() {
    use tokio::io::AsyncWriteExt as _;
    const WRITE: Duration = Duration::from_secs(2);
    /// How much later than its deadline the connection may be closed on a busy machine, the
    /// buffers' filling included.
    const SLACK: Duration = Duration::from_secs(5);

    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = tessera(cwd.path(), &["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("TESSERA_HTTP_WRITE_TIMEOUT", "2s");
    let server = Running::start(cmd);
    let addr: std::net::SocketAddr = server.url["http://".len()..].parse().unwrap();

    // A small receive buffer, so the server's answers (the OpenAPI document) fill it soon.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket
        .bind("127.0.0.6:0".parse().unwrap())
        .expect("bind a loopback address");
    let mut deaf = socket.connect(addr).await.expect("connect");
    let started = Instant::now();
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64);
    let closed = tokio::time::timeout(WRITE + SLACK, async {
        // Pipelined requests, never an answer read, until the server gives the connection up.
        while deaf.write_all(&request).await.is_ok() {}
        started.elapsed()
    })
    .await;

    let healthz = Http::new(&server.url).get("/healthz", None).await;
    assert_eq!(healthz.status, StatusCode::OK);
    let closed =
        closed.unwrap_or_else(|_| panic!("still open {:?} after the start", WRITE + SLACK));
    assert!(
        closed >= WRITE,
        "closed after {closed:?}, before the write timeout"
    );
}

#[test]
fn open_files_soft_limit_is_raised_to_the_hard_one() {
    let cwd = tempfile::tempdir().unwrap();
    let script = format!("ulimit -Sn 256 && exec '{BIN}' serve --listen 127.0.0.1:0");
    // The environment `tessera` gives the binary, on a shell that lowers the limit first.
    let cmd = tessera(cwd.path(), &[]);
    let mut sh = Command::new("sh");
    sh.args(["-c", &script])
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => sh.env(name, value),
            None => sh.env_remove(name),
        };
    }
    let server = Running::start(sh);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_ne!(soft, "256", "{line}");
    assert_eq!(soft, hard, "{line}");
}

/// The value of `series` (its name and labels as Prometheus writes them) in the text at
/// `/metrics`; 0 when the series has not been written yet.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Counters move by exactly what was done. A process of its own, so no other test shares its
/// recorder.
#[tokio::test]
async fn metrics_count_each_login_verification_and_request() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Running::start(tessera(cwd.path(), &["serve", "--listen", "127.0.0.1:0"]));
    let http = Http::new(&server.url);
    http.register("alice").await;
    let token = http.bearer("alice", PASSWORD).await;
    let wrong = http.login("alice", "wrong password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    for _ in 0..3 {
        assert_eq!(
            http.get("/v1/me", Some(&token)).await.status,
            StatusCode::OK
        );
    }
    let unknown = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let r = http.get("/v1/me", Some(unknown)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    let text = http.get("/metrics", None).await.text;
    let count = |series: &str| metric(&text, series);
    for (series, expected) in [
        (
            r#"tessera_logins_total{mode="session",outcome="success"}"#,
            1.0,
        ),
        (
            r#"tessera_logins_total{mode="session",outcome="invalid_credentials"}"#,
            1.0,
        ),
        (
            r#"tessera_verifications_total{mode="session",outcome="valid"}"#,
            3.0,
        ),
        (
            r#"tessera_verifications_total{mode="session",outcome="invalid"}"#,
            1.0,
        ),
        (
            r#"tessera_http_request_duration_seconds_count{method="GET",route="/v1/me",status="200"}"#,
            3.0,
        ),
        (
            r#"tessera_http_request_duration_seconds_count{method="GET",route="/v1/me",status="401"}"#,
            1.0,
        ),
    ] {
        assert_eq!(count(series), expected, "{series} in {text}");
    }
    assert!(
        count(r#"tessera_store_duration_seconds_count{backend="sqlite",kind="write"}"#) >= 2.0,
        "a signup and a session at least: {text}"
    );
    // The process's own series, read at the scrape: two Argon2 hashes took CPU.
    assert!(count("process_cpu_seconds_total") > 0.0, "{text}");
    assert!(count("process_resident_memory_bytes") > 1e6, "{text}");
}
