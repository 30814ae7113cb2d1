//! `tessera bench` end to end: in process, against a server started apart by URL, and bad
//! input (unreachable, not Tessera, signup off, Ctrl-C).

use std::process::{Command, Output};
use std::sync::Arc;

use crate::process::tessera;
use serde_json::Value;
use tessera_core::SystemClock;
use tessera_server::{Config, Overrides, RunningServer};

fn bench(args: &[&str]) -> (Output, Option<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let chart = dir.path().join("bench.svg");
    let out = tessera(dir.path(), &["bench"])
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--chart")
        .arg(&chart)
        .output()
        .expect("runs tessera bench");
    let doc = std::fs::read_to_string(&json)
        .ok()
        .map(|s| serde_json::from_str(&s).unwrap());
    if doc.is_some() {
        assert!(std::fs::read_to_string(&chart).unwrap().starts_with("<svg"));
    }
    (out, doc)
}

/// The admin key of the servers the by-URL runs measure.
const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef";

/// A quick by-URL run of `duration` loads against `urls`, with the admin key and `extra`.
fn bench_by_url(urls: &[String], duration: &str, extra: &[&str]) -> (Output, Option<Value>) {
    let mut args: Vec<&str> = urls.iter().flat_map(|u| ["--url", u.as_str()]).collect();
    args.extend(["--quick", "--duration", duration, "--admin-key", ADMIN_KEY]);
    args.extend(extra);
    bench(&args)
}

fn num(c: &Value, field: &str) -> f64 {
    c[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing in {c}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn in_process_quick_fills_every_cell_with_a_plausible_number() {
    let (out, doc) = bench(&["--quick", "--duration", "2s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = doc.expect("json written");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| criterion | measure | session cookie |"),
        "{table}"
    );
    let cols = doc["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 7);
    // Sizes are exact: the header line as sent.
    let sizes: Vec<f64> = cols.iter().map(|c| num(c, "credential_bytes")).collect();
    assert_eq!(sizes[0], (8 + "__Host-sid=".len() + 43) as f64);
    assert_eq!(sizes[1], ("authorization: Bearer ".len() + 43) as f64);
    for c in cols {
        assert!(c["skipped"].is_null(), "{c}");
        for f in [
            "rps",
            "healthz_rps",
            "healthz_ratio",
            "server_cpu_us",
            "healthz_cpu_us",
            "load_cpu_us",
            "verify_us",
            "logins_per_s",
        ] {
            assert!(num(c, f) > 0.0, "{f} in {c}");
        }
        for f in ["p50_ms", "p99_ms", "p999_ms", "burst_p99_ms"] {
            assert!(num(c, f) > 0.0 && num(c, f) < 1000.0, "{f} in {c}");
        }
        assert!(num(c, "p50_ms") <= num(c, "p99_ms") && num(c, "p99_ms") <= num(c, "p999_ms"));
        assert!(num(c, "store_round_trips") < 0.05, "{c}");
        assert!(num(c, "login_response_bytes") > num(c, "credential_bytes"));
        assert!(num(c, "bytes_per_hour") >= num(c, "credential_bytes") * 3600.0);
        let same = &c["revocation_same"];
        assert!(
            num(same, "p99_ms") > 0.0 && num(same, "p99_ms") < 1000.0,
            "{c}"
        );
        assert!(c["readable_claims"].is_array());
        assert!(c["cross_site"].is_string() && c["cors"].is_string());
        assert!(num(c, "lifetime_s") > 0.0);
        assert_eq!(c["errors"], 0, "{c}");
    }
    // JWTs: readable claims, refused 30 s (the default leeway) after exp; sessions at once.
    for c in &cols[2..] {
        assert!(
            c["readable_claims"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "sub")
        );
        assert!((num(c, "refused_after_s") - 30.0).abs() <= 0.2, "{c}");
        assert!(c["mode"] == "hybrid" || num(c, "memory_per_10k") == 0.0);
    }
    for c in &cols[..2] {
        assert_eq!(c["readable_claims"].as_array().unwrap().len(), 0);
        assert!(num(c, "refused_after_s") <= 0.1, "{c}");
        assert!(
            num(c, "memory_per_100k") > 0.0 && num(c, "store_per_100k") > num(c, "store_per_10k")
        );
    }
    for c in &cols[3..6] {
        assert!(num(c, "client_verify_us") >= num(c, "raw_signature_us") * 0.5);
    }
    assert!(num(&cols[6], "refresh_bytes") > 0.0 && num(&cols[6], "refreshes_per_hour") > 0.0);
    assert_eq!(doc["rows"][0]["id"], "bandwidth.credential");
    // No secret in what was printed.
    assert!(!table.contains("Bearer ey") && !stderr(&out).contains("Bearer "));
}

fn server(env: &[(&str, &str)]) -> (tokio::runtime::Runtime, RunningServer, tempfile::TempDir) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Overrides::default()
    };
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load(None, env, &overrides).unwrap();
    let server = rt
        .block_on(RunningServer::start(&config, Arc::new(SystemClock)))
        .unwrap();
    (rt, server, dir)
}

#[test]
fn against_a_server_by_url() {
    let (rt, server, _dir) = server(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]);
    let (out, doc) = bench_by_url(&[format!("http://{}", server.addr)], "1s", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = doc.unwrap();
    let cols = doc["columns"].as_array().unwrap();
    // The server signs EdDSA: the other JWT columns are not measured, the rest is.
    for (i, c) in cols.iter().enumerate() {
        if [2, 4, 5].contains(&i) {
            assert!(c["skipped"].as_str().unwrap().contains("EdDSA"), "{c}");
        } else {
            assert!(
                num(c, "rps") > 0.0 && num(&c["revocation_same"], "p99_ms") < 1000.0,
                "{c}"
            );
            // The server's CPU, read from its /metrics around each load.
            assert!(
                num(c, "server_cpu_us") > 0.0 && num(c, "healthz_cpu_us") > 0.0,
                "{c}"
            );
            assert!(num(c, "verify_us") >= 0.0, "{c}");
        }
    }
    let err = stderr(&out);
    assert!(!err.contains("bench-admin-key"), "{err}");
    // The bench user is gone, with everything of it.
    let users = rt.block_on(server.auth.users()).unwrap();
    assert!(users.is_empty(), "left behind: {users:?}");
    rt.block_on(server.shutdown()).unwrap();
}

/// A new JWT on every request, in process: the floor is measured as requests to the same
/// server with the same tokens (a bare check behind /healthz's answer), so it holds at least
/// the check, and the floor row divides by it.
#[test]
fn fresh_tokens_in_process_measure_the_floor_as_requests() {
    let (out, doc) = bench(&["--quick", "--duration", "200ms", "--fresh-tokens"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = doc.unwrap();
    let row = |id: &str| {
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("the {id} row"))
            .clone()
    };
    let (ratio, sum) = (row("cpu.fresh_floor_ratio"), row("cpu.fresh_sum_ratio"));
    let cols = doc["columns"].as_array().unwrap();
    // EdDSA, ES256, RS256 and the hybrid: the columns with a public key.
    for i in 3..=6 {
        let c = &cols[i];
        assert_eq!(c["errors"], 0, "{c}");
        let floor = num(c, "floor_cpu_us");
        assert!(floor > num(c, "raw_signature_us"), "{c}");
        let expected = num(c, "server_cpu_us") / floor;
        assert!(
            ratio["values"][i]
                .as_f64()
                .is_some_and(|x| (x - expected).abs() < 1e-9),
            "{ratio}"
        );
        assert!(sum["values"][i].as_f64().is_some_and(|x| x > 0.0), "{sum}");
    }
    for c in &cols[..3] {
        assert!(c["floor_cpu_us"].is_null(), "no public key: {c}");
    }
}

/// A new JWT on every request, by URL: the tokens come from the deployment's exchange call,
/// every request is answered, and the floor row divides a cost that holds at least the check.
#[test]
fn fresh_tokens_by_url_fill_the_floor_row() {
    let (rt, server, _dir) = server(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]);
    let url = format!("http://{}", server.addr);
    let (out, doc) = bench_by_url(&[url], "200ms", &["--fresh-tokens"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = doc.unwrap();
    assert_eq!(doc["run"]["fresh_tokens"], true);
    let floor = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "cpu.fresh_floor_ratio")
        .expect("the floor row");
    let cols = doc["columns"].as_array().unwrap();
    // EdDSA and the hybrid, the columns of an EdDSA server with a public key.
    for i in [3, 6] {
        let c = &cols[i];
        assert_eq!(c["errors"], 0, "{c}");
        assert!(num(c, "rps") > 0.0, "{c}");
        assert!(num(c, "server_cpu_us") > num(c, "raw_signature_us"), "{c}");
        assert!(c["floor_cpu_us"].is_null(), "no floor route by URL: {c}");
        assert!(
            floor["values"][i].as_f64().is_some_and(|x| x > 0.0),
            "{floor}"
        );
    }
    assert!(rt.block_on(server.auth.users()).unwrap().is_empty());
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn unreachable_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (out, doc) = bench(&["--url", &format!("http://127.0.0.1:{port}"), "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(doc.is_none());
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
}

#[test]
fn a_url_that_is_not_tessera() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    let (out, _) = bench(&["--url", &format!("http://{addr}"), "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not answer like a Tessera server"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn signup_off() {
    let (rt, server, _dir) = server(&[("TESSERA_SIGNUP", "false")]);
    let (out, _) = bench(&["--url", &format!("http://{}", server.addr), "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("signup disabled"), "{}", stderr(&out));
    assert!(rt.block_on(server.auth.users()).unwrap().is_empty());
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn ctrl_c_ends_with_130_and_leaves_no_user_behind() {
    let (rt, server, dir) = server(&[]);
    let url = format!("http://{}", server.addr);
    let mut bench = tessera(dir.path(), &["bench", "--quick", "--url", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs tessera bench");
    // Interrupt it once its throwaway user exists, in the middle of the measurements.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rt.block_on(server.auth.users()).unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the bench never signed up its user"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args(["-INT", &bench.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut bench.stderr.take().unwrap(), &mut err).unwrap();
    let status = bench.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let users = rt.block_on(server.auth.users()).unwrap();
    assert!(users.is_empty(), "left behind: {users:?}");
    rt.block_on(server.shutdown()).unwrap();
}

/// Two instances of one deployment (real Redis and PostgreSQL), both given by URL: the
/// revocation row is measured across them and the scalability row loads both at once.
#[test]
fn two_urls_of_one_deployment_measure_revocation_and_throughput_across_instances() {
    let redis = tessera_testkit::RedisServer::start().expect("redis-server starts");
    let postgres = tessera_testkit::PostgresServer::start();
    let (redis_url, database_url) = (redis.url(), postgres.url());
    let shared = [
        ("TESSERA_REDIS_URL", redis_url.as_str()),
        ("TESSERA_DATABASE_URL", database_url.as_str()),
        ("TESSERA_ADMIN_KEY", ADMIN_KEY),
    ];
    let (rt_a, a, _dir_a) = server(&shared);
    let (rt_b, b, _dir_b) = server(&shared);
    let urls = [format!("http://{}", a.addr), format!("http://{}", b.addr)];
    let (out, doc) = bench_by_url(&urls, "1s", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = doc.unwrap();
    let measured: Vec<&Value> = doc["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["skipped"].is_null())
        .collect();
    assert_eq!(measured.len(), 4, "sessions, EdDSA and the hybrid: {doc}");
    for c in measured {
        assert!(num(&c["revocation_other"], "p99_ms") < 1000.0, "{c}");
        assert!(num(c, "rps_all_instances") > 0.0, "{c}");
    }
    assert!(rt_a.block_on(a.auth.users()).unwrap().is_empty());
    rt_a.block_on(a.shutdown()).unwrap();
    rt_b.block_on(b.shutdown()).unwrap();
}
