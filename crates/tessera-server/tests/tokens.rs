//! The Tokens section of the API: JWT access tokens, refresh rotation, exchange, revocation,
//! introspection, keys — over real HTTP against the real server, with an injected clock.

use crate::common::{ADMIN_KEY, Client, PASSWORD, Reply, TestServer, raw};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn refresh(s: &TestServer, refresh_token: &str) -> Reply {
    s.client()
        .post(
            "/v1/tokens/refresh",
            json!({"refresh_token": refresh_token}),
        )
        .await
}

async fn me(s: &TestServer, token: &str) -> Reply {
    Client::with_bearer(&s.url, token).get("/v1/me").await
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&B64.decode(segment).expect("base64url")).expect("JSON")
}

fn parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    (decode(it.next().unwrap()), decode(it.next().unwrap()))
}

#[tokio::test]
async fn password_login_issues_a_jwt_and_a_refresh_token() {
    let s = TestServer::start(&[]).await;
    let user = s.register("alice").await;
    // Mid-second: `expires_in` still counts whole seconds from the token's own `iat`.
    s.clock.advance(std::time::Duration::from_millis(700));
    let r = s
        .client()
        .post(
            "/v1/tokens",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("pragma"), "no-cache");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 600);
    assert_eq!(r.body["refresh_token"].as_str().map(str::len), Some(43));
    let at = r.body["access_token"].as_str().unwrap();
    let (header, claims) = parts(at);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    assert_eq!(claims["iss"], "tessera");
    assert_eq!(claims["aud"], "tessera");
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["iat"], 1_800_000_000);
    assert_eq!(claims["nbf"], 1_800_000_000);
    assert_eq!(claims["exp"], 1_800_000_600);
    assert_eq!(claims["roles"], json!([]));
    assert!(claims["jti"].is_string() && claims["sid"].is_string());
    let m = me(&s, at).await;
    assert_eq!(m.body["auth"], "jwt", "{}", m.text);
    assert_eq!(m.body["username"], "alice");

    let bad = s
        .client()
        .post(
            "/v1/tokens",
            json!({"username": "alice", "password": "wrong password"}),
        )
        .await;
    bad.assert_problem(401, "invalid_credentials");
    s.client()
        .post("/v1/tokens", json!({"username": "alice"}))
        .await
        .assert_problem(400, "invalid_request");
}

#[tokio::test]
async fn access_tokens_expire_with_leeway() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let at = s.access_token("alice").await;
    s.advance(600 + 29);
    assert_eq!(
        me(&s, &at).await.status,
        StatusCode::OK,
        "within the 30 s leeway"
    );
    s.advance(2);
    let r = me(&s, &at).await;
    r.assert_problem(401, "invalid_token");
    assert_eq!(r.body["detail"], "token expired");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_ends_the_family() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let t = s.tokens("alice").await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let r = refresh(&s, rt1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("pragma"), "no-cache");
    let rt2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    let at2 = r.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt1);
    assert_eq!(
        parts(&at2).1["sid"],
        parts(t["access_token"].as_str().unwrap()).1["sid"],
        "same family"
    );

    // Two tabs: the spent token within the grace window, successor unused, gets that successor.
    s.advance(5);
    let again = refresh(&s, rt1).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["refresh_token"], rt2.as_str());
    assert_eq!(
        me(&s, again.body["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );

    let r = refresh(&s, &rt2).await;
    let rt3 = r.body["refresh_token"].as_str().unwrap().to_owned();
    // rt1's successor is spent now: theft.
    refresh(&s, rt1).await.assert_problem(401, "refresh_reused");
    refresh(&s, &rt3).await.assert_problem(400, "invalid_grant");
    me(&s, &at2).await.assert_problem(401, "invalid_token");
    me(&s, t["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn reuse_after_the_grace_window_is_theft() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let t = s.tokens("alice").await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    let rt2 = refresh(&s, rt1).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.advance(11);
    refresh(&s, rt1).await.assert_problem(401, "refresh_reused");
    refresh(&s, &rt2).await.assert_problem(400, "invalid_grant");
}

#[tokio::test]
async fn refresh_family_lifetime_is_absolute() {
    let s = TestServer::start(&[("TESSERA_TOKEN_REFRESH_TTL", "1h")]).await;
    s.register("alice").await;
    let mut rt = s.tokens("alice").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        s.advance(11 * 60);
        let r = refresh(&s, &rt).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    }
    s.advance(6 * 60);
    refresh(&s, &rt).await.assert_problem(400, "invalid_grant");
}

#[tokio::test]
async fn bad_refresh_tokens_and_refresh_off() {
    let s = TestServer::start(&[]).await;
    for bad in ["", "garbage", &"A".repeat(43), &"x".repeat(5000)] {
        refresh(&s, bad).await.assert_problem(400, "invalid_grant");
    }
    s.client()
        .post("/v1/tokens/refresh", json!({"refresh_token": 5}))
        .await
        .assert_problem(400, "invalid_request");

    let off = TestServer::start(&[("TESSERA_TOKEN_REFRESH", "false")]).await;
    off.register("alice").await;
    let t = off.tokens("alice").await;
    assert!(t.get("refresh_token").is_none(), "{t}");
    assert_eq!(
        me(&off, t["access_token"].as_str().unwrap()).await.status,
        StatusCode::OK
    );
    refresh(&off, &"A".repeat(43))
        .await
        .assert_problem(400, "invalid_grant");
}

#[tokio::test]
async fn exchange_binds_a_jwt_to_the_session() {
    let s = TestServer::start(&[("TESSERA_SESSION_IDLE_TIMEOUT", "5m")]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    let csrf = c.csrf.take().unwrap();
    c.send(Method::POST, "/v1/tokens/exchange", None, &[])
        .await
        .assert_problem(403, "csrf_failed");
    let r = c
        .send(
            Method::POST,
            "/v1/tokens/exchange",
            None,
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("pragma"), "no-cache");
    assert!(r.body.get("refresh_token").is_none());
    let xt = r.body["access_token"].as_str().unwrap().to_owned();
    let session = c.get("/v1/sessions/current").await.body["session"].clone();
    let (_, claims) = parts(&xt);
    assert_eq!(claims["sid"], session["id"]);
    assert_eq!(
        r.body["expires_in"], 300,
        "never outlives the session's idle deadline"
    );
    assert_eq!(me(&s, &xt).await.body["auth"], "jwt");

    // A JWT cannot mint JWTs or manage sessions.
    Client::with_bearer(&s.url, &xt)
        .send(Method::POST, "/v1/tokens/exchange", None, &[])
        .await
        .assert_problem(401, "unauthenticated");
    Client::with_bearer(&s.url, &xt)
        .get("/v1/sessions")
        .await
        .assert_problem(401, "unauthenticated");

    c.send(
        Method::DELETE,
        "/v1/sessions/current",
        None,
        &[("x-csrf-token", &csrf)],
    )
    .await;
    me(&s, &xt).await.assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn revoke_access_refresh_and_session_tokens() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let t = s.tokens("alice").await;
    let at = t["access_token"].as_str().unwrap();
    let r = s
        .client()
        .post(
            "/v1/tokens/revoke",
            json!({"token": at, "token_type_hint": "access_token", "extra": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    me(&s, at).await.assert_problem(401, "invalid_token");

    let t = s.tokens("alice").await;
    let form = format!(
        "token={}&token_type_hint=refresh_token",
        t["refresh_token"].as_str().unwrap()
    );
    let url = format!("{}/v1/tokens/revoke", s.url);
    let r = raw(
        &url,
        Method::POST,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.into_bytes()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    me(&s, t["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "invalid_token");
    refresh(&s, t["refresh_token"].as_str().unwrap())
        .await
        .assert_problem(400, "invalid_grant");

    let session = s.bearer_login("alice").await;
    assert_eq!(
        s.client()
            .post("/v1/tokens/revoke", json!({"token": session}))
            .await
            .status,
        StatusCode::OK
    );
    me(&s, &session)
        .await
        .assert_problem(401, "unauthenticated");

    assert_eq!(
        s.client()
            .post("/v1/tokens/revoke", json!({"token": "unknown-token"}))
            .await
            .status,
        StatusCode::OK
    );
    s.client()
        .post("/v1/tokens/revoke", json!({}))
        .await
        .assert_problem(400, "invalid_request");
    raw(
        &url,
        Method::POST,
        &[("content-type", "text/plain")],
        Some(b"token=x".to_vec()),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn introspection_needs_the_admin_key() {
    let off = TestServer::start(&[]).await;
    off.client()
        .post("/v1/tokens/introspect", json!({"token": "x"}))
        .await
        .assert_problem(404, "not_found");

    let s = TestServer::start(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]).await;
    let user = s.register("alice").await;
    let t = s.tokens("alice").await;
    let session = s.bearer_login("alice").await;
    let mut admin = Client::with_bearer(&s.url, ADMIN_KEY);
    s.client()
        .post("/v1/tokens/introspect", json!({"token": "x"}))
        .await
        .assert_problem(401, "unauthenticated");
    admin
        .post("/v1/tokens/introspect", json!({}))
        .await
        .assert_problem(400, "invalid_request");

    let r = admin
        .post("/v1/tokens/introspect", json!({"token": t["access_token"]}))
        .await;
    assert_eq!(
        r.body,
        json!({"active": true, "sub": user["id"], "username": "alice", "roles": [], "exp": 1_800_000_600, "iat": 1_800_000_000, "token_type": "access_token", "sid": parts(t["access_token"].as_str().unwrap()).1["sid"]})
    );
    let r = admin
        .post(
            "/v1/tokens/introspect",
            json!({"token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(r.body["token_type"], "refresh_token");
    assert_eq!(r.body["exp"], 1_800_000_000 + 30 * 86400);
    let r = admin
        .post("/v1/tokens/introspect", json!({"token": session}))
        .await;
    assert_eq!(r.body["token_type"], "session");
    assert_eq!(r.body["exp"], 1_800_000_000 + 1800);

    s.client()
        .post("/v1/tokens/revoke", json!({"token": t["access_token"]}))
        .await;
    let r = admin
        .post("/v1/tokens/introspect", json!({"token": t["access_token"]}))
        .await;
    assert_eq!(r.body, json!({"active": false}));
    assert_eq!(
        admin
            .post("/v1/tokens/introspect", json!({"token": "garbage"}))
            .await
            .body,
        json!({"active": false})
    );
}

#[tokio::test]
async fn password_change_and_admin_revoke_kill_jwts_within_the_same_second() {
    let s = TestServer::start(&[("TESSERA_ADMIN_KEY", ADMIN_KEY)]).await;
    let user = s.register("alice").await;
    let mine = s.tokens("alice").await;
    let other = s.tokens("alice").await;
    let session = s.bearer_login("alice").await;
    let mut c = Client::with_bearer(&s.url, mine["access_token"].as_str().unwrap());
    let r = c
        .post(
            "/v1/password",
            json!({"current_password": PASSWORD, "new_password": "another password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    me(&s, other["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "invalid_token");
    refresh(&s, other["refresh_token"].as_str().unwrap())
        .await
        .assert_problem(400, "invalid_grant");
    me(&s, &session)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        me(&s, mine["access_token"].as_str().unwrap()).await.status,
        StatusCode::OK,
        "the caller's family stays"
    );
    assert_eq!(
        refresh(&s, mine["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );

    let id = user["id"].as_str().unwrap();
    let r = Client::with_bearer(&s.url, ADMIN_KEY)
        .send(
            Method::POST,
            &format!("/v1/admin/users/{id}/revoke"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    me(&s, mine["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn roles_that_would_overflow_the_token_are_refused() {
    let s = TestServer::start(&[
        ("TESSERA_ADMIN_KEY", ADMIN_KEY),
        ("TESSERA_TOKEN_MAX_SIZE", "600"),
    ])
    .await;
    let user = s.register("alice").await;
    let path = format!("/v1/admin/users/{}/roles", user["id"].as_str().unwrap());
    let mut admin = Client::with_bearer(&s.url, ADMIN_KEY);
    let many: Vec<String> = (0..40).map(|i| format!("role-number-{i}")).collect();
    admin
        .send(Method::PUT, &path, Some(json!({"roles": many})), &[])
        .await
        .assert_problem(400, "token_too_large");
    let r = admin
        .send(Method::PUT, &path, Some(json!({"roles": ["teller"]})), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = s.tokens("alice").await;
    let at = t["access_token"].as_str().unwrap();
    assert!(at.len() <= 600, "{}", at.len());
    assert_eq!(parts(at).1["roles"], json!(["teller"]));
}

#[tokio::test]
async fn every_algorithm_round_trips_and_jwks_publishes_only_public_keys() {
    for (alg, kty) in [
        ("EdDSA", Some("OKP")),
        ("ES256", Some("EC")),
        ("RS256", Some("RSA")),
        ("HS256", None),
    ] {
        let s = TestServer::start(&[("TESSERA_TOKEN_ALGORITHM", alg)]).await;
        s.register("alice").await;
        let at = s.access_token("alice").await;
        assert_eq!(parts(&at).0["alg"], alg);
        assert_eq!(me(&s, &at).await.status, StatusCode::OK, "{alg}");
        let r = s.client().get("/.well-known/jwks.json").await;
        assert_eq!(r.header("cache-control"), "public, max-age=60");
        let keys = r.body["keys"].as_array().unwrap().clone();
        match kty {
            Some(kty) => {
                assert_eq!(keys.len(), 1, "{alg}");
                assert_eq!(keys[0]["kty"], kty);
                assert_eq!(keys[0]["alg"], alg);
                assert_eq!(keys[0]["use"], "sig");
                assert_eq!(keys[0]["kid"], parts(&at).0["kid"]);
                assert!(keys[0].get("d").is_none() && keys[0].get("k").is_none());
            }
            None => assert!(keys.is_empty(), "shared secrets never appear: {keys:?}"),
        }
    }
}

#[tokio::test]
async fn key_rotation_publishes_ahead_and_keeps_old_tokens_until_they_expire() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let access = || async { s.access_token("alice").await };
    let old = access().await;
    let auth = s.server.as_ref().unwrap().auth.clone();
    let new_key = auth.rotate_keys().await.unwrap();
    let jwks_len = || async {
        s.client().get("/.well-known/jwks.json").await.body["keys"]
            .as_array()
            .unwrap()
            .len()
    };
    // Published at once, signing only after token.key_publish_ahead (2 min by default).
    assert_eq!(jwks_len().await, 2);
    let during = access().await;
    assert_eq!(parts(&during).0["kid"], parts(&old).0["kid"]);

    s.advance(120);
    auth.sync().await.unwrap();
    let new = access().await;
    assert_eq!(parts(&new).0["kid"], new_key.kid.as_str());
    assert_eq!(me(&s, &old).await.status, StatusCode::OK);

    // The old key retires once the last token it signed (at 120 s) has expired: 120 + 600 + 30.
    s.advance(600 + 30);
    auth.sync().await.unwrap();
    let keys = s.client().get("/.well-known/jwks.json").await.body["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["kid"], new_key.kid.as_str());
    me(&s, &during).await.assert_problem(401, "invalid_token");
}

/// Builds a token from parts, signing `header.payload` with HMAC-SHA-256 under `secret`.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(tag.as_ref()))
}

/// Signs `header.payload` (the payload as raw bytes) with an Ed25519 key given as PKCS#8.
fn ed25519(header: &Value, payload: &[u8], pkcs8: &[u8]) -> String {
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8).expect("an Ed25519 key");
    let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
    let signature = pair.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(signature.as_ref()))
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let s = TestServer::start(&[]).await;
    s.register("alice").await;
    let at = s.access_token("alice").await;
    let (header, claims) = parts(&at);
    let segs: Vec<&str> = at.split('.').collect();
    let (h64, p64, s64) = (segs[0], segs[1], segs[2]);
    let jwks = s.client().get("/.well-known/jwks.json").await.body;
    let public = B64.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    // The server's own signing key, from its store: each forgery below is signed with it (or
    // says why not), so that exactly one thing is wrong and that check is the one exercised.
    let auth = s.server.as_ref().unwrap().auth.clone();
    let keys = auth.stores().keys.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    let real = keys[0].private_der.clone();
    let sign = |h: &Value, c: &Value| ed25519(h, c.to_string().as_bytes(), &real);
    // Re-signed as it is, the token is accepted: the signing here is the server's own.
    assert_eq!(me(&s, &sign(&header, &claims)).await.status, StatusCode::OK);

    let with_claim = |name: &str, value: Value| {
        let mut c = claims.clone();
        c[name] = value;
        c
    };
    let with_header = |name: &str, value: Value| {
        let mut h = header.clone();
        h[name] = value;
        h
    };
    let now = claims["iat"].as_i64().unwrap();
    let attacker =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let attacker_public = {
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(attacker.as_ref()).unwrap();
        B64.encode(pair.public_key().as_ref())
    };
    let attacker_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": attacker_public});

    // A token from another Tessera (another key, same kid format).
    let elsewhere = TestServer::start(&[]).await;
    elsewhere.register("alice").await;
    let foreign = elsewhere.access_token("alice").await;
    let foreign_sig = foreign.rsplit('.').next().unwrap();
    let mut admin_claims = claims.clone();
    admin_claims["roles"] = json!(["admin"]);
    let enc = |v: &Value| B64.encode(v.to_string());

    let cases: Vec<(&str, String, &str)> = vec![
        // With a signature segment, so that the algorithm check is what refuses them.
        (
            "alg none",
            format!("{}.{p64}.{s64}", enc(&with_header("alg", json!("none")))),
            "algorithm not allowed",
        ),
        (
            "alg nOnE",
            format!("{}.{p64}.{s64}", enc(&with_header("alg", json!("nOnE")))),
            "algorithm not allowed",
        ),
        (
            "alg none, unsigned",
            format!("{}.{p64}.", enc(&with_header("alg", json!("none")))),
            "malformed token",
        ),
        (
            "HS256 keyed with the public key",
            hs256(&with_header("alg", json!("HS256")), &claims, &public),
            "algorithm not allowed",
        ),
        // The genuine signature over other claims: the signature check alone refuses it.
        (
            "payload edited",
            format!("{h64}.{}.{s64}", enc(&admin_claims)),
            "bad signature",
        ),
        (
            "signature stripped",
            format!("{h64}.{p64}."),
            "malformed token",
        ),
        (
            "signature of the wrong length",
            format!("{h64}.{p64}.{}", B64.encode([7u8; 32])),
            "bad signature",
        ),
        (
            "signature of another key",
            format!("{h64}.{p64}.{foreign_sig}"),
            "bad signature",
        ),
        ("token of another server", foreign.clone(), "unknown key"),
        (
            "kid path injection",
            sign(&with_header("kid", json!("../../../../dev/null")), &claims),
            "unknown key",
        ),
        (
            "kid SQL injection",
            sign(&with_header("kid", json!("' OR 1=1 --")), &claims),
            "unknown key",
        ),
        (
            "no kid",
            sign(
                &json!({"alg": header["alg"], "typ": header["typ"]}),
                &claims,
            ),
            "unknown key",
        ),
        (
            "typ JWT",
            sign(&with_header("typ", json!("JWT")), &claims),
            "wrong token type",
        ),
        // The attacker signs with its own key and names it in the header: keys in the header
        // are ignored, so the signature is checked with the server's key and fails.
        (
            "embedded jwk",
            ed25519(
                &with_header("jwk", attacker_jwk.clone()),
                claims.to_string().as_bytes(),
                attacker.as_ref(),
            ),
            "bad signature",
        ),
        (
            "jku",
            ed25519(
                &with_header("jku", json!("https://evil.example/jwks.json")),
                claims.to_string().as_bytes(),
                attacker.as_ref(),
            ),
            "bad signature",
        ),
        (
            "invalid base64url",
            "!!!.???.***".to_owned(),
            "malformed token",
        ),
        (
            "non-JSON header",
            format!("{}.{p64}.{s64}", B64.encode("not json")),
            "malformed token",
        ),
        (
            "non-JSON payload",
            ed25519(&header, b"[1,2", &real),
            "invalid claims",
        ),
        (
            "exp as a string",
            sign(&header, &with_claim("exp", json!((now + 600).to_string()))),
            "invalid claims",
        ),
        (
            "huge exp",
            sign(&header, &with_claim("exp", json!(1e30))),
            "invalid claims",
        ),
        (
            "no sub",
            sign(&header, &{
                let mut c = claims.clone();
                c.as_object_mut().unwrap().remove("sub");
                c
            }),
            "invalid claims",
        ),
        (
            "expired beyond the leeway",
            sign(&header, &with_claim("exp", json!(now - 31))),
            "token expired",
        ),
        (
            "nbf ahead beyond the leeway",
            sign(&header, &with_claim("nbf", json!(now + 31))),
            "token not yet valid",
        ),
        (
            "iat ahead beyond the leeway",
            sign(&header, &with_claim("iat", json!(now + 31))),
            "token not yet valid",
        ),
        (
            "another issuer",
            sign(&header, &with_claim("iss", json!("someone-else"))),
            "wrong issuer",
        ),
        (
            "another audience",
            sign(&header, &with_claim("aud", json!(["upstream"]))),
            "wrong audience",
        ),
        (
            "a subject that does not exist",
            sign(&header, &with_claim("sub", json!("AAAAAAAAAAAAAAAAAAAAAA"))),
            "unknown subject",
        ),
        (
            "16 KiB token",
            format!("{h64}.{}.{s64}", "A".repeat(16 * 1024)),
            "token too large",
        ),
    ];
    for (name, token, detail) in cases {
        let r = me(&s, &token).await;
        assert_eq!(r.status.as_u16(), 401, "{name}: {}", r.text);
        assert_eq!(r.code(), "invalid_token", "{name}");
        assert_eq!(r.body["detail"], detail, "{name}");
    }
    // Not shaped like a JWT at all (a JWT has two dots): an unknown credential.
    for token in [format!("{h64}.{p64}"), format!("{at}.{s64}")] {
        me(&s, &token).await.assert_problem(401, "unauthenticated");
    }
    // Keys in the header are ignored either way: the server's own signature still holds.
    let ignored = sign(&with_header("jwk", attacker_jwk), &claims);
    assert_eq!(me(&s, &ignored).await.status, StatusCode::OK);
    assert_eq!(
        me(&s, &at).await.status,
        StatusCode::OK,
        "the genuine token still works"
    );
}

#[tokio::test]
async fn forward_auth_mints_an_upstream_token() {
    let s = TestServer::start(&[("TESSERA_FORWARD_AUTH_MINT_JWT", "true")]).await;
    s.register("alice").await;
    let mut c = s.login("alice").await;
    let csrf = c.csrf.take().unwrap();
    let r = c.get("/v1/auth").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (_, claims) = parts(r.header("x-auth-token"));
    assert_eq!(claims["aud"], "upstream");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    let session = c.get("/v1/sessions/current").await.body["session"].clone();
    assert_eq!(claims["sid"], session["id"]);

    // The forwarded request's method decides whether CSRF applies. A client-set
    // X-Forwarded-Method cannot hide a proxy's X-Original-Method, and a method that does not
    // parse counts as unsafe.
    let unsafe_forwards: [&[(&str, &str)]; 3] = [
        &[("x-forwarded-method", "POST")],
        &[("x-forwarded-method", "GET"), ("x-original-method", "POST")],
        &[("x-forwarded-method", "P O S T")],
    ];
    for headers in unsafe_forwards {
        c.send(Method::GET, "/v1/auth", None, headers)
            .await
            .assert_problem(403, "csrf_failed");
    }
    let ok = c
        .send(
            Method::GET,
            "/v1/auth",
            None,
            &[("x-original-method", "DELETE"), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let jwt = s.access_token("alice").await;
    let r = Client::with_bearer(&s.url, &jwt).get("/v1/auth").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        parts(r.header("x-auth-token")).1["sid"],
        parts(&jwt).1["sid"]
    );
}

#[tokio::test]
async fn tokens_verify_after_a_restart() {
    let mut s = TestServer::start(&[]).await;
    s.register("alice").await;
    let t = s.tokens("alice").await;
    s.server.take().unwrap().shutdown().await.unwrap();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = TestServer::start_in(dir, &[]).await;
    assert_eq!(
        me(&s2, t["access_token"].as_str().unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        refresh(&s2, t["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let mut s = TestServer::start(&[]).await;
    s.register("alice").await;
    let t = s.tokens("alice").await;
    s.client()
        .post("/v1/tokens/revoke", json!({"token": t["access_token"]}))
        .await;
    s.server.take().unwrap().shutdown().await.unwrap();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    let s2 = TestServer::start_in(dir, &[]).await;
    me(&s2, t["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "invalid_token");
}
