//! The per-room event hub: a registry from room id to a broadcast channel.
//!
//! A channel exists only while someone listens; the last [`Subscription`] to drop removes
//! it. Events for a room nobody watches are dropped, which is safe because every event
//! also lands in the store first, and clients re-read the full state after connecting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// How many events a slow socket may fall behind before it is told to resync.
const BACKLOG: usize = 64;

/// Fans events out to the sockets of one room at a time. Cheap to clone.
#[derive(Clone, Default)]
pub struct EventHub {
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>,
}

impl EventHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `event` (serialised as JSON) to every socket of `room_id`.
    pub fn publish<E: serde::Serialize>(&self, room_id: &str, event: &E) {
        let json: Arc<str> = match serde_json::to_string(event) {
            Ok(s) => s.into(),
            Err(e) => {
                tracing::error!(room_id, "event could not be serialised: {e}");
                return;
            }
        };
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = rooms.get(room_id) {
            // An error only means every receiver left since the lookup; nothing to do.
            let _ = tx.send(json);
        }
    }

    /// Sends `event` to every socket of every room (operator commands such as "reset the
    /// kiosk"). Returns how many rooms had listeners.
    pub fn publish_all<E: serde::Serialize>(&self, event: &E) -> usize {
        let json: Arc<str> = match serde_json::to_string(event) {
            Ok(s) => s.into(),
            Err(e) => {
                tracing::error!("event could not be serialised: {e}");
                return 0;
            }
        };
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        for tx in rooms.values() {
            let _ = tx.send(json.clone());
        }
        rooms.len()
    }

    /// Starts listening to `room_id`. Events published from now on are received.
    pub fn subscribe(&self, room_id: &str) -> Subscription {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let rx = rooms
            .entry(room_id.to_owned())
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe();
        Subscription {
            rx,
            room_id: room_id.to_owned(),
            hub: self.clone(),
        }
    }

    /// How many rooms have at least one listener. For the operator page and tests.
    pub fn watched_rooms(&self) -> usize {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One listener on one room. Dropping it unregisters the room once nobody listens.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<str>>,
    room_id: String,
    hub: EventHub,
}

impl Subscription {
    /// The next event. `Err(Lagged)` means events were skipped and the client should
    /// re-read the state; `Err(Closed)` cannot happen while the hub holds the sender.
    pub async fn recv(&mut self) -> Result<Arc<str>, broadcast::error::RecvError> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut rooms = self.hub.rooms.lock().unwrap_or_else(|p| p.into_inner());
        // Our own receiver is still alive here, so "1" means we are the last listener.
        if rooms
            .get(&self.room_id)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            rooms.remove(&self.room_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    #[tokio::test]
    async fn events_reach_only_their_own_room() {
        let hub = EventHub::new();
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        hub.publish("a", &serde_json::json!({"type": "x"}));
        assert_eq!(&*a.recv().await.unwrap(), r#"{"type":"x"}"#);
        assert!(matches!(b.rx.try_recv(), Err(TryRecvError::Empty)));
    }

    #[tokio::test]
    async fn publish_all_reaches_every_watched_room() {
        let hub = EventHub::new();
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        assert_eq!(hub.publish_all(&"reset"), 2);
        assert_eq!(&*a.recv().await.unwrap(), r#""reset""#);
        assert_eq!(&*b.recv().await.unwrap(), r#""reset""#);
    }

    #[tokio::test]
    async fn last_listener_leaving_removes_the_room() {
        let hub = EventHub::new();
        let first = hub.subscribe("r");
        let second = hub.subscribe("r");
        assert_eq!(hub.watched_rooms(), 1);
        drop(first);
        assert_eq!(hub.watched_rooms(), 1);
        drop(second);
        assert_eq!(hub.watched_rooms(), 0);
        // Publishing to an unwatched room is a no-op, not an error.
        hub.publish("r", &1);
    }

    #[tokio::test]
    async fn a_slow_listener_learns_it_lagged() {
        let hub = EventHub::new();
        let mut slow = hub.subscribe("r");
        for i in 0..BACKLOG + 5 {
            hub.publish("r", &i);
        }
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(5))));
        assert_eq!(&*slow.recv().await.unwrap(), "5");
    }
}
