//! The event stream: published after each commit, fanned out to every
//! subscriber (gRPC stream, server-sent events). A subscriber that falls
//! more than the buffer behind is told how many events it missed.

use crate::db::now_ms;
use crate::model::{Event, EventKind};
use e4_proto::Id;
use tokio::sync::broadcast;

/// Events kept for slow subscribers.
pub const BUFFER: usize = 4096;

/// Fan-out of events.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus with no subscriber yet.
    pub fn new() -> EventBus {
        EventBus {
            tx: broadcast::channel(BUFFER).0,
        }
    }

    /// Publish (no subscriber is fine).
    pub fn publish(&self, ev: Event) {
        let _ = self.tx.send(ev);
    }

    /// Shorthand for an event about a client and/or topic.
    pub fn emit(&self, kind: EventKind, client: Option<(&str, Id)>, topic: Option<&str>) {
        self.publish(Event {
            kind,
            client: client.map(|c| c.0.to_string()),
            client_id: client.map(|c| c.1),
            topic: topic.map(str::to_string),
            rule: None,
            detail: None,
            timestamp: now_ms(),
        });
    }

    /// An event about an automation rule.
    pub fn emit_rule(&self, kind: EventKind, rule: &str, detail: String) {
        self.publish(Event {
            kind,
            client: None,
            client_id: None,
            topic: None,
            rule: Some(rule.to_string()),
            detail: Some(detail),
            timestamp: now_ms(),
        });
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
