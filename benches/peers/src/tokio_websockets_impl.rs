//! tokio-websockets 0.13, async (tokio I/O traits) over [`MemStream`],
//! polled with [`run_ready`].

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{ClientBuilder, Limits, Message, ServerBuilder, WebSocketStream};

use crate::{run_ready, Handshaker, MemStream, Receiver, Sender, MAX_MESSAGE};

fn limits() -> Limits {
    Limits::default().max_payload_len(Some(MAX_MESSAGE))
}

/// Receive path: `ServerBuilder::serve` (takes over a stream whose handshake
/// is done) in the server role, then `StreamExt::next()` per message: its
/// `FramedRead` reads into a `BytesMut`, decodes and unmasks, and text
/// payloads are validated as they are assembled; `Message::as_text` then
/// only checks the validated flag. `next()` is its only public receiving API.
pub struct TokioWebsocketsReceiver {
    ws: WebSocketStream<MemStream>,
}

impl TokioWebsocketsReceiver {
    pub fn new(wire: Vec<u8>, chunk: usize) -> Self {
        Self { ws: ServerBuilder::new().limits(limits()).serve(MemStream::cyclic(wire, chunk)) }
    }
}

impl Receiver for TokioWebsocketsReceiver {
    fn receive_pass<F: FnMut(&[u8])>(&mut self, messages: usize, mut on_text: F) {
        let ws = &mut self.ws;
        run_ready(async {
            for _ in 0..messages {
                match ws.next().await {
                    Some(Ok(message)) => match message.as_text() {
                        Some(text) => on_text(text.as_bytes()),
                        None => panic!("tokio-websockets: unexpected {message:?}"),
                    },
                    other => panic!("tokio-websockets: unexpected {other:?}"),
                }
            }
        });
    }
}

/// Send path: `SinkExt::feed(Message::binary(Bytes))` per message (a
/// reference-counted clone of the payload; servers queue it without a copy),
/// `SinkExt::flush()` per batch, which writes header + payload pairs with
/// vectored writes. Clients mask: tokio-websockets turns the shared `Bytes`
/// into a `BytesMut` (a copy, as for any payload the caller still holds)
/// and masks that. The stream is built with `ServerBuilder::serve` /
/// `ClientBuilder::take_over` (no handshake).
pub struct TokioWebsocketsSender {
    ws: WebSocketStream<MemStream>,
}

impl TokioWebsocketsSender {
    pub fn new(client: bool) -> Self {
        let stream = MemStream::write_only();
        let ws = if client {
            ClientBuilder::new().limits(limits()).take_over(stream)
        } else {
            ServerBuilder::new().limits(limits()).serve(stream)
        };
        Self { ws }
    }
}

impl Sender for TokioWebsocketsSender {
    fn send_batch(&mut self, payload: &bytes::Bytes, count: usize) {
        let ws = &mut self.ws;
        run_ready(async {
            for _ in 0..count {
                ws.feed(Message::binary(payload.clone())).await.expect("tokio-websockets: feed");
            }
            ws.flush().await.expect("tokio-websockets: flush");
        });
    }

    fn into_output(self) -> Vec<u8> {
        self.ws.into_inner().sink.into_bytes()
    }
}

/// Handshake: tokio-websockets' only public server handshake is
/// `ServerBuilder::accept(stream)`: it reads the request through a
/// `FramedRead` (httparse into an `http::Request`, checks Upgrade,
/// Connection, version; computes the accept value), writes the `101`
/// response to the stream and returns the `WebSocketStream`. Its parser
/// is not public on its own, so the measurement includes that stream
/// plumbing and building the `WebSocketStream` (which reuses the read
/// buffer), and copying the ~130-byte response from the stream's sink to
/// `out`. tokio-websockets ignores `Sec-WebSocket-Extensions`, so the
/// deflate offer is declined by omission.
pub struct TokioWebsocketsHandshaker {
    builder: ServerBuilder,
    stream: MemStream,
}

impl TokioWebsocketsHandshaker {
    pub fn new(request: &[u8]) -> Self {
        Self { builder: ServerBuilder::new().limits(limits()), stream: MemStream::once(request.to_vec()) }
    }
}

impl Handshaker for TokioWebsocketsHandshaker {
    /// `request` must be the one given to `new` (the stream replays it).
    fn handshake(&mut self, request: &[u8], out: &mut Vec<u8>) {
        debug_assert_eq!(request.len(), self.stream.input_len());
        self.stream.rewind();
        let (request, ws) =
            run_ready(self.builder.accept(&mut self.stream)).expect("tokio-websockets: the request must be accepted");
        std::hint::black_box(request.uri().path());
        drop(ws);
        out.clear();
        out.extend_from_slice(self.stream.sink.bytes());
    }
}
