//! One browser tab's connection: reads its requests, writes what its room
//! sends, and enforces the limits that keep one client from hurting the
//! others (bad input gets an error frame; a flood, a slow reader or a
//! binary frame end the connection with a close code and the reason).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rfc6455::io::axum_ws::{CloseCode, Message, WebSocket};
use tokio::sync::mpsc;

use crate::hub::{Member, Outbound, OUTBOX};
use crate::protocol::{check_name, ClientMsg, ServerMsg, MAX_TEXT};
use crate::App;

/// How often the server's RTT estimate is sent to the page.
const RTT_EVERY: Duration = Duration::from_secs(2);
/// Bytes waiting for a client before it counts as a slow reader (below
/// `write_buffer_limit`, so queuing never waits).
pub(crate) const SLOW_BYTES: usize = 2 << 20;
/// Requests a client may make in a burst, and per second after it.
const BURST: f64 = 40.0;
const PER_SECOND: f64 = 20.0;
/// The refusal in a row that closes the connection (the ones before it are
/// answered with `slow_down` error frames).
const FLOOD_STRIKES: u32 = 100;

struct Session {
    app: Arc<App>,
    id: u64,
    /// The room joined and the nickname used in it.
    room: Option<(Arc<str>, String)>,
    /// The last message number sent for the room (no line goes twice).
    last_seq: u64,
    outbox: mpsc::Sender<Outbound>,
    slow: Arc<AtomicBool>,
    tokens: f64,
    refilled: Instant,
    strikes: u32,
}

/// Why a session ends from our side: the close code and reason.
type Ending = (CloseCode, &'static str);

/// Runs one connection to its end.
pub(crate) async fn run(mut ws: WebSocket, app: Arc<App>) {
    let (outbox, mut inbox) = mpsc::channel(OUTBOX);
    let id = app.hub.member_id();
    let mut session = Session {
        app,
        id,
        room: None,
        last_seq: 0,
        outbox,
        slow: Arc::default(),
        tokens: BURST,
        refilled: Instant::now(),
        strikes: 0,
    };
    let welcome = ServerMsg::Welcome { node: &session.app.node, max_text: MAX_TEXT }.to_json();
    let mut rtt = tokio::time::interval(RTT_EVERY);
    let mut ending: Option<Ending> = None;
    if ws.feed(welcome).await.is_err() {
        return;
    }
    while ending.is_none() {
        tokio::select! {
            received = ws.recv() => match received {
                Ok(Some(Message::Text(text))) => ending = session.handle(&mut ws, text.as_str()).await,
                Ok(Some(Message::Binary(_))) => ending = Some((CloseCode::UNSUPPORTED_DATA, "binary frames are not used: send JSON text")),
                Ok(None) | Err(_) => break,
            },
            out = inbox.recv() => match out {
                // Left rooms' messages and lines already sent (in history) are skipped.
                Some(out) if session.wants(&out) => {
                    if ws.buffered_amount() > SLOW_BYTES {
                        // Never waits for room: a client that does not read
                        // is told why and dropped, not waited for.
                        ending = Some((CloseCode::TRY_AGAIN_LATER, "too slow: messages for you piled up; reconnect"));
                        continue;
                    }
                    session.last_seq = session.last_seq.max(out.seq);
                    if ws.feed_prepared(&out.frame).await.is_err() {
                        break;
                    }
                }
                Some(_) => {}
                None => unreachable!("the session holds a sender"),
            },
            _ = rtt.tick() => if let Some(estimate) = ws.rtt() {
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                let json = ServerMsg::Rtt { smoothed_ms: ms(estimate.smoothed), latest_ms: ms(estimate.latest) }.to_json();
                if ws.feed(json).await.is_err() {
                    break;
                }
            },
        }
        if session.slow.load(Ordering::Relaxed) {
            ending = Some((CloseCode::TRY_AGAIN_LATER, "too slow: messages for you piled up; reconnect"));
        }
    }
    session.leave().await;
    if let Some((code, reason)) = ending {
        // Tell the client why, then wait (bounded by the close timeout) for its answer.
        let goodbye = async {
            if ws.close(code, reason).await.is_ok() {
                while let Ok(Some(_)) = ws.recv().await {}
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), goodbye).await;
    }
}

impl Session {
    fn wants(&self, out: &Outbound) -> bool {
        self.room.as_ref().is_some_and(|(room, _)| *room == out.room) && (out.seq == 0 || out.seq > self.last_seq)
    }

    /// This member's name across nodes.
    fn member_key(&self) -> String {
        format!("{}/{}", self.app.node_id, self.id)
    }

    async fn leave(&mut self) {
        let Some((room, nick)) = self.room.take() else {
            return;
        };
        self.app.hub.leave(&room, self.id);
        if let Ok(mut names) = self.app.store.exit(&room, &self.member_key()).await {
            let members = names.len();
            names.dedup();
            let json = ServerMsg::Presence { room: &room, nick: &nick, joined: false, members, names }.to_json();
            let _ = self.app.store.publish(&room, json).await;
        }
    }

    /// A token bucket: false when the client asks faster than allowed.
    fn allowed(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.strikes = 0;
            return true;
        }
        self.strikes += 1;
        false
    }

    async fn handle(&mut self, ws: &mut WebSocket, text: &str) -> Option<Ending> {
        if !self.allowed() {
            if self.strikes >= FLOOD_STRIKES {
                return Some((CloseCode::POLICY_VIOLATION, "flooding: too many requests"));
            }
            return error(ws, "slow_down", "too many requests: this one was dropped").await;
        }
        let request = match serde_json::from_str::<ClientMsg>(text) {
            Ok(request) => request,
            Err(err) => return error(ws, "bad_request", &format!("not a request this server knows: {err}")).await,
        };
        let reply = match request {
            ClientMsg::Join { room, nick, after } => return self.join(ws, room, nick, after).await,
            ClientMsg::Say { text } => return self.say(ws, &text).await,
            ClientMsg::Typing => {
                if let Some((room, nick)) = &self.room {
                    let _ = self.app.store.publish(room, ServerMsg::Typing { room, nick }.to_json()).await;
                }
                return None;
            }
            ClientMsg::Rooms => match self.app.store.rooms().await {
                Ok(rooms) => ServerMsg::Rooms { rooms }.to_json(),
                Err(err) => return error(ws, "store", &err.to_string()).await,
            },
            ClientMsg::Ping { id } => ServerMsg::Pong { id }.to_json(),
        };
        ws.feed(reply).await.err().map(|_| (CloseCode::INTERNAL_ERROR, ""))
    }

    async fn join(&mut self, ws: &mut WebSocket, room: String, nick: String, after: Option<u64>) -> Option<Ending> {
        if let Err(message) = check_name("room", &room).and_then(|()| check_name("nickname", &nick)) {
            return error(ws, "bad_name", &message).await;
        }
        self.leave().await;
        self.slow.store(false, Ordering::Relaxed);
        let member = Member { outbox: self.outbox.clone(), slow: Arc::clone(&self.slow) };
        // Joined and watched first, then the history: a line stored in
        // between comes both ways, and `last_seq` drops the second copy.
        let room = self.app.hub.join(&room, self.id, member);
        self.room = Some((Arc::clone(&room), nick.clone()));
        let entered = match self.app.store.watch(&room).await {
            Ok(()) => self.app.store.enter(&room, &self.member_key(), &nick).await,
            Err(err) => Err(err),
        };
        let members = match entered {
            Ok(members) => members,
            Err(err) => {
                // Not half in: out of the hub again, in no room.
                self.app.hub.leave(&room, self.id);
                self.room = None;
                return error(ws, "store", &err.to_string()).await;
            }
        };
        let mut names = members.clone();
        names.dedup();
        let presence = ServerMsg::Presence { room: &room, nick: &nick, joined: true, members: members.len(), names };
        let presence = presence.to_json();
        if let Err(err) = self.app.store.publish(&room, presence).await {
            return error(ws, "store", &err.to_string()).await;
        }
        let history = match self.app.store.history(&room, after).await {
            Ok(history) => history,
            Err(err) => return error(ws, "store", &err.to_string()).await,
        };
        self.last_seq = history.lines.last().map_or(after.unwrap_or(0), |line| line.seq);
        let joined =
            ServerMsg::Joined { room: &room, members, history: &history.lines, complete: history.complete }.to_json();
        ws.feed(joined).await.err().map(|_| (CloseCode::INTERNAL_ERROR, ""))
    }

    async fn say(&mut self, ws: &mut WebSocket, text: &str) -> Option<Ending> {
        let Some((room, nick)) = &self.room else {
            return error(ws, "not_in_room", "join a room first").await;
        };
        if text.len() > MAX_TEXT {
            return error(
                ws,
                "too_long",
                &format!("a message is at most {MAX_TEXT} bytes; this one is {}", text.len()),
            )
            .await;
        }
        if text.trim().is_empty() {
            return error(ws, "empty", "nothing to say").await;
        }
        match self.app.store.append(room, nick, text).await {
            Ok(_) => None,
            Err(err) => error(ws, "store", &err.to_string()).await,
        }
    }
}

/// Sends an error frame; the connection goes on.
async fn error(ws: &mut WebSocket, code: &str, message: &str) -> Option<Ending> {
    let json = ServerMsg::Error { code, message }.to_json();
    ws.feed(json).await.err().map(|_| (CloseCode::INTERNAL_ERROR, ""))
}
