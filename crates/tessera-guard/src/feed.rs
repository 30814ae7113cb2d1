//! Following Tessera's revocation feed (`GET /v1/revocations`, Server-Sent Events).
//!
//! The feed first sends every live revocation, then a `ready` event, then each new revocation
//! as it happens. The follower reconnects with `Last-Event-ID` after any failure (Tessera
//! resumes after that id, or sends the whole snapshot again), and drops a connection that has
//! been silent for `feed_idle_timeout` (Tessera sends a keep-alive comment every 15 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Notify;

use crate::guard::Inner;

const NEVER: i64 = i64::MIN / 2;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Sets {
    jtis: HashMap<String, i64>,
    sids: HashMap<String, i64>,
}

/// The revocations the guard knows and how recently the feed was heard.
pub(crate) struct Revocations {
    sets: RwLock<Sets>,
    connected: AtomicBool,
    heard_at_ms: AtomicI64,
    ready: Notify,
    have_snapshot: AtomicBool,
}

#[derive(Deserialize)]
struct Revoked {
    kind: String,
    id: String,
    /// Unix seconds after which no token naming the id can be valid anyway.
    exp: i64,
}

impl Revocations {
    pub(crate) fn new() -> Self {
        Self {
            sets: RwLock::new(Sets::default()),
            connected: AtomicBool::new(false),
            heard_at_ms: AtomicI64::new(NEVER),
            ready: Notify::new(),
            have_snapshot: AtomicBool::new(false),
        }
    }

    pub(crate) fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Whether JWTs may be accepted: the feed is connected (after its snapshot), or was heard
    /// within the staleness bound.
    pub(crate) fn fresh(&self, inner: &Inner) -> bool {
        if !self.have_snapshot.load(Ordering::Acquire) {
            return false;
        }
        if self.connected() {
            return true;
        }
        let bound = i64::try_from(inner.settings.max_staleness.as_millis()).unwrap_or(i64::MAX);
        inner
            .now_ms()
            .saturating_sub(self.heard_at_ms.load(Ordering::Acquire))
            <= bound
    }

    pub(crate) fn is_revoked(&self, jti: Option<&str>, sid: Option<&str>, now_ms: i64) -> bool {
        let Ok(sets) = self.sets.read() else {
            return true;
        };
        let held = |map: &HashMap<String, i64>, id: Option<&str>| {
            id.and_then(|id| map.get(id))
                .is_some_and(|until| now_ms < *until)
        };
        held(&sets.jtis, jti) || held(&sets.sids, sid)
    }

    pub(crate) async fn wait_for_snapshot(&self) {
        loop {
            let notified = self.ready.notified();
            if self.have_snapshot.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    fn heard(&self, now_ms: i64) {
        self.heard_at_ms.fetch_max(now_ms, Ordering::AcqRel);
    }

    fn insert(&self, revoked: &Revoked, now_ms: i64) {
        let until = revoked.exp.saturating_mul(1000);
        let Ok(mut sets) = self.sets.write() else {
            return;
        };
        let map = match revoked.kind.as_str() {
            "jti" => &mut sets.jtis,
            "sid" => &mut sets.sids,
            _ => return,
        };
        let entry = map.entry(revoked.id.clone()).or_insert(until);
        *entry = (*entry).max(until);
        if map.len() % 1024 == 0 {
            map.retain(|_, until| now_ms < *until);
        }
    }
}

/// The follower task: runs until the guard is dropped.
pub(crate) async fn follow(inner: Weak<Inner>) {
    let mut last_id: Option<String> = None;
    let mut pause = FIRST_PAUSE;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match connection(&strong, &mut last_id).await {
            Ok(()) => tracing::info!("Tessera's revocation feed closed; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "Tessera's revocation feed failed; reconnecting"),
        }
        let was_ready = strong.revocations.connected.swap(false, Ordering::AcqRel);
        drop(strong);
        if was_ready {
            pause = FIRST_PAUSE;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// One connection: reads events until it fails or goes silent.
async fn connection(inner: &Arc<Inner>, last_id: &mut Option<String>) -> Result<(), String> {
    let mut request = inner
        .http
        .get(inner.url("/v1/revocations"))
        .bearer_auth(inner.app_key())
        .header(reqwest::header::ACCEPT, "text/event-stream");
    if let Some(id) = last_id.as_deref() {
        request = request.header("Last-Event-ID", id);
    }
    let mut response = tokio::time::timeout(inner.settings.feed_idle_timeout, request.send())
        .await
        .map_err(|_| "no answer".to_owned())?
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the feed answered {}", response.status()));
    }
    inner
        .counters
        .feed_connections
        .fetch_add(1, Ordering::Relaxed);
    let mut parser = Parser::default();
    loop {
        let chunk = tokio::time::timeout(inner.settings.feed_idle_timeout, response.chunk())
            .await
            .map_err(|_| "silent for too long".to_owned())?
            .map_err(|e| e.to_string())?;
        let Some(chunk) = chunk else {
            return Ok(());
        };
        inner.revocations.heard(inner.now_ms());
        for event in parser.feed(&chunk) {
            if let Some(id) = event.id {
                *last_id = Some(id);
            }
            apply(inner, &event.name, &event.data);
        }
    }
}

fn apply(inner: &Inner, name: &str, data: &str) {
    let now = inner.now_ms();
    let r = &inner.revocations;
    match name {
        "revoked" => match serde_json::from_str::<Revoked>(data) {
            Ok(revoked) => {
                inner
                    .counters
                    .revocation_events
                    .fetch_add(1, Ordering::Relaxed);
                r.insert(&revoked, now);
                if revoked.kind == "sid" {
                    inner.sessions.forget_sid(&revoked.id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "unreadable revocation event"),
        },
        "ready" => {
            let snapshot = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v["snapshot"].as_bool())
                .unwrap_or(true);
            if snapshot {
                // What happened while the feed was away is unknown: cached answers go.
                inner.sessions.clear();
            }
            r.heard(now);
            r.connected.store(true, Ordering::Release);
            r.have_snapshot.store(true, Ordering::Release);
            r.ready.notify_waiters();
        }
        _ => {}
    }
}

/// One dispatched Server-Sent Event.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    name: String,
    data: String,
    id: Option<String>,
}

/// An incremental `text/event-stream` parser (the fields this feed uses: `event`, `data`, `id`).
#[derive(Default)]
struct Parser {
    line: Vec<u8>,
    name: String,
    data: String,
    id: Option<String>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if !self.data.is_empty() || self.id.is_some() {
                    out.push(Event {
                        name: std::mem::take(&mut self.name),
                        data: std::mem::take(&mut self.data),
                        id: self.id.take(),
                    });
                }
                self.name.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => value.clone_into(&mut self.name),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                "id" => self.id = Some(value.to_owned()),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_put_together() {
        let mut p = Parser::default();
        assert!(p.feed(b": keep-alive\n\nevent: rev").is_empty());
        let events = p.feed(b"oked\r\ndata: {\"a\":1}\nid: e.7\n\n");
        assert_eq!(
            events,
            vec![Event {
                name: "revoked".into(),
                data: "{\"a\":1}".into(),
                id: Some("e.7".into())
            }]
        );
    }
}
