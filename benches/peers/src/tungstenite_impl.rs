//! tungstenite 0.30, blocking, over [`MemStream`] (`std::io::Read + Write`).

use tungstenite::handshake::machine::TryParse;
use tungstenite::handshake::server::{create_response, write_response, Request};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Message;

use crate::{Handshaker, MemStream, Receiver, Sender, MAX_FRAME, MAX_MESSAGE};

/// Defaults (128 KiB read buffer, which its docs recommend for high read
/// load; 128 KiB write buffer), with the same frame and message limits as
/// the other implementations.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default().max_frame_size(Some(MAX_FRAME)).max_message_size(Some(MAX_MESSAGE))
}

/// Receive path: `WebSocket::from_raw_socket` (no handshake) in the server
/// role, then `read()` per message: it reads from the stream into its read
/// buffer, decodes, unmasks, validates text as UTF-8 and returns
/// `Message::Text(Utf8Bytes)` without another copy. `read` is tungstenite's
/// only public message-receiving API.
pub struct TungsteniteReceiver {
    ws: WebSocket<MemStream>,
}

impl TungsteniteReceiver {
    pub fn new(wire: Vec<u8>, chunk: usize) -> Self {
        let stream = MemStream::cyclic(wire, chunk);
        Self { ws: WebSocket::from_raw_socket(stream, Role::Server, Some(config())) }
    }
}

impl Receiver for TungsteniteReceiver {
    fn receive_pass<F: FnMut(&[u8])>(&mut self, messages: usize, mut on_text: F) {
        for _ in 0..messages {
            match self.ws.read() {
                Ok(Message::Text(text)) => on_text(text.as_str().as_bytes()),
                other => panic!("tungstenite: unexpected {other:?}"),
            }
        }
    }
}

/// Send path: `write(Message::Binary(Bytes))` per message (the `Bytes` is a
/// reference-counted clone of the payload, no copy), which encodes into the
/// write buffer and writes it out once it passes `write_buffer_size`; one
/// `flush()` per batch writes the rest. Clients mask while encoding.
pub struct TungsteniteSender {
    ws: WebSocket<MemStream>,
}

impl TungsteniteSender {
    pub fn new(role: Role) -> Self {
        Self { ws: WebSocket::from_raw_socket(MemStream::write_only(), role, Some(config())) }
    }
}

impl Sender for TungsteniteSender {
    fn send_batch(&mut self, payload: &bytes::Bytes, count: usize) {
        for _ in 0..count {
            self.ws.write(Message::Binary(payload.clone())).expect("tungstenite: write");
        }
        self.ws.flush().expect("tungstenite: flush");
    }

    fn into_output(self) -> Vec<u8> {
        self.ws.into_inner().sink.into_bytes()
    }
}

/// Handshake: the public pieces `tungstenite::accept` is made of, minus the
/// stream plumbing and the `WebSocket` it builds afterwards:
/// `Request::try_parse` (httparse into an `http::Request`, which checks
/// method and version), `create_response` (checks Connection, Upgrade,
/// version and key; computes the accept value) and `write_response`.
/// tungstenite ignores `Sec-WebSocket-Extensions`, so the deflate offer is
/// declined by omission.
#[derive(Default)]
pub struct TungsteniteHandshaker;

impl Handshaker for TungsteniteHandshaker {
    fn handshake(&mut self, request: &[u8], out: &mut Vec<u8>) {
        let Ok(Some((_, request))) = Request::try_parse(request) else {
            panic!("tungstenite: the request must parse");
        };
        let response = create_response(&request).expect("tungstenite: create_response");
        out.clear();
        write_response(&mut *out, &response).expect("tungstenite: write_response");
    }
}
