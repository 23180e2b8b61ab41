//! fastwebsockets 0.10, async (tokio I/O traits) over [`MemStream`], polled
//! with [`run_ready`].

use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};

use crate::{parse_http_request, run_ready, write_http_response, Handshaker, MemStream, Receiver, Sender, MAX_MESSAGE};

/// Receive path: `WebSocket::after_handshake` in the server role wrapped in a
/// `FragmentCollector`, then `read_frame()` per message. The collector is
/// fastwebsockets' public API for whole messages (the bare `WebSocket`
/// returns fragments, which the other implementations reassemble); for an
/// unfragmented frame it adds no copy: it reads into its `BytesMut`, splits
/// the payload off, unmasks it in place and validates final text frames
/// with simdutf8.
pub struct FastwebsocketsReceiver {
    ws: FragmentCollector<MemStream>,
}

impl FastwebsocketsReceiver {
    pub fn new(wire: Vec<u8>, chunk: usize) -> Self {
        let mut ws = WebSocket::after_handshake(MemStream::cyclic(wire, chunk), Role::Server);
        ws.set_max_message_size(MAX_MESSAGE);
        Self { ws: FragmentCollector::new(ws) }
    }
}

impl Receiver for FastwebsocketsReceiver {
    fn receive_pass<F: FnMut(&[u8])>(&mut self, messages: usize, mut on_text: F) {
        let ws = &mut self.ws;
        run_ready(async {
            for _ in 0..messages {
                match ws.read_frame().await {
                    Ok(frame) if frame.opcode == OpCode::Text && frame.fin => on_text(&frame.payload),
                    Ok(frame) => panic!("fastwebsockets: unexpected {:?} frame", frame.opcode),
                    Err(err) => panic!("fastwebsockets: {err}"),
                }
            }
        });
    }
}

/// Send path: `write_frame(Frame::binary(..))` per message, `flush()` per
/// batch. fastwebsockets writes each frame straight to the stream (no write
/// buffer): payloads up to 1 KiB are copied with the header into a small
/// buffer and written, larger ones go out as a vectored write of header +
/// payload.
///
/// Payloads are borrowed, never copied by the benchmark: the server sends
/// `Payload::Borrowed` (it does not mask, so nothing is copied). A client
/// must mask, and fastwebsockets masks the payload buffer *in place*: with
/// `Payload::Borrowed` it would first copy it into a new `Vec`, so the
/// client uses its fastest path, `Payload::BorrowedMut`, over a scratch
/// buffer that it scrambles message after message. The bytes sent are then
/// not the original payload after the first message (the checks account
/// for that), and an application that needs its payload afterwards would
/// have to pay the copy this path avoids.
pub struct FastwebsocketsSender {
    ws: WebSocket<MemStream>,
    role: Role,
    scratch: Vec<u8>,
}

impl FastwebsocketsSender {
    pub fn new(role: Role) -> Self {
        Self { ws: WebSocket::after_handshake(MemStream::write_only(), role), role, scratch: Vec::new() }
    }
}

impl Sender for FastwebsocketsSender {
    const MASKS_IN_PLACE: bool = true;

    fn send_batch(&mut self, payload: &bytes::Bytes, count: usize) {
        if self.scratch.len() != payload.len() {
            self.scratch = payload.to_vec();
        }
        let Self { ws, role, scratch } = self;
        run_ready(async {
            for _ in 0..count {
                let payload = match role {
                    Role::Client => Payload::BorrowedMut(&mut scratch[..]),
                    Role::Server => Payload::Borrowed(&payload[..]),
                };
                ws.write_frame(Frame::binary(payload)).await.expect("fastwebsockets: write_frame");
            }
            ws.flush().await.expect("fastwebsockets: flush");
        });
    }

    fn into_output(self) -> Vec<u8> {
        self.ws.into_inner().sink.into_bytes()
    }
}

/// Handshake: fastwebsockets does not parse HTTP; it expects a hyper server
/// to have parsed the request into an `http::Request` and to serialize the
/// response. The benchmark does those two steps itself
/// ([`parse_http_request`], httparse into `http` types as hyper does, and
/// [`write_http_response`]) and in between calls fastwebsockets' own
/// `upgrade::is_upgrade_request` (Connection/Upgrade) and `upgrade::upgrade`
/// (version and key checks, accept value, `101` response; its `UpgradeFut`
/// is dropped: there is no hyper connection to take over). The HTTP glue is
/// not fastwebsockets code, so this row measures "fastwebsockets + a
/// minimal stand-in for hyper", not a full hyper server. fastwebsockets
/// ignores `Sec-WebSocket-Extensions`, so the deflate offer is declined by
/// omission.
#[derive(Default)]
pub struct FastwebsocketsHandshaker;

impl Handshaker for FastwebsocketsHandshaker {
    fn handshake(&mut self, request: &[u8], out: &mut Vec<u8>) {
        let mut request = parse_http_request(request);
        assert!(fastwebsockets::upgrade::is_upgrade_request(&request), "fastwebsockets: not an upgrade request");
        let (response, upgrade) = fastwebsockets::upgrade::upgrade(&mut request).expect("fastwebsockets: upgrade");
        drop(upgrade);
        out.clear();
        write_http_response(&response, out);
    }
}

/// fastwebsockets' public masking function (`fastwebsockets::unmask`).
#[inline]
pub fn mask(buf: &mut [u8], key: [u8; 4]) {
    fastwebsockets::unmask(buf, key);
}
