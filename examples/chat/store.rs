//! What was said: each room's log, numbered from 1, behind a small trait
//! so that one node keeps it in memory ([`MemoryStore`], the default) and
//! several share it through Redis (`--redis`). Either way a stored line
//! reaches the rooms through [`Hub::deliver`] on every node.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::hub::Hub;
use crate::protocol::{ChatLine, RoomInfo, ServerMsg, HISTORY_BYTES, HISTORY_ON_JOIN};

/// A boxed future, for the store's methods.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store failed (Redis went away); the request is answered with an error
/// frame and the connection goes on.
#[derive(Debug, thiserror::Error)]
#[error("message store: {0}")]
pub(crate) struct StoreError(pub String);

/// A room's messages after some point, and whether that is all of them.
#[derive(Debug, Default)]
pub(crate) struct History {
    pub(crate) lines: Vec<ChatLine>,
    /// False when older lines than asked for are no longer kept.
    pub(crate) complete: bool,
}

/// Where rooms' messages and members are kept, and how room events reach
/// every node.
pub(crate) trait Store: Send + Sync + std::fmt::Debug {
    /// Numbers `text` as the room's next message, keeps it, and delivers
    /// it to the room's members on every node.
    fn append<'a>(&'a self, room: &'a str, nick: &'a str, text: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// The messages after `after`, or the last [`HISTORY_ON_JOIN`] when `None`.
    fn history<'a>(&'a self, room: &'a str, after: Option<u64>) -> BoxFuture<'a, Result<History, StoreError>>;

    /// Makes sure this node's hub gets `room`'s messages from now on: call
    /// it after the member joined the hub and before reading the history,
    /// so nothing falls between the two.
    fn watch<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Sends `json` (presence, typing: not kept) to the room on every node.
    fn publish<'a>(&'a self, room: &'a str, json: String) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Adds `member` (unique across nodes) as `nick`; returns the room's
    /// nicknames, sorted.
    fn enter<'a>(
        &'a self,
        room: &'a str,
        member: &'a str,
        nick: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>>;

    /// Removes `member`; returns the nicknames of those left, sorted (a
    /// nickname twice if two connections use it).
    fn exit<'a>(&'a self, room: &'a str, member: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>>;

    /// The rooms with members, by name.
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<RoomInfo>, StoreError>>;
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Picks from `lines` (in order, numbered without gaps) those after
/// `after`, or the last [`HISTORY_ON_JOIN`]; at most [`HISTORY_BYTES`] of
/// text (the latest), so one join cannot fill a connection's write buffer.
pub(crate) fn select(lines: impl Iterator<Item = ChatLine>, after: Option<u64>) -> History {
    let all: Vec<ChatLine> = lines.collect();
    let first_kept = all.first().map_or(u64::MAX, |line| line.seq);
    let (mut picked, mut complete): (Vec<ChatLine>, bool) = match after {
        None => (all.into_iter().rev().take(HISTORY_ON_JOIN).collect(), true),
        Some(after) => {
            let complete = first_kept == u64::MAX || after.saturating_add(1) >= first_kept;
            (all.into_iter().rev().take_while(|line| line.seq > after).collect(), complete)
        }
    };
    let mut bytes = 0;
    if let Some(over) = picked.iter().position(|line| {
        bytes += line.text.len() + line.nick.len();
        bytes > HISTORY_BYTES
    }) {
        picked.truncate(over);
        complete = false;
    }
    picked.reverse();
    History { lines: picked, complete }
}

/// Rooms kept in this process: the last [`MemoryStore::KEEP`] messages of
/// each, and who is in them.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    logs: Mutex<HashMap<String, (u64, VecDeque<ChatLine>)>>,
    rosters: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    hub: Arc<Hub>,
}

impl MemoryStore {
    /// Messages kept per room, for history and resume.
    pub(crate) const KEEP: usize = 1000;

    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { logs: Mutex::default(), rosters: Mutex::default(), hub }
    }
}

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, Result<T, StoreError>> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn append<'a>(&'a self, room: &'a str, nick: &'a str, text: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, lines) = logs.entry(room.to_owned()).or_default();
        *last += 1;
        let line = ChatLine { room: room.into(), seq: *last, nick: nick.into(), text: text.into(), time: now_ms() };
        // Delivered under the lock: members see a room's lines in order.
        self.hub.deliver(room, line.seq, ServerMsg::Message(&line).to_json());
        let seq = line.seq;
        lines.push_back(line);
        if lines.len() > Self::KEEP {
            lines.pop_front();
        }
        ready(seq)
    }

    fn history<'a>(&'a self, room: &'a str, after: Option<u64>) -> BoxFuture<'a, Result<History, StoreError>> {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let lines = logs.get(room).map(|(_, lines)| lines.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        ready(select(lines.into_iter(), after))
    }

    fn watch<'a>(&'a self, _room: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(()) // one node: `append` and `publish` deliver to it directly
    }

    fn publish<'a>(&'a self, room: &'a str, json: String) -> BoxFuture<'a, Result<(), StoreError>> {
        self.hub.deliver(room, 0, json);
        ready(())
    }

    fn enter<'a>(
        &'a self,
        room: &'a str,
        member: &'a str,
        nick: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        let mut rosters = self.rosters.lock().unwrap_or_else(PoisonError::into_inner);
        let roster = rosters.entry(room.to_owned()).or_default();
        roster.insert(member.to_owned(), nick.to_owned());
        let mut nicks: Vec<String> = roster.values().cloned().collect();
        nicks.sort();
        ready(nicks)
    }

    fn exit<'a>(&'a self, room: &'a str, member: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        let mut rosters = self.rosters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut left: Vec<String> = rosters.get_mut(room).map_or_else(Vec::new, |roster| {
            roster.remove(member);
            roster.values().cloned().collect()
        });
        if left.is_empty() {
            rosters.remove(room);
        }
        left.sort();
        ready(left)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<RoomInfo>, StoreError>> {
        let rosters = self.rosters.lock().unwrap_or_else(PoisonError::into_inner);
        ready(rosters.iter().map(|(name, roster)| RoomInfo { name: name.clone(), members: roster.len() }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> ChatLine {
        ChatLine { room: "r".into(), seq, nick: "n".into(), text: seq.to_string(), time: 0 }
    }

    #[test]
    fn history_after_a_point_says_whether_it_is_all() {
        let lines = || (5..=9).map(line);
        let seqs = |h: &History| h.lines.iter().map(|l| l.seq).collect::<Vec<_>>();
        let h = select(lines(), Some(6));
        assert_eq!((seqs(&h), h.complete), (vec![7, 8, 9], true));
        let h = select(lines(), Some(4));
        assert_eq!((seqs(&h), h.complete), (vec![5, 6, 7, 8, 9], true));
        let h = select(lines(), Some(2)); // 3 and 4 are gone
        assert_eq!((seqs(&h), h.complete), (vec![5, 6, 7, 8, 9], false));
        let h = select((1..=150).map(line), None);
        assert_eq!((h.lines.len(), h.lines[0].seq), (HISTORY_ON_JOIN, 51));
        let big = |seq| ChatLine { text: "x".repeat(HISTORY_BYTES / 3 - 10), ..line(seq) };
        let h = select((1..=5).map(big), Some(0));
        assert_eq!((seqs(&h), h.complete), (vec![3, 4, 5], false), "the latest that fit");
    }

    #[tokio::test]
    async fn memory_store_numbers_keeps_and_resumes() {
        let store = MemoryStore::new(Arc::default());
        for i in 0..(MemoryStore::KEEP + 5) {
            assert_eq!(store.append("r", "ann", "hi").await.unwrap(), i as u64 + 1);
        }
        let h = store.history("r", Some(1000)).await.unwrap();
        assert_eq!(h.lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1001..=1005).collect::<Vec<_>>());
        assert!(h.complete);
        assert!(!store.history("r", Some(1)).await.unwrap().complete);
        assert!(store.history("empty", Some(7)).await.unwrap().lines.is_empty());
        assert_eq!(store.enter("r", "n1/1", "bob").await.unwrap(), ["bob"]);
        assert_eq!(store.enter("r", "n1/2", "ann").await.unwrap(), ["ann", "bob"]);
        assert_eq!(store.rooms().await.unwrap()[0].members, 2);
        assert_eq!(store.exit("r", "n1/1").await.unwrap(), ["ann"]);
        assert!(store.exit("r", "n1/2").await.unwrap().is_empty());
        assert!(store.rooms().await.unwrap().is_empty());
    }
}
