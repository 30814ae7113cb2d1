//! Many instances on one real Redis and one real PostgreSQL, behind a real nginx: any instance
//! answers any request, a revocation on one is refused by all, and the failures of each backend
//! behave as docs/OPERATIONS.md says. Every program is started here on free loopback ports.

use std::time::{Duration, Instant};

use crate::common::{ADMIN_KEY, Client, PASSWORD, Reply, TestServer};
use crate::process::{self, finish, tessera};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_testkit::{Nginx, PostgresServer, RedisServer};

const ROUND_ROBIN: &str = include_str!("../../../deploy/nginx/round-robin.conf");
const STICKY: &str = include_str!("../../../deploy/nginx/sticky.conf");

/// How long a change may take to reach another instance before a test gives up (the target is
/// 100 ms at p99; this bound only keeps a broken build from hanging).
const PROPAGATION_LIMIT: Duration = Duration::from_secs(1);
/// The contract's bound on noticing a backend that went away or came back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(2);

/// Redis (with its append-only file) and PostgreSQL, shared by the instances of a test.
struct Backends {
    redis: RedisServer,
    postgres: PostgresServer,
}

impl Backends {
    fn start() -> Self {
        Self {
            redis: RedisServer::start_with_aof().expect("redis-server starts"),
            postgres: PostgresServer::start(),
        }
    }

    /// An in-process instance named `name` on these backends, with `extra` settings.
    async fn instance(&self, name: &str, extra: &[(&str, &str)]) -> TestServer {
        let (redis, database) = (self.redis.url(), self.postgres.url());
        let mut env = vec![
            ("TESSERA_REDIS_URL", redis.as_str()),
            ("TESSERA_DATABASE_URL", database.as_str()),
            ("TESSERA_INSTANCE_NAME", name),
            ("TESSERA_ADMIN_KEY", ADMIN_KEY),
        ];
        env.extend_from_slice(extra);
        TestServer::start(&env).await
    }

    /// Two instances, `a` and `b`.
    async fn two(&self) -> [TestServer; 2] {
        [self.instance("a", &[]).await, self.instance("b", &[]).await]
    }

    /// Three instances, `a`, `b` and `c`.
    async fn three(&self) -> [TestServer; 3] {
        [
            self.instance("a", &[]).await,
            self.instance("b", &[]).await,
            self.instance("c", &[]).await,
        ]
    }
}

fn port(server: &TestServer) -> u16 {
    server.server.as_ref().expect("running").addr.port()
}

fn nginx(config: &str, instances: &[TestServer; 3]) -> Nginx {
    Nginx::start(
        config,
        [
            port(&instances[0]),
            port(&instances[1]),
            port(&instances[2]),
        ],
    )
    .expect("nginx starts")
}

fn credentials() -> Value {
    json!({"username": "alice", "password": PASSWORD})
}

/// `client`'s credentials (cookies, bearer) aimed at another base URL.
fn aimed_at(client: &Client, base: &str) -> Client {
    let mut moved = Client::new(base);
    moved.cookies = client.cookies.clone();
    moved.bearer = client.bearer.clone();
    moved
}

async fn me(base: &str, token: &str) -> Reply {
    Client::with_bearer(base, token).get("/v1/me").await
}

/// Polls `check` until it returns true or `limit` passes; how long it took, if it did.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asserts that every instance refuses `token` (a bearer session token or JWT) within the
/// propagation limit.
async fn refused_everywhere(instances: &[&TestServer], token: &str, what: &str) {
    for s in instances {
        let took = within(PROPAGATION_LIMIT, || async {
            me(&s.url, token).await.status == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(took.is_some(), "{what}: still accepted by {}", s.url);
    }
}

async fn access_token(base: &str) -> Value {
    let r = Client::new(base).post("/v1/tokens", credentials()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_instance_answers_and_a_logout_through_one_is_refused_by_all() {
    let backends = Backends::start();
    let instances = backends.three().await;
    let lb = nginx(ROUND_ROBIN, &instances);

    let mut user = Client::new(&lb.url());
    let r = user.post("/v1/users", credentials()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = user.post("/v1/sessions", credentials()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    user.csrf = r.body["csrf_token"].as_str().map(str::to_owned);

    let mut answered_by = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let r = user.get("/v1/me").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        answered_by.insert(r.header("x-tessera-instance").to_owned());
    }
    assert!(
        answered_by.len() >= 2,
        "one instance answered all: {answered_by:?}"
    );

    let session = aimed_at(&user, &lb.url());
    let r = user.delete("/v1/sessions/current").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    for s in &instances {
        let took = within(PROPAGATION_LIMIT, || {
            let mut direct = aimed_at(&session, &s.url);
            async move { direct.get("/v1/me").await.status == StatusCode::UNAUTHORIZED }
        })
        .await;
        assert!(took.is_some(), "the ended session still works on {}", s.url);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_revocation_on_one_instance_is_refused_by_the_others() {
    let backends = Backends::start();
    let [a, b, c] = backends.three().await;
    a.register("alice").await;

    // RFC 7009 revoke of an access token on a.
    let pair = access_token(&a.url).await;
    let jwt = pair["access_token"].as_str().unwrap();
    assert_eq!(me(&b.url, jwt).await.status, StatusCode::OK);
    let r = Client::new(&a.url)
        .post("/v1/tokens/revoke", json!({"token": jwt}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    refused_everywhere(&[&b, &c], jwt, "revoked access token").await;

    // RFC 7009 revoke of a refresh token on a: the family ends, its access token with it.
    let pair = access_token(&a.url).await;
    let (jwt, refresh) = (
        pair["access_token"].as_str().unwrap(),
        pair["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(me(&c.url, jwt).await.status, StatusCode::OK);
    let r = Client::new(&a.url)
        .post("/v1/tokens/revoke", json!({"token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    refused_everywhere(&[&b, &c], jwt, "access token of a revoked family").await;
    let r = Client::new(&b.url)
        .post("/v1/tokens/refresh", json!({"refresh_token": refresh}))
        .await;
    r.assert_problem(400, "invalid_grant");

    // Refresh reuse detected on b ends the family everywhere.
    let pair = access_token(&a.url).await;
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let r = Client::new(&a.url)
        .post("/v1/tokens/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let successor_jwt = r.body["access_token"].as_str().unwrap().to_owned();
    // Past the grace window, the spent token presented again is theft.
    b.advance(11);
    let r = Client::new(&b.url)
        .post("/v1/tokens/refresh", json!({"refresh_token": refresh}))
        .await;
    r.assert_problem(401, "refresh_reused");
    refused_everywhere(&[&a, &c], &successor_jwt, "family ended by reuse").await;

    // A password change on a ends every other session of the user on every instance.
    let other = a.bearer_login("alice").await;
    let caller = a.bearer_login("alice").await;
    assert_eq!(me(&c.url, &other).await.status, StatusCode::OK);
    let r = Client::with_bearer(&a.url, &caller)
        .post(
            "/v1/password",
            json!({"current_password": PASSWORD, "new_password": "a new battery staple"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    refused_everywhere(&[&b, &c], &other, "session ended by a password change").await;

    // An admin revoke on c ends the caller's own session too, on a and b.
    let id = me(&a.url, &caller).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = Client::with_bearer(&c.url, ADMIN_KEY)
        .post(&format!("/v1/admin/users/{id}/revoke"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    refused_everywhere(&[&a, &b], &caller, "session ended by an admin revoke").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_stores_lose_the_session_behind_round_robin_and_keep_it_behind_sticky() {
    // The articles' problem: each instance on its own embedded store.
    let instances = [
        TestServer::start(&[("TESSERA_INSTANCE_NAME", "a")]).await,
        TestServer::start(&[("TESSERA_INSTANCE_NAME", "b")]).await,
        TestServer::start(&[("TESSERA_INSTANCE_NAME", "c")]).await,
    ];
    for s in &instances {
        s.register("alice").await;
    }
    let hops = |config: &'static str| {
        let lb = nginx(config, &instances);
        async move {
            let mut user = Client::new(&lb.url());
            let r = user.post("/v1/sessions", credentials()).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            let mut statuses = Vec::new();
            for _ in 0..10 {
                statuses.push(user.get("/v1/me").await.status);
            }
            statuses
        }
    };
    let round_robin = hops(ROUND_ROBIN).await;
    assert!(
        round_robin.contains(&StatusCode::UNAUTHORIZED),
        "the session should be lost on a hop: {round_robin:?}"
    );
    let sticky = hops(STICKY).await;
    assert_eq!(sticky, vec![StatusCode::OK; 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_down_answers_503_at_once_and_its_aof_brings_everything_back() {
    let mut backends = Backends::start();
    let [a, b] = backends.two().await;
    a.register("alice").await;
    let session = a.bearer_login("alice").await;
    assert_eq!(me(&b.url, &session).await.status, StatusCode::OK);
    let revoked = access_token(&a.url).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = Client::new(&a.url)
        .post("/v1/tokens/revoke", json!({"token": revoked}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Two failed logins counted for alice before the crash.
    for _ in 0..2 {
        let r = Client::new(&b.url)
            .post(
                "/v1/sessions",
                json!({"username": "alice", "password": "wrong password"}),
            )
            .await;
        r.assert_problem(401, "invalid_credentials");
    }

    backends.redis.stop();
    for s in [&a, &b] {
        let r = me(&s.url, &session).await;
        r.assert_problem(503, "store_unavailable");
        assert!(!r.header("retry-after").is_empty(), "{:?}", r.headers);
        let down = within(RECOVERY_LIMIT, || async {
            Client::new(&s.url).get("/readyz").await.status == StatusCode::SERVICE_UNAVAILABLE
        })
        .await;
        assert!(down.is_some(), "/readyz still 200 on {}", s.url);
    }

    backends.redis.restart().expect("redis-server restarts");
    for s in [&a, &b] {
        let back = within(RECOVERY_LIMIT, || async {
            me(&s.url, &session).await.status == StatusCode::OK
        })
        .await;
        assert!(back.is_some(), "the session did not come back on {}", s.url);
        assert_eq!(
            Client::new(&s.url).get("/readyz").await.status,
            StatusCode::OK
        );
        me(&s.url, &revoked)
            .await
            .assert_problem(401, "invalid_token");
    }
    // The throttle remembered the two failures: three more and alice is refused.
    for _ in 0..3 {
        let r = Client::new(&a.url)
            .post(
                "/v1/sessions",
                json!({"username": "alice", "password": "wrong password"}),
            )
            .await;
        r.assert_problem(401, "invalid_credentials");
    }
    let r = Client::new(&b.url)
        .post("/v1/sessions", credentials())
        .await;
    r.assert_problem(429, "too_many_attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_down_refuses_logins_while_sessions_and_jwts_keep_working() {
    let mut backends = Backends::start();
    let [a, b, cold] = backends.three().await;
    a.register("alice").await;
    let session = a.bearer_login("alice").await;
    let jwt = access_token(&b.url).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for s in [&a, &b] {
        assert_eq!(me(&s.url, &session).await.status, StatusCode::OK);
        assert_eq!(me(&s.url, &jwt).await.status, StatusCode::OK);
    }

    backends.postgres.stop();
    for s in [&a, &b] {
        let r = Client::new(&s.url)
            .post("/v1/sessions", credentials())
            .await;
        r.assert_problem(503, "store_unavailable");
        let r = Client::new(&s.url)
            .post(
                "/v1/users",
                json!({"username": "bob", "password": PASSWORD}),
            )
            .await;
        r.assert_problem(503, "store_unavailable");
        assert_eq!(me(&s.url, &session).await.status, StatusCode::OK);
        assert_eq!(me(&s.url, &jwt).await.status, StatusCode::OK);
    }
    // An instance that never served alice reads her from the copy in Redis.
    assert_eq!(me(&cold.url, &session).await.status, StatusCode::OK);
    assert_eq!(me(&cold.url, &jwt).await.status, StatusCode::OK);

    backends.postgres.restart();
    let back = within(Duration::from_secs(10), || async {
        Client::new(&a.url)
            .post("/v1/sessions", credentials())
            .await
            .status
            == StatusCode::CREATED
    })
    .await;
    assert!(back.is_some(), "logins did not come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_change_on_one_instance_is_seen_by_the_others_at_once() {
    let backends = Backends::start();
    let [a, b] = backends.two().await;
    a.register("alice").await;
    let session = a.bearer_login("alice").await;
    let id = me(&b.url, &session).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(me(&b.url, &session).await.body["roles"], json!([]));
    let r = Client::with_bearer(&a.url, ADMIN_KEY)
        .send(
            Method::PUT,
            &format!("/v1/admin/users/{id}/roles"),
            Some(json!({"roles": ["teller"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let seen = within(PROPAGATION_LIMIT, || async {
        me(&b.url, &session).await.body["roles"] == json!(["teller"])
    })
    .await;
    assert!(seen.is_some(), "b still answers with the old roles");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_on_empty_stores_make_one_key() {
    let backends = Backends::start();
    let (a, b, c) = tokio::join!(
        backends.instance("a", &[]),
        backends.instance("b", &[]),
        backends.instance("c", &[]),
    );
    let count = backends.postgres.psql(
        PostgresServer::DATABASE,
        "SELECT count(*) FROM signing_keys",
    );
    assert_eq!(count.trim(), "1");
    let jwks = Client::new(&a.url).get("/.well-known/jwks.json").await.body;
    for s in [&b, &c] {
        assert_eq!(
            Client::new(&s.url).get("/.well-known/jwks.json").await.body,
            jwks
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_over_three_instances_are_throttled_as_on_one() {
    let backends = Backends::start();
    let instances = backends.three().await;
    instances[0].register("alice").await;
    let attempts = (0..30).map(|i| {
        let url = instances[i % 3].url.clone();
        tokio::spawn(async move {
            Client::new(&url)
                .post(
                    "/v1/sessions",
                    json!({"username": "alice", "password": "wrong password"}),
                )
                .await
                .status
        })
    });
    let mut statuses = std::collections::BTreeMap::new();
    for attempt in attempts {
        *statuses.entry(attempt.await.unwrap().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(401, 5), (429, 25)].into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwts_are_trusted_for_max_staleness_while_the_feed_is_down() {
    let mut backends = Backends::start();
    let a = backends
        .instance("a", &[("TESSERA_REVOCATION_MAX_STALENESS", "30s")])
        .await;
    a.register("alice").await;
    let jwt = access_token(&a.url).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    backends.redis.stop();
    // The last known revocations are trusted for a while...
    assert_eq!(me(&a.url, &jwt).await.status, StatusCode::OK);
    a.advance(31);
    // ...and then no longer: 503 until the feed is back and caught up.
    me(&a.url, &jwt)
        .await
        .assert_problem(503, "store_unavailable");

    backends.redis.restart().expect("redis-server restarts");
    let back = within(RECOVERY_LIMIT, || async {
        me(&a.url, &jwt).await.status == StatusCode::OK
    })
    .await;
    assert!(
        back.is_some(),
        "JWTs not accepted again after the feed came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_receiving_instance_exports_revocation_propagation() {
    let backends = Backends::start();
    let [a, b] = backends.two().await;
    a.register("alice").await;
    let session = a.bearer_login("alice").await;
    let r = Client::with_bearer(&a.url, &session)
        .send(Method::DELETE, "/v1/sessions/current", None, &[])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    refused_everywhere(&[&b], &session, "logout").await;
    let metrics = Client::new(&b.url).get("/metrics").await.text;
    let count = metrics
        .lines()
        .find(|l| l.starts_with("tessera_revocation_propagation_seconds_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(count >= 1.0, "{metrics}");
}

/// A base port whose next three are free too (nginx on it, the instances above it).
fn free_port_run() -> u16 {
    loop {
        let base = tessera_testkit::free_port();
        let all_free = (0..4).all(|i| {
            base.checked_add(i)
                .is_some_and(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        });
        if all_free {
            return base;
        }
    }
}

fn cluster_script(dir: &std::path::Path, ports: (u16, u16, u16), command: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/cluster");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(command)
        .env("CLUSTER_DIR", dir)
        .env("CLUSTER_PORT", ports.0.to_string())
        .env("CLUSTER_REDIS_PORT", ports.1.to_string())
        .env("CLUSTER_PG_PORT", ports.2.to_string())
        .env("CLUSTER_BIN", process::BIN)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs deploy/cluster");
    assert!(
        out.status.success(),
        "deploy/cluster {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pid_of(dir: &std::path::Path, what: &str) -> u32 {
    std::fs::read_to_string(dir.join(format!("{what}.pid")))
        .expect("a pid file")
        .trim()
        .parse()
        .expect("a pid")
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_cluster_serves_through_nginx_and_outlives_an_instance_killed_with_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let ports = (
        free_port_run(),
        tessera_testkit::free_port(),
        tessera_testkit::free_port(),
    );
    let url = cluster_script(dir.path(), ports, "up").trim().to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{}", ports.0));
    let pids: Vec<u32> = [
        "nginx",
        "tessera-a",
        "tessera-b",
        "tessera-c",
        "postgres",
        "redis",
    ]
    .iter()
    .map(|what| pid_of(dir.path(), what))
    .collect();

    let mut user = Client::new(&url);
    let r = user.post("/v1/users", credentials()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = user.post("/v1/sessions", credentials()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // kill -9 of instance a: b and c carry on with the same session, nobody logs in again.
    let a = pid_of(dir.path(), "tessera-a");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &a.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut answered_by = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let r = user.get("/v1/me").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        answered_by.insert(r.header("x-tessera-instance").to_owned());
    }
    assert!(!answered_by.contains("a"), "{answered_by:?}");

    cluster_script(dir.path(), ports, "down");
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived deploy/cluster down");
    }
}

/// `tessera serve` with these extra arguments: its exit status and stderr (it must not start).
fn refused_start(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tessera(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir"],
    );
    cmd.arg(dir.path()).args(args);
    let out = finish(cmd, None, Duration::from_secs(30));
    (out.status.code(), out.stderr)
}

#[test]
fn bad_store_urls_stop_start_up_with_a_clear_message_and_no_password() {
    let unreachable_redis = refused_start(&[
        "--redis-url",
        "redis://:hunter2-redis@127.0.0.1:1",
        "--database-url",
        "postgres://tessera:hunter2-pg@127.0.0.1:1/tessera",
    ]);
    let malformed_pg = {
        let redis = RedisServer::start().expect("redis-server starts");
        refused_start(&[
            "--redis-url",
            &redis.url(),
            "--database-url",
            "postgres://tessera:hunter2-pg@127.0.0.1:not-a-port/tessera",
        ])
    };
    let only_redis = refused_start(&["--redis-url", "redis://127.0.0.1:1"]);
    for ((status, stderr), names) in [
        (unreachable_redis, "redis_url"),
        (malformed_pg, "database_url"),
        (only_redis, "database_url"),
    ] {
        assert_eq!(status, Some(1), "{stderr}");
        assert!(stderr.contains(names), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "a password reached stderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
