//! Rooms shared by several chat nodes through Redis (`--redis`). Per room:
//!
//! - `chat:ROOM:log`, a Redis Stream of its messages, entry IDs `0-SEQ`
//!   (numbered by `chat:ROOM:seq` in the same script, so two nodes never
//!   take the same number): `XADD` on send, `XRANGE` for history and resume;
//! - `chat:ROOM:events`, a short stream of presence and typing events;
//! - `chat:ROOM:members`, a hash `node/id -> nickname`; `chat:rooms`, a set.
//!
//! Each node reads the streams of the rooms it has members in (`XREAD
//! BLOCK`, one task and connection per room) and hands what arrives to its
//! hub, so a message sent on one node reaches every node's members, in
//! order; one that a dying node had stored is still in the log, so nothing
//! is lost. Each node keeps a key `chat:node:ID` alive (10 s); members of a
//! node whose key expired (it died) are dropped from the rosters on read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamRangeReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, Script};
use tokio::sync::OnceCell;

use crate::hub::Hub;
use crate::protocol::{ChatLine, RoomInfo, ServerMsg};
use crate::store::{now_ms, select, BoxFuture, History, Store, StoreError};

/// Messages and events kept per room stream (approximately).
const KEEP: usize = 10_000;
const NODE_TTL_SECONDS: u64 = 10;
/// How long one `XREAD` waits before the reader checks it is still needed.
const BLOCK_MS: u64 = 1000;

const APPEND: &str = r"
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. seq, 'line', string.format(ARGV[1], seq))
redis.call('SADD', KEYS[3], ARGV[3])
return seq";

fn key(room: &str, what: &str) -> String {
    format!("chat:{room}:{what}")
}

fn failed(err: redis::RedisError) -> StoreError {
    StoreError(format!("Redis: {err}"))
}

/// The rooms of every node that uses the same Redis.
#[derive(Clone)]
pub(crate) struct RedisStore {
    client: Client,
    conn: ConnectionManager,
    hub: Arc<Hub>,
    node: Arc<str>,
    /// Rooms this node reads, and where their readers started.
    readers: Arc<Mutex<HashMap<String, Arc<OnceCell<()>>>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("node", &self.node).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects, and keeps the liveness key of `node` (this node's name,
    /// unique across nodes and restarts) alive from now on.
    pub(crate) async fn connect(url: &str, hub: Arc<Hub>, node: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(failed)?;
        let conn = client.get_connection_manager().await.map_err(failed)?;
        let node: Arc<str> = node.into();
        let store = Self { client, conn, hub, node, readers: Arc::default() };
        let alive = store.clone();
        tokio::spawn(async move {
            loop {
                let mut conn = alive.conn.clone();
                let mut set = redis::cmd("SET");
                set.arg(format!("chat:node:{}", alive.node)).arg(1).arg("EX").arg(NODE_TTL_SECONDS);
                if let Err(err) = set.query_async::<()>(&mut conn).await {
                    eprintln!("chat: Redis: {err}");
                }
                tokio::time::sleep(Duration::from_secs(NODE_TTL_SECONDS / 3)).await;
            }
        });
        Ok(store)
    }

    async fn last_id(&self, stream: &str) -> Result<String, StoreError> {
        let mut conn = self.conn.clone();
        let last: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(failed)?;
        Ok(last.ids.first().map_or_else(|| "0-0".to_owned(), |entry| entry.id.clone()))
    }

    /// One room's reader: delivers what the streams bring until this node
    /// has nobody left in the room.
    async fn read(self, room: String, mut log_from: String, mut events_from: String) {
        let (log, events) = (key(&room, "log"), key(&room, "events"));
        let config = AsyncConnectionConfig::new().set_response_timeout(None);
        let mut conn: Option<MultiplexedConnection> = None;
        loop {
            {
                let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
                if self.hub.local_members(&room) == 0 {
                    readers.remove(&room);
                    return;
                }
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match self.client.get_multiplexed_async_connection_with_config(&config).await {
                    Ok(c) => conn.insert(c),
                    Err(err) => {
                        eprintln!("chat: Redis reader for {room:?}: {err}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            let read = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(500)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&log)
                .arg(&events)
                .arg(&log_from)
                .arg(&events_from)
                .query_async::<Option<StreamReadReply>>(c)
                .await;
            match read {
                Ok(reply) => {
                    for stream in reply.map(|r| r.keys).unwrap_or_default() {
                        for entry in stream.ids {
                            if stream.key == log {
                                if let Some(line) = entry.get::<String>("line") {
                                    let seq = entry.id.strip_prefix("0-").and_then(|s| s.parse().ok()).unwrap_or(0);
                                    self.hub.deliver(&room, seq, line);
                                }
                                log_from = entry.id;
                            } else {
                                if let Some(json) = entry.get::<String>("json") {
                                    self.hub.deliver(&room, 0, json);
                                }
                                events_from = entry.id;
                            }
                        }
                    }
                }
                Err(err) => {
                    eprintln!("chat: Redis reader for {room:?}: {err}");
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// The roster of `room` without members of nodes that died.
    async fn roster(&self, room: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        let members_key = key(room, "members");
        let mut roster: HashMap<String, String> =
            redis::cmd("HGETALL").arg(&members_key).query_async(&mut conn).await.map_err(failed)?;
        let mut nodes: Vec<&str> =
            roster.keys().filter_map(|member| member.rsplit_once('/').map(|(node, _)| node)).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut dead = Vec::new();
        for node in nodes {
            let alive: bool =
                redis::cmd("EXISTS").arg(format!("chat:node:{node}")).query_async(&mut conn).await.map_err(failed)?;
            if !alive {
                dead.push(node.to_owned());
            }
        }
        if !dead.is_empty() {
            let gone: Vec<String> =
                roster.keys().filter(|m| dead.iter().any(|node| m.starts_with(&format!("{node}/")))).cloned().collect();
            redis::cmd("HDEL").arg(&members_key).arg(&gone).query_async::<()>(&mut conn).await.map_err(failed)?;
            roster.retain(|member, _| !gone.contains(member));
        }
        Ok(roster)
    }
}

impl Store for RedisStore {
    fn append<'a>(&'a self, room: &'a str, nick: &'a str, text: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            // The line is written with its number filled in by the script
            // (`%d`); `%` in the text is escaped for string.format.
            let line = ChatLine { room: room.into(), seq: 0, nick: nick.into(), text: text.into(), time: now_ms() };
            let json = ServerMsg::Message(&line).to_json().replace('%', "%%").replacen("\"seq\":0", "\"seq\":%d", 1);
            let mut conn = self.conn.clone();
            Script::new(APPEND)
                .key(key(room, "seq"))
                .key(key(room, "log"))
                .key("chat:rooms")
                .arg(json)
                .arg(KEEP)
                .arg(room)
                .invoke_async(&mut conn)
                .await
                .map_err(failed)
        })
    }

    fn history<'a>(&'a self, room: &'a str, after: Option<u64>) -> BoxFuture<'a, Result<History, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let log = key(room, "log");
            let mut range = redis::cmd(if after.is_some() { "XRANGE" } else { "XREVRANGE" });
            match after {
                Some(after) => range.arg(&log).arg(format!("(0-{after}")).arg("+"),
                None => range.arg(&log).arg("+").arg("-").arg("COUNT").arg(crate::protocol::HISTORY_ON_JOIN),
            };
            let range: StreamRangeReply = range.query_async(&mut conn).await.map_err(failed)?;
            let mut lines: Vec<ChatLine> =
                range.ids.iter().filter_map(|entry| serde_json::from_str(&entry.get::<String>("line")?).ok()).collect();
            lines.sort_by_key(|line| line.seq);
            Ok(select(lines.into_iter(), after))
        })
    }

    fn watch<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let cell = {
                let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
                Arc::clone(readers.entry(room.to_owned()).or_default())
            };
            // The first to watch the room finds where its streams end and
            // starts the reader there; the others wait until it has, so every
            // history read after `watch` overlaps what the reader delivers.
            cell.get_or_try_init(|| async {
                let log_from = self.last_id(&key(room, "log")).await?;
                let events_from = self.last_id(&key(room, "events")).await?;
                tokio::spawn(self.clone().read(room.to_owned(), log_from, events_from));
                Ok::<(), StoreError>(())
            })
            .await
            .map(drop)
        })
    }

    fn publish<'a>(&'a self, room: &'a str, json: String) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut add = redis::cmd("XADD");
            add.arg(key(room, "events")).arg("MAXLEN").arg("~").arg(1000).arg("*").arg("json").arg(json);
            add.query_async::<String>(&mut conn).await.map(drop).map_err(failed)
        })
    }

    fn enter<'a>(
        &'a self,
        room: &'a str,
        member: &'a str,
        nick: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("HSET")
                .arg(key(room, "members"))
                .arg(member)
                .arg(nick)
                .query_async::<()>(&mut conn)
                .await
                .map_err(failed)?;
            redis::cmd("SADD").arg("chat:rooms").arg(room).query_async::<()>(&mut conn).await.map_err(failed)?;
            let mut nicks: Vec<String> = self.roster(room).await?.into_values().collect();
            nicks.sort();
            Ok(nicks)
        })
    }

    fn exit<'a>(&'a self, room: &'a str, member: &'a str) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("HDEL")
                .arg(key(room, "members"))
                .arg(member)
                .query_async::<()>(&mut conn)
                .await
                .map_err(failed)?;
            let mut nicks: Vec<String> = self.roster(room).await?.into_values().collect();
            nicks.sort();
            Ok(nicks)
        })
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<RoomInfo>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut names: Vec<String> =
                redis::cmd("SMEMBERS").arg("chat:rooms").query_async(&mut conn).await.map_err(failed)?;
            names.sort();
            let mut rooms = Vec::new();
            for name in names {
                let members = self.roster(&name).await?.len();
                if members > 0 {
                    rooms.push(RoomInfo { name, members });
                }
            }
            Ok(rooms)
        })
    }
}
