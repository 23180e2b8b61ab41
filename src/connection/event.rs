//! What a [`Connection`](super::Connection) reports to the application.

use std::str::Utf8Error;

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
    /// The next piece of a message received in parts, with
    /// [`Connection::set_message_streaming`](super::Connection::set_message_streaming)
    /// on: such a message never comes as [`Event::Message`].
    Part(MessagePart),
    /// The WebSocket is over; reported exactly once, and nothing follows it.
    /// Keep writing [`poll_transmit`](super::Connection::poll_transmit) until
    /// [`should_close_transport`](super::Connection::should_close_transport).
    Closed(CloseReason),
}

/// A piece of a message handed out as it arrives, so that a message of any
/// size can be processed (written to a file, hashed, forwarded) in memory
/// bounded by the reads, not by the message. See
/// [`Connection::set_message_streaming`](super::Connection::set_message_streaming).
///
/// The parts of one message come in order, the first with `first` set, the
/// last with `last` set (it may be empty: the message ended with its
/// frame). Control frames may come between parts; another message's parts
/// never do. A connection that ends before a message's last part leaves the
/// message cut off: its end (`Event::Closed`) says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePart {
    /// Text or binary: the same for every part of a message.
    pub kind: crate::DataKind,
    /// The bytes, inflated if the message was compressed. For text, the
    /// parts of a message together are valid UTF-8, checked before each part
    /// is handed out (an invalid byte fails the connection with 1007 first);
    /// a part may end in the middle of a character, so decode across parts
    /// (or collect them) rather than each on its own.
    pub data: Bytes,
    /// The message's first part.
    pub first: bool,
    /// The message's last part.
    pub last: bool,
}

impl From<Message> for MessagePart {
    /// A whole message as its one and only part.
    fn from(message: Message) -> Self {
        let (kind, data) = match message {
            Message::Text(text) => (crate::DataKind::Text, text.into_bytes()),
            Message::Binary(data) => (crate::DataKind::Binary, data),
        };
        Self { kind, data, first: true, last: true }
    }
}

/// A complete data message.
///
/// Data only: unlike tungstenite's `Message` there are no `Ping`, `Pong`,
/// `Close` or `Frame` variants. Received pings are answered for you; send
/// one with the adapter's `ping(payload)` / `pong(payload)` (or
/// [`Connection::ping`](super::Connection::ping)); a close ends `recv` with
/// `Ok(None)` (a normal close) or `Err(Error::Closed(reason))`, and you start
/// one with `close(code, reason)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message, guaranteed to be valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message: from a `&str` (copied), a `String` or a [`Utf8Bytes`]
    /// (not copied). As tungstenite's `Message::text`; same as
    /// `Message::Text(text.into())`.
    ///
    /// ```
    /// use rfc6455::{Message, Utf8Bytes};
    ///
    /// assert_eq!(Message::text("hi"), Message::Text(Utf8Bytes::from("hi")));
    /// assert_eq!(Message::text(String::from("hi")).as_text(), Some("hi"));
    /// assert!(Message::text(Utf8Bytes::from_static("hi")).is_text());
    /// ```
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message: from anything that converts into `Bytes` (`Vec<u8>`,
    /// `&'static [u8]`, `Bytes`, ...) without a copy. As tungstenite's
    /// `Message::binary`; same as `Message::Binary(data.into())`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use rfc6455::Message;
    ///
    /// assert_eq!(Message::binary(vec![1, 2, 3]), Message::Binary(Bytes::from_static(&[1, 2, 3])));
    /// assert!(Message::binary(&b"raw"[..]).is_binary());
    /// ```
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

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

    /// True for a binary message.
    ///
    /// ```
    /// use rfc6455::Message;
    ///
    /// assert!(Message::binary(vec![0xff]).is_binary());
    /// assert!(!Message::text("hi").is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// The text, if this is a text message (`None` for a binary one, even
    /// if its bytes happen to be UTF-8: see [`to_text`](Self::to_text)).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text.as_str()),
            Self::Binary(_) => None,
        }
    }

    /// The payload as text, as tungstenite's `Message::to_text`: a text
    /// message's text, or a binary message's bytes if they are valid UTF-8.
    ///
    /// Fails only for a binary message that is not UTF-8; the error says
    /// where the first invalid byte is. To accept text messages only, use
    /// [`as_text`](Self::as_text) (or match [`Message::Text`]). Unlike
    /// tungstenite, the error is [`std::str::Utf8Error`], and there are no
    /// close, ping or pong messages to convert (those are [`Event`]s here).
    ///
    /// ```
    /// use rfc6455::Message;
    ///
    /// assert_eq!(Message::text("hi").to_text(), Ok("hi"));
    /// assert_eq!(Message::binary(&b"hi"[..]).to_text(), Ok("hi"));
    /// assert!(Message::binary(vec![0xff]).to_text().is_err());
    /// ```
    pub fn to_text(&self) -> Result<&str, Utf8Error> {
        match self {
            Self::Text(text) => Ok(text.as_str()),
            Self::Binary(bytes) => std::str::from_utf8(bytes),
        }
    }

    /// Converts the payload into text without copying, as tungstenite's
    /// `Message::into_text`: a text message's text, or a binary message's
    /// bytes if they are valid UTF-8.
    ///
    /// Fails only for a binary message that is not UTF-8 (with
    /// [`std::str::Utf8Error`], where tungstenite returns its own error);
    /// the message is consumed either way, so call
    /// [`to_text`](Self::to_text) first if you need it back.
    ///
    /// ```
    /// use rfc6455::{Message, Utf8Bytes};
    ///
    /// assert_eq!(Message::text("hi").into_text(), Ok(Utf8Bytes::from("hi")));
    /// assert_eq!(Message::binary(&b"hi"[..]).into_text(), Ok(Utf8Bytes::from("hi")));
    /// assert!(Message::binary(vec![0xc3]).into_text().is_err());
    /// ```
    pub fn into_text(self) -> Result<Utf8Bytes, Utf8Error> {
        match self {
            Self::Text(text) => Ok(text),
            Self::Binary(bytes) => Utf8Bytes::try_from(bytes),
        }
    }

    /// The payload as `Bytes`, whatever the kind (no copy).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Text(text) => text.into_bytes(),
            Self::Binary(bytes) => bytes,
        }
    }

    /// The payload as `Bytes`, whatever the kind (no copy): tungstenite's
    /// name for [`into_bytes`](Self::into_bytes), which it does exactly.
    ///
    /// ```
    /// use rfc6455::Message;
    ///
    /// assert_eq!(Message::text("hi").into_data(), &b"hi"[..]);
    /// assert_eq!(Message::binary(vec![1, 2]).into_data(), &[1u8, 2][..]);
    /// ```
    pub fn into_data(self) -> Bytes {
        self.into_bytes()
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
