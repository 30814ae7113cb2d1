//! Revocations as they happen, for the apps' feed (`GET /v1/revocations`): every revocation
//! this instance learns (its own, or another's through the change feed) gets a sequence number,
//! goes to the subscribers, and stays in a bounded buffer so a client that reconnects can resume.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::store::Revocation;

/// How many recent events are kept for resuming; also the broadcast channel's capacity.
pub const RECENT_EVENTS: usize = 4096;

/// One revocation, numbered in this instance's order.
#[derive(Clone, Debug)]
pub struct RevocationEvent {
    /// Its number: 1, 2, ... in the order this instance learnt them.
    pub seq: u64,
    /// The revocation.
    pub revocation: Revocation,
}

struct Recent {
    last_seq: u64,
    events: VecDeque<RevocationEvent>,
}

/// The revocations this instance learns, numbered, broadcast and briefly remembered.
pub struct RevocationEvents {
    epoch: String,
    sender: broadcast::Sender<RevocationEvent>,
    recent: Mutex<Recent>,
    /// Turned true when the server shuts down: every subscriber's stream ends then.
    closing: tokio::sync::watch::Sender<bool>,
}

impl RevocationEvents {
    pub(super) fn new() -> Self {
        let mut bytes = [0u8; 8];
        // A random epoch tells this process's event ids from another's (or an earlier run's).
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let epoch = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            epoch,
            sender: broadcast::channel(RECENT_EVENTS).0,
            recent: Mutex::new(Recent {
                last_seq: 0,
                events: VecDeque::with_capacity(RECENT_EVENTS),
            }),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Ends every subscriber's stream: called when the server shuts down, since a stream that
    /// never ends would keep its connection, and the graceful shutdown, waiting forever.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`Self::close`] has been called.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    /// This process's epoch: event ids are `EPOCH.SEQ`.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Numbers `revocation`, keeps it in the buffer and sends it to every subscriber.
    pub(super) fn send(&self, revocation: Revocation) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        recent.last_seq += 1;
        let event = RevocationEvent {
            seq: recent.last_seq,
            revocation,
        };
        if recent.events.len() == RECENT_EVENTS {
            recent.events.pop_front();
        }
        recent.events.push_back(event.clone());
        // No subscriber is no error.
        let _ = self.sender.send(event);
    }

    /// A subscription for a client starting from scratch: the receiver, and the number of the
    /// last event sent before it (a snapshot read after this call holds everything up to it).
    pub fn subscribe(&self) -> (broadcast::Receiver<RevocationEvent>, u64) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        (self.sender.subscribe(), recent.last_seq)
    }

    /// A subscription resuming after event id `last_event_id`: the receiver and every buffered
    /// event after it, or `None` when the id is not one this process can resume from (another
    /// process's, too old, or not an id at all).
    pub fn resume(
        &self,
        last_event_id: &str,
    ) -> Option<(broadcast::Receiver<RevocationEvent>, Vec<RevocationEvent>)> {
        let (epoch, seq) = last_event_id.split_once('.')?;
        if epoch != self.epoch {
            return None;
        }
        let seq: u64 = seq.parse().ok()?;
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = recent.events.front().map_or(recent.last_seq + 1, |e| e.seq);
        if seq > recent.last_seq || seq + 1 < oldest {
            return None;
        }
        let missed = recent
            .events
            .iter()
            .filter(|e| e.seq > seq)
            .cloned()
            .collect();
        Some((self.sender.subscribe(), missed))
    }
}
