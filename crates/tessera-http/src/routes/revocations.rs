//! `GET /v1/revocations`: the revocation feed for apps behind Tessera, as Server-Sent Events.
//!
//! A new client first gets every live revocation (`event: revoked`, no id), then `event: ready`
//! with the id `EPOCH.SEQ` of the last revocation the snapshot includes, then each new
//! revocation as this instance learns it (its own, or another instance's through the change
//! feed), each with its id. A client that reconnects with `Last-Event-ID` resumes after it when
//! this instance still holds it in its buffer; any other id gets the whole snapshot again
//! (revocations are idempotent, so a repeat is harmless). A client that falls behind the
//! broadcast channel gets the snapshot again instead of holding memory without bound.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use futures_util::stream::{self, Stream};
use tessera_core::auth::RevocationEvent;
use tessera_core::store::{Revocation, RevokedKind};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::auth::AppKey;
use crate::error::ApiResult;
use crate::state::AppState;

/// How often a comment keeps the stream (and the proxies in between) awake.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /v1/revocations`.
#[utoipa::path(
    get, path = "/v1/revocations", tag = "tokens",
    responses(
        (status = 200, description = "`text/event-stream`: `revoked` events (`{\"kind\":\"jti\"|\"sid\",\"id\",\"exp\",\"expires_at\"}`), then `ready`, then each new revocation; see docs/API.md.", content_type = "text/event-stream", body = String),
        (status = 401, description = "`unauthenticated`: a missing or wrong admin or app key.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`."))),
        (status = 404, description = "`not_found`: neither `admin_key` nor `apps.keys` is configured.", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`store_unavailable`: the revocations cannot be read.", body = crate::openapi::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Whole seconds to wait."))),
    ),
    security(("admin_key" = [])),
)]
pub async fn feed(
    State(state): State<AppState>,
    _: AppKey,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let closed = state.auth().revocation_events().closed();
    let resumed = last_event_id.and_then(|id| state.auth().revocation_events().resume(id));
    let feed = match resumed {
        Some((receiver, missed)) => {
            let last_sent = missed
                .last()
                .map_or_else(|| last_event_id.and_then(seq_of).unwrap_or(0), |e| e.seq);
            let mut pending: VecDeque<Event> =
                missed.iter().map(|e| live_event(&state, e)).collect();
            pending.push_back(ready(&state, last_sent, false));
            Feed {
                state,
                receiver,
                pending,
                last_sent,
            }
        }
        None => {
            let (receiver, last_sent) = state.auth().revocation_events().subscribe();
            let pending = snapshot(&state, last_sent).await?;
            Feed {
                state,
                receiver,
                pending,
                last_sent,
            }
        }
    };
    Ok(Sse::new(events(feed).take_until(closed))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

struct Feed {
    state: AppState,
    receiver: broadcast::Receiver<RevocationEvent>,
    pending: VecDeque<Event>,
    last_sent: u64,
}

fn events(feed: Feed) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(event) = feed.pending.pop_front() {
                return Some((Ok(event), feed));
            }
            match feed.receiver.recv().await {
                Ok(e) if e.seq <= feed.last_sent => {}
                Ok(e) => {
                    feed.last_sent = e.seq;
                    return Some((Ok(live_event(&feed.state, &e)), feed));
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow for the channel: start over from a snapshot.
                    let (receiver, last_sent) = feed.state.auth().revocation_events().subscribe();
                    feed.receiver = receiver;
                    feed.last_sent = last_sent;
                    match snapshot(&feed.state, last_sent).await {
                        Ok(pending) => feed.pending = pending,
                        // The client reconnects and tries again.
                        Err(_) => return None,
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// Every live revocation, then `ready` with the id of `last_seq`.
async fn snapshot(state: &AppState, last_seq: u64) -> ApiResult<VecDeque<Event>> {
    let auth = state.auth();
    let live = auth.stores().revocations.revocations(auth.now()).await?;
    let mut pending: VecDeque<Event> = live.iter().map(revoked).collect();
    pending.push_back(ready(state, last_seq, true));
    Ok(pending)
}

fn revoked(revocation: &Revocation) -> Event {
    let kind = match revocation.kind {
        RevokedKind::AccessToken => "jti",
        RevokedKind::Sid => "sid",
    };
    let ms = revocation.expires_at.as_millis();
    let data = serde_json::json!({
        "kind": kind,
        "id": revocation.id,
        "exp": (ms + 999).div_euclid(1000),
        "expires_at": revocation.expires_at.to_rfc3339(),
    });
    Event::default().event("revoked").data(data.to_string())
}

fn live_event(state: &AppState, event: &RevocationEvent) -> Event {
    revoked(&event.revocation).id(event_id(state, event.seq))
}

fn ready(state: &AppState, seq: u64, snapshot: bool) -> Event {
    Event::default()
        .event("ready")
        .id(event_id(state, seq))
        .data(serde_json::json!({ "snapshot": snapshot }).to_string())
}

fn event_id(state: &AppState, seq: u64) -> String {
    format!("{}.{seq}", state.auth().revocation_events().epoch())
}

fn seq_of(id: &str) -> Option<u64> {
    id.split_once('.')?.1.parse().ok()
}
