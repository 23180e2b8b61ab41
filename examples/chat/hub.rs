//! Who is in which room on this node, and fan-out: a room event is encoded
//! once ([`PreparedMessage`]: one JSON text, one frame) and the same bytes
//! are queued on every member's connection.
//!
//! A member's outbox is bounded: a member whose connection does not take
//! its messages fast enough (a slow reader) is dropped from the room as
//! soon as its outbox is full and flagged `slow`; its session then closes
//! the connection with 1013 and the reason. It never makes the server hold more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rfc6455::PreparedMessage;
use tokio::sync::mpsc;

/// Messages a member may have waiting before it counts as a slow reader.
pub(crate) const OUTBOX: usize = 256;

/// One room event on its way to a member.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// The room it is for (a member that switched rooms skips the old one's).
    pub(crate) room: Arc<str>,
    /// The message's sequence number; 0 for presence and typing.
    pub(crate) seq: u64,
    pub(crate) frame: PreparedMessage,
}

/// A connection in a room.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) outbox: mpsc::Sender<Outbound>,
    /// Set when the member was dropped for not keeping up.
    pub(crate) slow: Arc<AtomicBool>,
}

type Rooms = HashMap<Arc<str>, HashMap<u64, Member>>;

/// The rooms of this node.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    rooms: Mutex<Rooms>,
    next_id: AtomicU64,
}

impl Hub {
    /// A fresh member id.
    pub(crate) fn member_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `member` to `room`; returns the room's name as the hub shares it.
    pub(crate) fn join(&self, room: &str, id: u64, member: Member) -> Arc<str> {
        let mut rooms = self.lock();
        let key = rooms.get_key_value(room).map_or_else(|| Arc::from(room), |(key, _)| Arc::clone(key));
        rooms.entry(Arc::clone(&key)).or_default().insert(id, member);
        key
    }

    /// Takes member `id` out of `room`, if it is still there.
    pub(crate) fn leave(&self, room: &str, id: u64) {
        let mut rooms = self.lock();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// Queues `json` (encoded once) on every member of `room` on this node;
    /// members whose outbox is full are dropped as slow readers.
    pub(crate) fn deliver(&self, room: &str, seq: u64, json: String) {
        let frame = PreparedMessage::new(json);
        let mut rooms = self.lock();
        let Some((key, members)) = rooms.get_key_value(room).map(|(k, _)| Arc::clone(k)).zip(rooms.get_mut(room))
        else {
            return;
        };
        members.retain(|_, member| {
            let item = Outbound { room: Arc::clone(&key), seq, frame: frame.clone() };
            let queued = member.outbox.try_send(item).is_ok();
            if !queued {
                member.slow.store(true, Ordering::Relaxed);
            }
            queued
        });
        if members.is_empty() {
            rooms.remove(room);
        }
    }

    /// How many are in `room` on this node.
    pub(crate) fn local_members(&self, room: &str) -> usize {
        self.lock().get(room).map_or(0, HashMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(capacity: usize) -> (Member, mpsc::Receiver<Outbound>, Arc<AtomicBool>) {
        let (outbox, rx) = mpsc::channel(capacity);
        let slow = Arc::new(AtomicBool::new(false));
        (Member { outbox, slow: Arc::clone(&slow) }, rx, slow)
    }

    #[test]
    fn one_frame_for_every_member_and_slow_readers_are_dropped() {
        let hub = Hub::default();
        let (ann, mut ann_rx, _) = member(8);
        let (bob, mut bob_rx, bob_slow) = member(2);
        hub.join("r", 1, ann);
        hub.join("r", 2, bob);
        hub.deliver("r", 1, r#"{"type":"message"}"#.into());
        let (a, b) = (ann_rx.try_recv().unwrap(), bob_rx.try_recv().unwrap());
        assert_eq!((a.seq, b.seq, &*a.room), (1, 1, "r"));
        assert!(std::ptr::eq(a.frame.frame().as_ptr(), b.frame.frame().as_ptr()), "encoded once, shared");
        for seq in 2..6 {
            hub.deliver("r", seq, "{}".into()); // bob does not read
        }
        assert!(bob_slow.load(Ordering::Relaxed));
        assert_eq!(hub.local_members("r"), 1);
        hub.leave("r", 1);
        assert_eq!(hub.local_members("r"), 0);
        hub.deliver("r", 7, "{}".into()); // nobody there: nothing happens
    }
}
