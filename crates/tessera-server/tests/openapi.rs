//! `GET /openapi.json` over HTTP: an OpenAPI 3.1 document holding every route the router
//! serves with exactly its methods, every status of the contract (API.md), every problem
//! `code`, and the security schemes.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{self, ADMIN_KEY, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The router's source: the routes it serves are the `.route(PATH, METHOD(..).METHOD(..))`
/// calls of `router_with()`, which `router()` calls with no extra routes.
const ROUTER_SOURCE: &str = include_str!("../../tessera-http/src/lib.rs");

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(path, method)` of every `.route(..)` in `router_with()`.
fn served_routes() -> BTreeSet<(String, String)> {
    let body = ROUTER_SOURCE
        .split("pub fn router_with(")
        .nth(1)
        .expect("router_with() in tessera-http's lib.rs");
    let body = body.split("\n}\n").next().unwrap();
    let mut routes = BTreeSet::new();
    for call in body.split(".route(").skip(1) {
        let path = call.split('"').nth(1).expect("a path literal");
        // The call ends at the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a closed .route(");
        let call = &call[..end];
        for method in METHODS {
            let named = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                i == 0
                    || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && call.as_bytes()[i - 1] != b'_'
            });
            if named {
                routes.insert((path.to_owned(), method.to_owned()));
            }
        }
    }
    routes
}

/// `(path, method)` of every operation in the document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert((path.clone(), method.to_owned()));
            }
        }
    }
    routes
}

async fn document(server: &TestServer) -> Value {
    let r = server.client().get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.header("content-type").starts_with("application/json"),
        "{:?}",
        r.headers
    );
    r.body
}

#[tokio::test]
async fn openapi_document_lists_every_route_the_router_serves_with_its_methods() {
    let server = TestServer::start(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]).await;
    let doc = document(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let served = served_routes();
    assert!(served.len() >= 23, "parsed too few routes: {served:?}");
    assert!(served.contains(&("/openapi.json".into(), "get".into())));
    let documented = documented_routes(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");

    // And over HTTP: a documented method is routed (never the 405 fallback), and every other
    // method of a documented path is 405 `method_not_allowed`.
    let mut by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, method) in &documented {
        by_path
            .entry(path.clone())
            .or_default()
            .insert(method.clone());
    }
    let auth = format!("Bearer {ADMIN_KEY}");
    for (path, methods) in &by_path {
        let url = format!(
            "{}{}",
            server.url,
            path.replace("{id}", "AAAAAAAAAAAAAAAAAAAAAA")
        );
        for method in METHODS {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // The revocation feed never ends when authenticated: asked without the key (401).
            let headers: &[(&str, &str)] =
                if path == "/v1/revocations" && method.eq_ignore_ascii_case("get") {
                    &[]
                } else {
                    &[("authorization", &auth)]
                };
            let r = common::raw(&url, m, headers, None).await;
            if methods.contains(method) {
                assert_ne!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {}",
                    r.text
                );
                assert!(
                    r.status.as_u16() < 500
                        || r.status == StatusCode::SERVICE_UNAVAILABLE && path == "/readyz",
                    "{method} {path}: {}",
                    r.text
                );
            } else {
                r.assert_problem(405, "method_not_allowed");
            }
        }
    }
}

/// Every path, method and status of the contract (API.md), as the document must hold them.
const CONTRACT: &[(&str, &str, &[u16])] = &[
    ("get", "/healthz", &[200]),
    ("get", "/readyz", &[200, 503]),
    ("get", "/metrics", &[200]),
    ("get", "/openapi.json", &[200]),
    ("post", "/v1/users", &[201, 400, 403, 409, 413, 415, 429]),
    ("post", "/v1/password", &[204, 400, 401, 403, 429]),
    ("post", "/v1/sessions", &[201, 400, 401, 403, 429, 503]),
    ("get", "/v1/sessions/current", &[200, 401]),
    ("delete", "/v1/sessions/current", &[204, 401, 403]),
    ("get", "/v1/sessions", &[200, 401]),
    ("delete", "/v1/sessions/{id}", &[204, 401, 404]),
    ("delete", "/v1/sessions", &[204, 400, 401]),
    ("post", "/v1/tokens", &[200, 400, 401, 403, 429, 503]),
    ("post", "/v1/tokens/refresh", &[200, 400, 401]),
    ("post", "/v1/tokens/exchange", &[200, 401, 403]),
    ("post", "/v1/tokens/revoke", &[200, 400]),
    ("post", "/v1/tokens/introspect", &[200, 400, 401, 404]),
    ("get", "/.well-known/jwks.json", &[200]),
    ("get", "/v1/me", &[200, 401]),
    ("get", "/v1/auth", &[200, 401, 403]),
    ("get", "/v1/admin/users/{id}/sessions", &[200, 401, 404]),
    ("post", "/v1/admin/users/{id}/revoke", &[204, 401, 404]),
    ("put", "/v1/admin/users/{id}/roles", &[200, 400, 401, 404]),
];

/// Every problem `code` of the contract.
const CODES: &[&str] = &[
    "invalid_request",
    "invalid_grant",
    "token_too_large",
    "unauthenticated",
    "invalid_token",
    "invalid_credentials",
    "refresh_reused",
    "csrf_failed",
    "signup_disabled",
    "not_found",
    "method_not_allowed",
    "username_taken",
    "payload_too_large",
    "unsupported_media_type",
    "too_many_attempts",
    "store_unavailable",
];

#[tokio::test]
async fn openapi_document_holds_every_status_problem_code_and_security_scheme_of_the_contract() {
    let server = TestServer::start(&[]).await;
    let doc = document(&server).await;
    let mut described = String::new();
    for &(method, path, statuses) in CONTRACT {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        let responses = op["responses"].as_object().expect("responses");
        for status in statuses {
            let response = responses
                .get(&status.to_string())
                .unwrap_or_else(|| panic!("{method} {path}: no {status}"));
            if *status >= 400 {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        for (status, response) in responses {
            if matches!(status.as_str(), "429" | "503") {
                assert!(
                    response["headers"].get("Retry-After").is_some(),
                    "{method} {path} {status} without Retry-After"
                );
            }
            if status == "401" {
                assert!(
                    response["headers"].get("WWW-Authenticate").is_some(),
                    "{method} {path} 401 without WWW-Authenticate"
                );
            }
            described.push_str(response["description"].as_str().unwrap_or(""));
        }
    }

    let enumerated: BTreeSet<&str> = doc["components"]["schemas"]["ProblemCode"]["enum"]
        .as_array()
        .expect("ProblemCode enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let contract: BTreeSet<&str> = CODES.iter().copied().collect();
    assert_eq!(enumerated, contract);
    for code in CODES {
        // 405 is the router's own, on every path.
        if *code != "method_not_allowed" {
            assert!(
                described.contains(&format!("`{code}`")),
                "no response names `{code}`"
            );
        }
    }

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session_cookie"]["type"], "apiKey");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "__Host-sid");
    assert_eq!(schemes["csrf_token"]["in"], "header");
    assert_eq!(schemes["csrf_token"]["name"], "X-CSRF-Token");
    for (name, format) in [
        ("session_token", "opaque"),
        ("jwt", "JWT"),
        ("admin_key", "opaque"),
    ] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
        assert_eq!(schemes[name]["bearerFormat"], format, "{name}");
    }

    let requirements = |method: &str, path: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["security"]
            .as_array()
            .map(|alternatives| {
                alternatives
                    .iter()
                    .flat_map(|a| a.as_object().unwrap().keys().cloned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Admin routes and introspection take the admin key alone.
    for (method, path) in [
        ("get", "/v1/admin/users/{id}/sessions"),
        ("post", "/v1/admin/users/{id}/revoke"),
        ("put", "/v1/admin/users/{id}/roles"),
        ("post", "/v1/tokens/introspect"),
    ] {
        assert_eq!(
            requirements(method, path),
            BTreeSet::from(["admin_key".to_owned()]),
            "{method} {path}"
        );
    }
    // The session routes take session credentials only, never a JWT.
    for (method, path) in [
        ("get", "/v1/sessions"),
        ("get", "/v1/sessions/current"),
        ("delete", "/v1/sessions/current"),
        ("delete", "/v1/sessions/{id}"),
        ("post", "/v1/tokens/exchange"),
    ] {
        let r = requirements(method, path);
        assert!(
            r.contains("session_cookie") && r.contains("session_token"),
            "{method} {path}: {r:?}"
        );
        assert!(!r.contains("jwt"), "{method} {path}: {r:?}");
    }
    for (method, path) in [
        ("get", "/v1/me"),
        ("get", "/v1/auth"),
        ("post", "/v1/password"),
    ] {
        let r = requirements(method, path);
        assert!(
            r.contains("jwt") && r.contains("session_token") && r.contains("session_cookie"),
            "{method} {path}: {r:?}"
        );
    }
    // Unsafe cookie requests carry the CSRF token.
    let alternatives = doc["paths"]["/v1/password"]["post"]["security"]
        .as_array()
        .unwrap();
    assert!(
        alternatives
            .iter()
            .any(|a| a.get("session_cookie").is_some() && a.get("csrf_token").is_some())
    );
    // Public routes need nothing.
    for (method, path) in [
        ("post", "/v1/sessions"),
        ("post", "/v1/users"),
        ("get", "/healthz"),
    ] {
        assert!(requirements(method, path).is_empty(), "{method} {path}");
    }
}
