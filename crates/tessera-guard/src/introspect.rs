//! Session tokens, checked by Tessera's introspection with the app key, each answer reused for
//! `introspection_cache_ttl` and dropped at once by a revocation event naming its session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;

use crate::error::GuardError;
use crate::guard::Inner;
use crate::user::{AuthKind, CurrentUser};

/// At most this many answers are cached; past it the cache is emptied (answers live 1 s anyway).
const CAPACITY: usize = 10_000;
/// One introspection may take this long.
const TIMEOUT: Duration = Duration::from_secs(3);

type Digest = [u8; 32];

struct Entry {
    user: Option<CurrentUser>,
    cached_at_ms: i64,
}

#[derive(Default)]
struct State {
    by_digest: HashMap<Digest, Entry>,
    /// Every cached session's digests by its `sid`, for the feed.
    by_sid: HashMap<String, Vec<Digest>>,
}

pub(crate) struct SessionCache {
    state: Mutex<State>,
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

fn digest(token: &str) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl SessionCache {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
        }
    }

    /// The user behind session token `token`, from the cache or from Tessera.
    pub(crate) async fn check(
        &self,
        inner: &Inner,
        token: &str,
    ) -> Result<CurrentUser, GuardError> {
        let key = digest(token);
        let ttl =
            i64::try_from(inner.settings.introspection_cache_ttl.as_millis()).unwrap_or(i64::MAX);
        let now = inner.now_ms();
        if ttl > 0
            && let Ok(state) = self.state.lock()
            && let Some(entry) = state.by_digest.get(&key)
            && now.saturating_sub(entry.cached_at_ms) < ttl
        {
            return entry.user.clone().ok_or(GuardError::Unauthenticated);
        }
        let user = self.introspect(inner, token).await?;
        if ttl > 0 {
            self.insert(key, user.clone(), now);
        }
        user.ok_or(GuardError::Unauthenticated)
    }

    async fn introspect(
        &self,
        inner: &Inner,
        token: &str,
    ) -> Result<Option<CurrentUser>, GuardError> {
        inner
            .counters
            .introspections
            .fetch_add(1, Ordering::Relaxed);
        let unavailable = |_| GuardError::Unavailable("Tessera cannot be reached");
        let response = inner
            .http
            .post(inner.url("/v1/tokens/introspect"))
            .bearer_auth(inner.app_key())
            .json(&serde_json::json!({ "token": token }))
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(unavailable)?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "Tessera's introspection refused the guard");
            return Err(GuardError::Unavailable("Tessera's introspection failed"));
        }
        let answer: Introspection = response.json().await.map_err(unavailable)?;
        // Only session tokens are taken this way: a refresh token is no credential for an app.
        if !answer.active || answer.token_type.as_deref() != Some("session") {
            return Ok(None);
        }
        let Some(id) = answer.sub else {
            return Ok(None);
        };
        Ok(Some(CurrentUser {
            id,
            username: answer.username,
            roles: answer.roles,
            auth: AuthKind::Session,
            sid: answer.sid,
            jti: None,
            expires_at: answer.exp.unwrap_or_default(),
        }))
    }

    fn insert(&self, key: Digest, user: Option<CurrentUser>, now: i64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.by_digest.len() >= CAPACITY {
            *state = State::default();
        }
        if let Some(sid) = user.as_ref().and_then(|u| u.sid.clone()) {
            state.by_sid.entry(sid).or_default().push(key);
        }
        state.by_digest.insert(
            key,
            Entry {
                user,
                cached_at_ms: now,
            },
        );
    }

    /// A revocation event for `sid`: its cached answers go.
    pub(crate) fn forget_sid(&self, sid: &str) {
        if let Ok(mut state) = self.state.lock()
            && let Some(keys) = state.by_sid.remove(sid)
        {
            for key in keys {
                state.by_digest.remove(&key);
            }
        }
    }

    /// Drops every cached answer (the feed reconnected with a full snapshot: what was missed
    /// meanwhile is unknown).
    pub(crate) fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::default();
        }
    }
}
