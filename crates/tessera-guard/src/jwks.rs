//! Tessera's verification keys and the local JWT check.
//!
//! The JWKS is fetched at start and again when its `Cache-Control: max-age` has run out, or when
//! a token names a `kid` the guard does not know; fetches are at least
//! `jwks_refetch_interval` apart whatever the tokens say, so forged `kid`s cannot make the guard
//! hammer Tessera. Each key is pinned to the one algorithm its JWK's `alg` names.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::GuardError;
use crate::guard::Inner;
use crate::user::{AuthKind, CurrentUser};

/// No token larger than this is parsed.
const MAX_TOKEN_BYTES: usize = 8192;
/// One JWKS request may take this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

struct Key {
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, std::sync::Arc<Key>>,
    expires_at_ms: i64,
}

pub(crate) struct KeySet {
    state: RwLock<State>,
    fetching: tokio::sync::Mutex<()>,
    last_fetch_ms: AtomicI64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl KeySet {
    pub(crate) fn new() -> Self {
        Self {
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            last_fetch_ms: AtomicI64::new(i64::MIN / 2),
        }
    }

    fn key(&self, kid: &str) -> Option<std::sync::Arc<Key>> {
        self.state.read().ok()?.keys.get(kid).cloned()
    }

    fn may_fetch(&self, inner: &Inner) -> bool {
        let interval =
            i64::try_from(inner.settings.jwks_refetch_interval.as_millis()).unwrap_or(i64::MAX);
        inner
            .now_ms()
            .saturating_sub(self.last_fetch_ms.load(Ordering::Acquire))
            >= interval
    }

    /// Fetches the JWKS now and replaces the keys (the caller holds the rate limit).
    pub(crate) async fn refresh(&self, inner: &Inner) -> Result<(), String> {
        self.last_fetch_ms.store(inner.now_ms(), Ordering::Release);
        inner.counters.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let response = inner
            .http
            .get(inner.url("/.well-known/jwks.json"))
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("JWKS answered {}", response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let set: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in set["keys"].as_array().into_iter().flatten() {
            if let Some((kid, key)) = load_key(jwk) {
                keys.insert(kid, std::sync::Arc::new(key));
            }
        }
        let ttl = max_age.unwrap_or(inner.settings.jwks_refetch_interval);
        let expires_at_ms = inner
            .now_ms()
            .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        if let Ok(mut state) = self.state.write() {
            *state = State {
                keys,
                expires_at_ms,
            };
        }
        Ok(())
    }

    /// A fetch because `kid` is unknown, unless one ran within the refetch interval. Whether
    /// `kid` is known afterwards.
    async fn refetch_for(&self, inner: &Inner, kid: &str) -> bool {
        if !self.may_fetch(inner) {
            return false;
        }
        let _one = self.fetching.lock().await;
        if self.key(kid).is_some() {
            return true;
        }
        if !self.may_fetch(inner) {
            return false;
        }
        if let Err(e) = self.refresh(inner).await {
            tracing::warn!(error = %e, "fetching Tessera's JWKS failed");
        }
        self.key(kid).is_some()
    }

    /// Refreshes a JWKS whose max-age has run out, unless another request is doing it or the
    /// rate limit says not yet. The keys held keep verifying meanwhile.
    async fn refresh_if_expired(&self, inner: &Inner) {
        let expired = self
            .state
            .read()
            .is_ok_and(|s| inner.now_ms() >= s.expires_at_ms);
        if !expired || !self.may_fetch(inner) {
            return;
        }
        if let Ok(_one) = self.fetching.try_lock()
            && let Err(e) = self.refresh(inner).await
        {
            tracing::warn!(error = %e, "refreshing Tessera's JWKS failed");
        }
    }

    /// Verifies a JWT of audience `audience` the way Tessera does, then consults the
    /// revocations.
    pub(crate) async fn verify(
        &self,
        inner: &Inner,
        token: &str,
        audience: &str,
        kind: AuthKind,
    ) -> Result<CurrentUser, GuardError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(GuardError::InvalidToken("token too large"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| GuardError::InvalidToken("malformed token"))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(GuardError::InvalidToken("typ is not at+jwt"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(GuardError::InvalidToken("no kid"))?;
        self.refresh_if_expired(inner).await;
        let key = match self.key(kid) {
            Some(key) => key,
            None if self.refetch_for(inner, kid).await => self
                .key(kid)
                .ok_or(GuardError::InvalidToken("unknown kid"))?,
            None => return Err(GuardError::InvalidToken("unknown kid")),
        };
        if header.alg != key.algorithm {
            return Err(GuardError::InvalidToken(
                "algorithm not allowed for this key",
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        validation.set_issuer(&[&inner.settings.issuer]);
        validation.set_audience(&[audience]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| {
                GuardError::InvalidToken(match e.kind() {
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAlgorithm => "algorithm not allowed for this key",
                    ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                    _ => "invalid token",
                })
            })?
            .claims;
        let now_ms = inner.now_ms();
        let now = now_ms.div_euclid(1000);
        let leeway = i64::try_from(inner.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        if now > claims.exp.saturating_add(leeway) {
            return Err(GuardError::InvalidToken("token expired"));
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(GuardError::InvalidToken("token not yet valid"));
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(GuardError::InvalidToken("token issued in the future"));
        }
        let revocations = &inner.revocations;
        if revocations.is_revoked(claims.jti.as_deref(), claims.sid.as_deref(), now_ms) {
            return Err(GuardError::InvalidToken("token revoked"));
        }
        if !revocations.fresh(inner) {
            return Err(GuardError::Unavailable(
                "the revocation feed has been unreachable for too long",
            ));
        }
        Ok(CurrentUser {
            id: claims.sub,
            username: None,
            roles: claims.roles,
            auth: kind,
            sid: claims.sid,
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }
}

/// A verification key from one JWK: public keys only, each pinned to its `alg`.
fn load_key(jwk: &serde_json::Value) -> Option<(String, Key)> {
    let kid = jwk["kid"].as_str()?.to_owned();
    if jwk
        .get("use")
        .and_then(|u| u.as_str())
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let algorithm = match jwk["alg"].as_str()? {
        "EdDSA" | "Ed25519" => Algorithm::EdDSA,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        _ => return None, // shared-secret or unknown algorithms are never accepted
    };
    let parsed: Jwk = serde_json::from_value(jwk.clone()).ok()?;
    let key = DecodingKey::from_jwk(&parsed).ok()?;
    Some((kid, Key { algorithm, key }))
}

fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=60"), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), None);
    }

    #[test]
    fn shared_secret_keys_are_never_loaded() {
        let jwk = serde_json::json!({"kty":"oct","kid":"h","alg":"HS256","k":"c2VjcmV0"});
        assert!(load_key(&jwk).is_none());
    }
}
