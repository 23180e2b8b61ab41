//! The chat's messages: JSON text frames, one object each, told apart by
//! `type`. Binary frames are not used (a client that sends one is closed
//! with 1003); images and files are out of scope.
//!
//! Client to server:
//! ```text
//! {"type":"join","room":"lobby","nick":"ann"}            join (creating it) or switch room
//! {"type":"join","room":"lobby","nick":"ann","after":41} resume: also every message after #41
//! {"type":"say","text":"hello"}                          to the current room, up to 64 KiB
//! {"type":"typing"}                                      "ann is typing" for the room
//! {"type":"rooms"}                                       the room list
//! {"type":"ping","id":7}                                 answered with pong (the page's own RTT)
//! ```
//! Server to client:
//! ```text
//! {"type":"welcome","node":"127.0.0.1:8080","max_text":65536}
//! {"type":"joined","room":"lobby","members":["ann","bob"],"history":[MESSAGE...],"complete":true}
//! {"type":"message","room":"lobby","seq":42,"nick":"ann","text":"hello","time":1764950400000}
//! {"type":"presence","room":"lobby","nick":"bob","joined":true,"members":2,"names":["ann","bob"]}
//! {"type":"typing","room":"lobby","nick":"bob"}
//! {"type":"rooms","rooms":[{"name":"lobby","members":2}]}
//! {"type":"rtt","smoothed_ms":0.41,"latest_ms":0.38}     the server's heartbeat estimate
//! {"type":"pong","id":7}
//! {"type":"error","code":"too_long","message":"..."}    the request was refused; still connected
//! ```
//! `seq` numbers a room's messages from 1 without gaps, so a client that
//! saw #41 asks for `after: 41` and gets exactly what it missed; `complete`
//! is false when older messages than asked for are no longer kept (or
//! were more than 1 MiB of text: the latest are sent).
//! `history` without `after` is the room's last [`HISTORY_ON_JOIN`] messages.

use serde::{Deserialize, Serialize};

/// Longest `say` text, in bytes.
pub(crate) const MAX_TEXT: usize = 64 << 10;
/// Messages sent on a join without `after`.
pub(crate) const HISTORY_ON_JOIN: usize = 100;
/// Most text (and nicknames) sent as history in one `joined`.
pub(crate) const HISTORY_BYTES: usize = 1 << 20;
const MAX_NAME: usize = 32;

/// What a client asks for.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ClientMsg {
    Join { room: String, nick: String, after: Option<u64> },
    Say { text: String },
    Typing,
    Rooms,
    Ping { id: u64 },
}

/// One chat message as stored and sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ChatLine {
    pub(crate) room: String,
    pub(crate) seq: u64,
    pub(crate) nick: String,
    pub(crate) text: String,
    /// Milliseconds since the Unix epoch, when the server took it.
    pub(crate) time: u64,
}

/// A room and how many are in it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoomInfo {
    pub(crate) name: String,
    pub(crate) members: usize,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerMsg<'a> {
    Welcome { node: &'a str, max_text: usize },
    Joined { room: &'a str, members: Vec<String>, history: &'a [ChatLine], complete: bool },
    Message(&'a ChatLine),
    Presence { room: &'a str, nick: &'a str, joined: bool, members: usize, names: Vec<String> },
    Typing { room: &'a str, nick: &'a str },
    Rooms { rooms: Vec<RoomInfo> },
    Rtt { smoothed_ms: f64, latest_ms: f64 },
    Pong { id: u64 },
    Error { code: &'a str, message: &'a str },
}

impl ServerMsg<'_> {
    /// The message as a JSON text.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|err| format!(r#"{{"type":"error","code":"internal","message":"{err}"}}"#))
    }
}

/// Checks a room name or nickname: 1 to 32 characters, letters, digits,
/// `-`, `_`, `.` and spaces inside.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && name.trim() == name
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(format!("a {what} is 1 to {MAX_NAME} letters, digits, '-', '_', '.' or inner spaces; {name:?} is not"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_page_sends() {
        let join: ClientMsg = serde_json::from_str(r#"{"type":"join","room":"r","nick":"n","after":3}"#).unwrap();
        assert!(matches!(join, ClientMsg::Join { after: Some(3), .. }));
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"shout"}"#).is_err());
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"say","text":"x","extra":1}"#).is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("nick", "ann b").is_ok());
        assert!(check_name("nick", "").is_err());
        assert!(check_name("nick", " ann").is_err());
        assert!(check_name("nick", "<script>").is_err());
        assert!(check_name("room", &"x".repeat(33)).is_err());
    }
}
