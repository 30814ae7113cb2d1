//! An outside API fuzzer: schemathesis (PyPI) against `/openapi.json` of the real `tessera`
//! binary, for a bounded time, with every check on (`--checks all`: no 5xx, every status,
//! content type, header and body as the document says, schema-valid requests accepted and
//! invalid ones refused, credentials not ignored) and the stateful phase. Any failure, any
//! request over 10 s, or a run past its bound fails the test.
//!
//! Credentials and the one documented exception are in `tests/schemathesis/schemathesis.toml`.
//! `scripts/test` installs schemathesis with pip when it is missing.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, TestServer};
use crate::process::{Running, tessera};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const ADMIN_KEY: &str = "admin-key-for-schemathesis-0123456789";
/// schemathesis's own time budget (`--max-time`).
const FUZZ_SECONDS: u64 = 60;
/// The whole run, schema loading and reporting included; past it the run counts as a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(100);

/// A child killed and reaped on drop, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tessera serve` on a free port, with the throttles out of the way (they would
/// answer most logins and signups 429 and hide the logic behind them).
fn start_server(dir: &std::path::Path) -> Running {
    let mut cmd = tessera(dir, &["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
    cmd.arg(dir.join("data"))
        .env("TESSERA_ADMIN_KEY", ADMIN_KEY)
        .env("TESSERA_THROTTLE_SIGNUP_PER_ADDRESS", "1000000")
        .env("TESSERA_THROTTLE_ADDRESS_FAILURES", "1000000");
    Running::start(cmd)
}

/// Registers `name` and returns a bearer session token of it.
async fn bearer_session(url: &str, name: &str) -> String {
    let http = reqwest::Client::new();
    let body = json!({"username": name, "password": PASSWORD});
    let r = http
        .post(format!("{url}/v1/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{url}/v1/sessions"))
        .json(&json!({"username": name, "password": PASSWORD, "cookie": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    v["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_openapi_json() {
    let have = Command::new("python3")
        .args(["-c", "import schemathesis"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have,
        "schemathesis is missing: `python3 -m pip install schemathesis` (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let url = server.url.clone();
    let session = bearer_session(&url, "st").await;
    let session_to_end = bearer_session(&url, "st-ends").await;

    let config_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis");
    let out_path = dir.path().join("schemathesis.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut st = Command::new("python3");
    st.args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{url}/openapi.json"))
        .args(["--checks", "all"])
        // The revocation feed is a stream that never ends (tests/revocation_feed.rs covers it):
        // every generated request to it would only wait out its timeout.
        .args(["--exclude-path", "/v1/revocations"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "5", "--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--max-time", &FUZZ_SECONDS.to_string()])
        .args(["--seed", "7"])
        .arg("--no-color")
        .current_dir(config_dir)
        .env("ST_SESSION", &session)
        .env("ST_SESSION_TO_END", &session_to_end)
        .env("ST_ADMIN_KEY", ADMIN_KEY)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut child = Killed(st.spawn().expect("spawn python3 -m schemathesis.cli"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > RUN_DEADLINE {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut report = String::new();
    std::fs::File::open(&out_path)
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    let status = status.unwrap_or_else(|| {
        panic!("schemathesis still running after {RUN_DEADLINE:?} (a hang):\n{report}")
    });
    assert!(
        status.success(),
        "schemathesis failed ({status}):\n{report}"
    );
    // It really ran: every operation tested, cases generated.
    assert!(report.contains("Tested: "), "{report}");
    let selected = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Selected: "))
        .expect("a Selected line");
    let tested = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .expect("a Tested line");
    // Every operation but the excluded feed: "Selected: 22/23".
    let chosen = selected.split('/').next().unwrap_or("?").trim();
    assert_eq!(tested, chosen, "every selected operation tested:\n{report}");
    assert!(report.contains(" generated"), "{report}");
}

// What schemathesis found, each fixed in the OpenAPI annotations: requests the document called
// valid that the server refuses. Each test pins the constraint in the document and the server's
// answer at its edge.

async fn schemas(s: &TestServer) -> Value {
    let r = s.client().get("/openapi.json").await;
    assert_eq!(r.status, 200);
    r.body["components"]["schemas"].clone()
}

/// Found: `{"username": ""}` on `POST /v1/users`, `/v1/sessions` and `/v1/tokens` was
/// schema-valid and answered 400.
#[tokio::test]
async fn username_and_password_constraints_are_in_the_document() {
    let s = TestServer::start(&[]).await;
    let doc = schemas(&s).await;
    for (schema, min_password) in [
        ("RegisterRequest", 2),
        ("LoginRequest", 1),
        ("TokenRequest", 1),
    ] {
        let username = &doc[schema]["properties"]["username"];
        assert_eq!(username["pattern"], "^[A-Za-z0-9._@-]{1,64}$", "{schema}");
        assert_eq!(username["minLength"], 1, "{schema}");
        assert_eq!(username["maxLength"], 64, "{schema}");
        let password = &doc[schema]["properties"]["password"];
        assert_eq!(password["minLength"], min_password, "{schema}");
        assert_eq!(password["maxLength"], 1024, "{schema}");
    }
    let change = &doc["PasswordChangeRequest"]["properties"];
    assert_eq!(change["current_password"]["minLength"], 1);
    assert_eq!(change["new_password"]["minLength"], 2);
    assert_eq!(change["new_password"]["maxLength"], 1024);

    for path in ["/v1/users", "/v1/sessions", "/v1/tokens"] {
        s.client()
            .post(path, json!({"username": "", "password": common::PASSWORD}))
            .await
            .assert_problem(400, "invalid_request");
    }
    // The edges of the pattern: 64 characters of the set are a username, 65 are not.
    let longest = "a.b_c@d-".repeat(8);
    let r = s
        .client()
        .post(
            "/v1/users",
            json!({"username": longest, "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    s.client()
        .post(
            "/v1/users",
            json!({"username": format!("{longest}a"), "password": common::PASSWORD}),
        )
        .await
        .assert_problem(400, "invalid_request");
    s.client()
        .post(
            "/v1/users",
            json!({"username": "bob", "password": "1234567"}),
        )
        .await
        .assert_problem(400, "invalid_request");
}

/// Found: `{"roles": [""]}` on `PUT /v1/admin/users/{id}/roles` was schema-valid and answered
/// 400.
#[tokio::test]
async fn role_names_are_constrained_in_the_document() {
    let s = TestServer::start(&[("TESSERA_ADMIN_KEY", common::ADMIN_KEY)]).await;
    let doc = schemas(&s).await;
    assert_eq!(
        doc["RolesRequest"]["properties"]["roles"]["items"]["$ref"],
        "#/components/schemas/Role"
    );
    assert_eq!(doc["Role"]["pattern"], "^[A-Za-z0-9._:-]{1,64}$");
    assert_eq!(doc["Role"]["minLength"], 1);
    assert_eq!(doc["Role"]["maxLength"], 64);
    let id = s.register("alice").await["id"].as_str().unwrap().to_owned();
    let mut admin = common::Client::with_bearer(&s.url, common::ADMIN_KEY);
    let path = format!("/v1/admin/users/{id}/roles");
    let r = admin
        .send(
            reqwest::Method::PUT,
            &path,
            Some(json!({"roles": ["a.b_c:d-"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    admin
        .send(
            reqwest::Method::PUT,
            &path,
            Some(json!({"roles": [""]})),
            &[],
        )
        .await
        .assert_problem(400, "invalid_request");
}

/// Found: `{"token": "..", "token_type_hint": null}` on `POST /v1/tokens/revoke` was
/// schema-valid (the hint was nullable) and answered 400, as did an empty `token`.
#[tokio::test]
async fn revoke_and_introspect_token_constraints_are_in_the_document() {
    let s = TestServer::start(&[]).await;
    let doc = schemas(&s).await;
    let revoke = &doc["RevokeRequest"]["properties"];
    assert_eq!(revoke["token"]["minLength"], 1);
    assert_eq!(revoke["token_type_hint"]["type"], "string");
    assert_eq!(
        doc["IntrospectRequest"]["properties"]["token"]["minLength"],
        1
    );
    s.client()
        .post(
            "/v1/tokens/revoke",
            json!({"token": "x", "token_type_hint": null}),
        )
        .await
        .assert_problem(400, "invalid_request");
    s.client()
        .post("/v1/tokens/revoke", json!({"token": ""}))
        .await
        .assert_problem(400, "invalid_request");
    let r = s
        .client()
        .post("/v1/tokens/revoke", json!({"token": "x"}))
        .await;
    assert_eq!(r.status, 200);
}
