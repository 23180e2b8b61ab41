//! What a [`Connection`](super::Connection) reports to the application.

use bytes::Bytes;

use crate::{CloseReason, Utf8Bytes};

/// An event from [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A complete text or binary message.
    Message(Message),
    /// The peer sent a ping. With `Config::auto_pong` (the default) the
    /// pong is already queued, so this event is informational.
    Ping(Bytes),
    /// The peer sent a pong (in answer to a ping, or unsolicited).
    Pong {
        /// The pong's payload.
        payload: Bytes,
        /// The round-trip estimate including this pong, when it answered
        /// the heartbeat's ping (see `Config::ping_interval`); `None` for
        /// other pongs.
        rtt: Option<crate::RttEstimate>,
    },
    /// The WebSocket is over; reported exactly once, and nothing follows it.
    /// Keep writing [`poll_transmit`](super::Connection::poll_transmit) until
    /// [`should_close_transport`](super::Connection::should_close_transport).
    Closed(CloseReason),
}

/// A complete data message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message, guaranteed to be valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(bytes) => bytes,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text.as_str()),
            Self::Binary(_) => None,
        }
    }

    /// The payload as `Bytes`, whatever the kind (no copy).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Text(text) => text.into_bytes(),
            Self::Binary(bytes) => bytes,
        }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Self::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Self::Binary(Bytes::copy_from_slice(data))
    }
}
