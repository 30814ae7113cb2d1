//! Interoperability: access tokens verify with an independent JWT library of another ecosystem
//! (Python's PyJWT) using nothing but the published JWKS.

use crate::common::TestServer;
use serde_json::{Value, json};
use tessera_core::Timestamp;

/// Verifies `token` with PyJWT against `jwks`, for audience and issuer `tessera`; the claims.
const VERIFY: &str = r#"
import json, sys
import jwt
jwks, token = json.loads(sys.argv[1]), sys.argv[2]
kid = jwt.get_unverified_header(token)["kid"]
jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
key = jwt.PyJWK(jwk).key
claims = jwt.decode(token, key=key, algorithms=[jwk["alg"]], audience="tessera", issuer="tessera")
print(json.dumps(claims))
"#;

fn pyjwt(jwks: &Value, token: &str) -> Result<Value, String> {
    let out = std::process::Command::new("python3")
        .args(["-c", VERIFY, &jwks.to_string(), token])
        .output()
        .expect("python3 runs (scripts/test installs it with PyJWT and cryptography)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("claims JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn check(algorithm: &str) {
    let s = TestServer::start(&[("TESSERA_TOKEN_ALGORITHM", algorithm)]).await;
    // PyJWT checks times against the real clock.
    s.clock.set(Timestamp::now());
    s.register("alice").await;
    let token = s.tokens("alice").await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let jwks = s.client().get("/.well-known/jwks.json").await.body;

    let claims = pyjwt(&jwks, &token)
        .unwrap_or_else(|e| panic!("{algorithm}: PyJWT refused a genuine token: {e}"));
    assert_eq!(claims["roles"], json!([]));
    assert_eq!(claims["iss"], "tessera");

    // The same library refuses the token once a byte of its payload changes.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    assert!(
        pyjwt(&jwks, &parts.join(".")).is_err(),
        "{algorithm}: a tampered token verified"
    );
}

#[tokio::test]
async fn eddsa_tokens_verify_with_pyjwt() {
    check("EdDSA").await;
}

#[tokio::test]
async fn es256_tokens_verify_with_pyjwt() {
    check("ES256").await;
}

#[tokio::test]
async fn rs256_tokens_verify_with_pyjwt() {
    check("RS256").await;
}
