//! Who is in which room on this node, and fan-out: a room event is encoded
//! once ([`PreparedMessage`]: one JSON text, one frame) and the same bytes
//! are queued on every member's connection.
//!
//! A member's outbox is bounded: a member whose connection does not take
//! its messages fast enough (a slow reader) is dropped from the room as
//! soon as its outbox is full, flagged `slow`, and its session closes the
//! connection with 1013 and the reason. It never makes the server hold more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rfc6455::PreparedMessage;
use tokio::sync::mpsc;

use crate::protocol::{RoomInfo, ServerMsg};

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
    pub(crate) nick: String,
    pub(crate) outbox: mpsc::Sender<Outbound>,
    /// Set when the member was dropped for not keeping up.
    pub(crate) slow: Arc<AtomicBool>,
}

/// The rooms of this node.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    rooms: Mutex<HashMap<Arc<str>, HashMap<u64, Member>>>,
    next_id: AtomicU64,
}

impl Hub {
    /// A fresh member id.
    pub(crate) fn member_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, HashMap<u64, Member>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `member` to `room` and tells the room; returns the nicknames
    /// now in it.
    pub(crate) fn join(&self, room: &str, id: u64, member: Member) -> Vec<String> {
        let nick = member.nick.clone();
        let (key, nicks) = {
            let mut rooms = self.lock();
            let key = rooms.get_key_value(room).map_or_else(|| Arc::from(room), |(key, _)| Arc::clone(key));
            let members = rooms.entry(Arc::clone(&key)).or_default();
            members.insert(id, member);
            let mut nicks: Vec<String> = members.values().map(|m| m.nick.clone()).collect();
            nicks.sort();
            (key, nicks)
        };
        self.announce(&key, &nick, true);
        nicks
    }

    /// Takes member `id` out of `room` (if it is still there) and tells the room.
    pub(crate) fn leave(&self, room: &str, id: u64) {
        let left = {
            let mut rooms = self.lock();
            let Some((key, members)) = rooms.get_key_value(room).map(|(k, _)| Arc::clone(k)).zip(rooms.get_mut(room))
            else {
                return;
            };
            let left = members.remove(&id).map(|member| (Arc::clone(&key), member.nick));
            if members.is_empty() {
                rooms.remove(room);
            }
            left
        };
        if let Some((key, nick)) = left {
            self.announce(&key, &nick, false);
        }
    }

    /// Queues `json` (encoded once) on every member of `room`; members
    /// whose outbox is full are dropped as slow readers, and the room is
    /// told they left.
    pub(crate) fn deliver(&self, room: &str, seq: u64, json: String) {
        let dropped = self.deliver_inner(room, seq, PreparedMessage::new(json));
        for (key, nick) in dropped {
            self.announce(&key, &nick, false);
        }
    }

    fn deliver_inner(&self, room: &str, seq: u64, frame: PreparedMessage) -> Vec<(Arc<str>, String)> {
        let mut rooms = self.lock();
        let Some((key, members)) = rooms.get_key_value(room).map(|(k, _)| Arc::clone(k)).zip(rooms.get_mut(room)) else {
            return Vec::new();
        };
        let mut slow = Vec::new();
        for (&id, member) in members.iter() {
            let item = Outbound { room: Arc::clone(&key), seq, frame: frame.clone() };
            if member.outbox.try_send(item).is_err() {
                member.slow.store(true, Ordering::Relaxed);
                slow.push(id);
            }
        }
        let dropped: Vec<_> = slow
            .into_iter()
            .filter_map(|id| members.remove(&id))
            .map(|member| (Arc::clone(&key), member.nick))
            .collect();
        if members.is_empty() {
            rooms.remove(room);
        }
        dropped
    }

    fn announce(&self, room: &Arc<str>, nick: &str, joined: bool) {
        let members = self.members(room);
        let json = ServerMsg::Presence { room, nick, joined, members }.to_json();
        self.deliver(room, 0, json);
    }

    /// How many are in `room`.
    pub(crate) fn members(&self, room: &str) -> usize {
        self.lock().get(room).map_or(0, HashMap::len)
    }

    /// The rooms with someone in them, by name.
    pub(crate) fn rooms(&self) -> Vec<RoomInfo> {
        let mut rooms: Vec<RoomInfo> =
            self.lock().iter().map(|(name, members)| RoomInfo { name: name.to_string(), members: members.len() }).collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(nick: &str, capacity: usize) -> (Member, mpsc::Receiver<Outbound>, Arc<AtomicBool>) {
        let (outbox, rx) = mpsc::channel(capacity);
        let slow = Arc::new(AtomicBool::new(false));
        (Member { nick: nick.into(), outbox, slow: Arc::clone(&slow) }, rx, slow)
    }

    #[test]
    fn one_frame_for_every_member_and_slow_readers_are_dropped() {
        let hub = Hub::default();
        let (ann, mut ann_rx, _) = member("ann", 8);
        let (bob, mut bob_rx, bob_slow) = member("bob", 2);
        hub.join("r", 1, ann);
        assert_eq!(hub.join("r", 2, bob), ["ann", "bob"]);
        hub.deliver("r", 1, r#"{"type":"message"}"#.into());
        let a = std::iter::from_fn(|| ann_rx.try_recv().ok()).last().unwrap();
        let b = std::iter::from_fn(|| bob_rx.try_recv().ok()).last().unwrap();
        assert_eq!((a.seq, b.seq), (1, 1));
        assert!(std::ptr::eq(a.frame.frame().as_ptr(), b.frame.frame().as_ptr()), "encoded once, shared");
        for seq in 2..6 {
            hub.deliver("r", seq, "{}".into()); // bob does not read
        }
        assert!(bob_slow.load(Ordering::Relaxed));
        assert_eq!(hub.members("r"), 1);
        hub.leave("r", 1);
        assert!(hub.rooms().is_empty());
    }
}
