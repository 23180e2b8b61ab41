//! The sans-IO connection state machine (RFC 6455 §5-§7).
//!
//! [`Connection`] takes bytes and time in and gives bytes, events and a
//! deadline out. It never touches a socket or reads the clock.

mod buffer;
mod close;
mod closing;
mod commands;
mod event;
mod keepalive;
mod message;
mod prepared;
mod receive;
mod rtt;
mod send_queue;
mod state;
mod timer;

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use close::CloseFrame;
pub use event::{Event, Message, MessagePart};
pub use prepared::PreparedMessage;
pub use rtt::RttEstimate;
pub use state::{ReadyState, State};

use crate::budget::Charge;
use crate::extensions::{Deflater, Inflater, Negotiated};
use crate::frame::{CloseCode, DataKind, FrameDecoder, FrameHeader, OpCode, Progress};
pub use crate::role::Role;
use crate::utf8::Utf8Validator;
use crate::{CloseReason, Config, TimeoutKind};
use close::ControlPayload;
use keepalive::{Heartbeat, IdleTimer};
use message::MessageAssembler;
use send_queue::SendQueue;
use state::{Teardown, Transition};
use timer::{Timer, TimerTable};

/// A WebSocket connection after the opening handshake, as a pure state machine.
///
/// Its methods come in four families:
///
/// * **inputs** — [`handle_read`](Self::handle_read) (or
///   [`recv_buffer`](Self::recv_buffer) + [`handle_received`](Self::handle_received)),
///   [`handle_eof`](Self::handle_eof), [`handle_timeout`](Self::handle_timeout);
/// * **commands** — [`send_text`](Self::send_text), [`send_binary`](Self::send_binary),
///   [`send_fragment`](Self::send_fragment), [`ping`](Self::ping),
///   [`pong`](Self::pong), [`close`](Self::close);
/// * **outputs** — [`poll_event`](Self::poll_event),
///   [`poll_transmit`](Self::poll_transmit) + [`advance_transmit`](Self::advance_transmit),
///   [`poll_timeout`](Self::poll_timeout);
/// * **getters** — [`state`](Self::state), [`role`](Self::role),
///   [`buffered_amount`](Self::buffered_amount),
///   [`should_close_transport`](Self::should_close_transport), ...
///
/// The run loop (see the crate docs): after any input or command, drain
/// [`poll_event`](Self::poll_event) until `None`, *then* write out
/// [`poll_transmit`](Self::poll_transmit) (draining may have queued pongs
/// and close replies), then wait for the transport or for
/// [`poll_timeout`](Self::poll_timeout), whichever comes first. Incoming frames are decoded lazily by `poll_event`, so bytes
/// handed to `handle_read` cost nothing until the events are wanted, and a
/// peer cannot make events pile up: read from the transport only when
/// `poll_event` returns `None`.
///
/// A peer's protocol violation never surfaces as an `Err`: the connection
/// queues a close frame with the right code and reports
/// [`Event::Closed`] with [`CloseReason::Protocol`]. Calls the protocol or
/// the state forbid return a [`UsageError`](crate::UsageError) and change nothing.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    state: State,
    teardown: Teardown,
    /// Every deadline: heartbeat, idle, close handshake.
    timers: TimerTable,
    /// What ends the connection once the bytes already received are decoded.
    ending: Option<Ending>,
    now: Instant,

    recv: BytesMut,
    decoder: FrameDecoder,
    incoming: MessageAssembler,

    send: SendQueue,
    /// Bytes written to the transport so far (the heartbeat watches it move).
    written: u64,
    /// Large payloads given as `Bytes` are queued without a copy.
    vectored_transmit: bool,
    pending_pong: Option<ControlPayload>,
    /// Kind of the fragmented message we are sending, if one is open.
    outgoing: Option<DataKind>,
    outgoing_utf8: Utf8Validator,
    /// The permessage-deflate compressor, when negotiated.
    deflater: Option<Deflater>,
    /// The fragmented message we are sending is compressed.
    outgoing_compressed: bool,
    /// Reused buffer for compressed payloads.
    scratch: Vec<u8>,

    /// Masking keys; only clients mask, so servers have none.
    rng: Option<Box<StdRng>>,
    auto_pong: bool,
    write_buffer_limit: usize,
    close_timeout: Duration,
    heartbeat: Heartbeat,
    idle: IdleTimer,

    close_reason: Option<CloseReason>,
    /// The [`Event::Closed`] not yet returned by `poll_event`.
    unreported_close: Option<CloseReason>,
    /// Reads that brought bytes since the connection was last quiet for a
    /// whole heartbeat interval (saturating): what earns it small buffers
    /// kept across waits (see `release_idle_buffers`).
    reads_in_use: u8,
    /// What the buffers for the peer's input hold of `Config::memory_budget`.
    charge: Charge,
}

/// Something that ends the connection, applied once the bytes already
/// received are decoded (a close frame or a pong among them still counts).
/// Ordered by precedence: a later variant replaces an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    /// Our close frame went unanswered for `Config::close_timeout`.
    CloseTimeout,
    /// The heartbeat's ping went unanswered for `Config::pong_timeout`.
    PongTimeout,
    /// The transport reached end of file.
    PeerEof,
}

impl Connection {
    /// The server end of a connection whose opening handshake has completed,
    /// starting in [`State::Open`].
    ///
    /// Use this when you did the handshake yourself; feed any bytes that
    /// followed the handshake head to [`handle_read`](Self::handle_read).
    /// [`ServerHandshake`](crate::handshake::ServerHandshake) builds one for
    /// you with those bytes already in place.
    pub fn server(config: &Config, now: Instant) -> Self {
        Self::from_parts(Role::Server, config, now, BytesMut::new(), BytesMut::new(), None)
    }

    /// The client end of a connection whose opening handshake has completed,
    /// starting in [`State::Open`]. Its masking keys are drawn from a
    /// generator seeded with `seed`: take it from the operating system
    /// (`rand::random()` with the `rand` crate, or `getrandom::fill` with
    /// `getrandom`: add either to your dependencies), since predictable masks are what
    /// RFC 6455 §10.3 forbids. The core never reads entropy by itself.
    ///
    /// [`ClientHandshake`](crate::handshake::ClientHandshake) builds one for
    /// you, and the adapters seed it from the OS.
    pub fn client(config: &Config, now: Instant, seed: [u8; 32]) -> Self {
        let rng = StdRng::from_seed(seed);
        Self::from_parts(Role::Client, config, now, BytesMut::new(), BytesMut::new(), Some(rng))
    }

    /// A connection that starts with `recv` already received and `send`
    /// already queued for the transport (the handshake's leftovers).
    pub(crate) fn from_parts(
        role: Role,
        config: &Config,
        now: Instant,
        recv: BytesMut,
        send: BytesMut,
        rng: Option<StdRng>,
    ) -> Self {
        let mut decoder = FrameDecoder::new(role, config.max_frame_size);
        decoder.set_accept_unmasked(config.accept_unmasked_frames);
        let queue = SendQueue::with_tail(send);
        let mut timers = TimerTable::default();
        let heartbeat = Heartbeat::new(config.ping_interval, config.pong_timeout, now, &mut timers);
        let idle = IdleTimer::new(config.idle_timeout, now, &mut timers);
        Self {
            role,
            state: State::Open,
            teardown: Teardown::Keep,
            timers,
            ending: None,
            now,
            recv,
            decoder,
            incoming: MessageAssembler::new(config.max_message_size),
            send: queue,
            written: 0,
            vectored_transmit: false,
            pending_pong: None,
            outgoing: None,
            outgoing_utf8: Utf8Validator::default(),
            deflater: None,
            outgoing_compressed: false,
            scratch: Vec::new(),
            rng: rng.map(Box::new),
            auto_pong: config.auto_pong,
            write_buffer_limit: config.write_buffer_limit,
            close_timeout: config.close_timeout,
            heartbeat,
            idle,
            close_reason: None,
            unreported_close: None,
            reads_in_use: 0,
            charge: Charge::new(config.memory_budget.clone()),
        }
    }

    /// Turns on permessage-deflate with the parameters the handshake agreed
    /// on (the handshake types do this for you). Call before any frame is
    /// exchanged. `config` supplies the compression level and threshold.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(
        self,
        params: &crate::extensions::deflate::DeflateParams,
        config: &crate::extensions::deflate::DeflateConfig,
    ) -> Self {
        let (deflater, inflater) = params.codecs(self.role, config);
        self.with_codecs(deflater, inflater)
    }

    /// Runs the extensions the opening handshake agreed on.
    pub(crate) fn with_negotiated(self, negotiated: &Negotiated, config: &Config) -> Self {
        match negotiated.codecs(self.role, config) {
            Some((deflater, inflater)) => self.with_codecs(deflater, inflater),
            None => self,
        }
    }

    /// Compresses what it sends with `deflater`, decompresses what it
    /// receives with `inflater`, and lets RSV1 through the decoder.
    fn with_codecs(mut self, deflater: Deflater, inflater: Inflater) -> Self {
        self.deflater = Some(deflater);
        self.incoming.set_inflater(inflater);
        self.decoder.set_allowed_rsv(FrameHeader::RSV1);
        self
    }

    // ----- inputs -------------------------------------------------------------

    /// Hands over bytes read from the transport at time `now`. Then drain
    /// [`poll_event`](Self::poll_event).
    ///
    /// The bytes are only buffered; `poll_event` decodes them. The buffer has
    /// no bound of its own: read from the transport only when `poll_event`
    /// has returned `None` (it needs more bytes), and memory stays within one
    /// frame plus one read. After the connection is [`State::Closed`],
    /// incoming bytes are discarded.
    pub fn handle_read(&mut self, data: &[u8], now: Instant) {
        self.now = now;
        if !data.is_empty() {
            self.on_heard(now);
        }
        if self.state != State::Closed {
            self.reserve_recv(data.len());
        }
        // Refused by the memory budget: the connection failed and takes no more.
        if self.state != State::Closed {
            self.recv.extend_from_slice(data);
        }
    }

    /// The receive buffer with at least `min_spare` bytes of spare capacity,
    /// for reading from the transport without an extra copy: append to it
    /// (e.g. with tokio's `read_buf`, or `BufMut`), then call
    /// [`handle_received`](Self::handle_received).
    ///
    /// Growing it through this method keeps its capacity within the frame
    /// being received. Only append: removing or changing bytes already in the
    /// buffer corrupts the stream (the connection will not panic, but will
    /// fail with a protocol error or deliver garbage).
    #[inline]
    pub fn recv_buffer(&mut self, min_spare: usize) -> &mut BytesMut {
        if self.recv.capacity() - self.recv.len() < min_spare {
            self.reserve_recv(min_spare);
        }
        &mut self.recv
    }

    /// Tells the connection that bytes were appended to
    /// [`recv_buffer`](Self::recv_buffer) at time `now`. Then drain
    /// [`poll_event`](Self::poll_event).
    pub fn handle_received(&mut self, now: Instant) {
        self.now = now;
        self.on_heard(now);
        if self.state == State::Closed {
            self.recv.clear();
        }
    }

    /// Tells the connection that the transport reached end of file at `now`
    /// (the peer closed its side). Bytes already received are still decoded;
    /// if no close frame was among them, [`poll_event`](Self::poll_event)
    /// reports [`CloseReason::Abnormal`] (code 1006).
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.teardown = self.teardown.on_peer_eof();
        if self.state != State::Closed {
            self.end_when_decoded(Ending::PeerEof);
        }
    }

    /// Fires the timers that are due at `now`. Calling it early, late or
    /// repeatedly is harmless. Then drain [`poll_event`](Self::poll_event) and
    /// check [`should_close_transport`](Self::should_close_transport).
    ///
    /// Frames already received are decoded first: a close reply that arrived
    /// just before the deadline still completes the close handshake.
    ///
    /// While open, this is also where the heartbeat pings (after
    /// `Config::ping_interval` without a byte from the peer), where a peer
    /// that then stays silent for `Config::pong_timeout` is declared dead
    /// ([`CloseReason::Timeout`] with [`TimeoutKind::Pong`]; the transport is
    /// to be closed at once), and where `Config::idle_timeout` starts a close
    /// handshake with code 1001.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == State::Open {
            if self.timers.take_expired(Timer::Ping, now) {
                // Nothing heard for a whole interval: quiet again.
                self.reads_in_use = 0;
                let payload = self.heartbeat.on_ping_due(now, self.written, self.send.len(), &mut self.timers);
                self.push_frame(OpCode::Ping, true, &payload);
            }
            if self.timers.take_expired(Timer::Pong, now)
                && self.heartbeat.on_pong_due(now, self.written, &mut self.timers)
            {
                // Given up once the bytes already received are decoded (in
                // `poll_event`): a pong among them still saves the connection.
                self.end_when_decoded(Ending::PongTimeout);
            }
            if self.timers.take_expired(Timer::Idle, now) && self.idle.on_due(now, &mut self.timers) {
                // Cannot fail: the state is open and the reason is short.
                let _ = self.close(CloseCode::GOING_AWAY, "idle timeout", now);
            }
        }
        if self.timers.take_expired(Timer::Close, now) {
            match self.state {
                State::CloseSent => self.end_when_decoded(Ending::CloseTimeout),
                State::Open | State::Closed => self.teardown = self.teardown.on_deadline(),
            }
        }
    }

    // ----- outputs ------------------------------------------------------------

    /// The next event, decoding buffered bytes as far as needed; `None` when
    /// more bytes are needed or the connection is closed and its
    /// [`Event::Closed`] was already reported.
    ///
    /// Decoding may queue bytes to send (pongs, close replies): write out
    /// [`poll_transmit`](Self::poll_transmit) after draining events.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        // Nothing buffered between frames and nothing ending: no event (the
        // common answer of an event loop's last call, kept cheap).
        if self.recv.is_empty() && self.ending.is_none() && self.state != State::Closed && !self.decoder.is_mid_frame()
        {
            return None;
        }
        self.decode_event()
    }

    /// [`poll_event`](Self::poll_event) past its quick check.
    fn decode_event(&mut self) -> Option<Event> {
        loop {
            if self.state == State::Closed {
                return self.take_close_event();
            }
            // A frame that is all here goes through in one step (the same
            // checks, in the same order, as the steps below).
            if let Some(frame) = self.decoder.whole_frame(&mut self.recv) {
                let result = frame.and_then(|frame| {
                    self.incoming.on_header(&frame.header)?;
                    self.incoming.on_payload(&frame.payload)?;
                    self.on_frame_complete(frame)
                });
                match result {
                    Ok(Some(event)) => return Some(event),
                    Ok(None) => {}
                    Err(err) => self.fail(err),
                }
                continue;
            }
            let progress = match self.decoder.step(&mut self.recv) {
                Ok(progress) => progress,
                Err(err) => {
                    self.fail(err);
                    continue;
                }
            };
            let result = match progress {
                Progress::NeedMore => {
                    match self.ending {
                        None => return None,
                        Some(Ending::PeerEof) => self.enter_closed(Transition::TransportEnded, CloseReason::Abnormal),
                        Some(Ending::PongTimeout) => self.give_up_on_peer(),
                        Some(Ending::CloseTimeout) => self
                            .enter_closed(Transition::CloseTimeout, CloseReason::Timeout(TimeoutKind::CloseHandshake)),
                    }
                    continue;
                }
                Progress::Header(header) => self.incoming.on_header(&header),
                Progress::Payload { start, end } => {
                    let fresh = self.recv.get(start..end).unwrap_or_default();
                    match self.incoming.on_payload(fresh) {
                        // A streamed message's frame still arriving: hand on what came.
                        Ok(()) if self.incoming.streams_frame() && self.decoder.frame_end() != Some(end) => {
                            let data = self.decoder.take_payload(&mut self.recv);
                            let others = self.recv.capacity() + self.output_held();
                            match self.incoming.on_streamed_piece(data, &mut self.charge, others) {
                                Ok(Some(part)) => return Some(Event::Part(part)),
                                Ok(None) => Ok(()),
                                Err(err) => Err(err),
                            }
                        }
                        other => other,
                    }
                }
                Progress::Frame(frame) => match self.on_frame_complete(frame) {
                    Ok(Some(event)) => return Some(event),
                    Ok(None) => Ok(()),
                    Err(err) => Err(err),
                },
            };
            if let Err(err) = result {
                self.fail(err);
            }
        }
    }

    /// Bytes to write to the transport now; empty when there is nothing to send.
    ///
    /// Write as much as the transport takes, then call
    /// [`advance_transmit`](Self::advance_transmit) with the number of bytes
    /// written. Unwritten bytes stay queued, so partial writes and
    /// `WouldBlock` lose nothing.
    ///
    /// With [`set_vectored_transmit`](Self::set_vectored_transmit) on, this
    /// is only the first of possibly several runs of queued bytes: use
    /// [`poll_transmit_vectored`](Self::poll_transmit_vectored) to get them all.
    #[inline]
    pub fn poll_transmit(&mut self) -> &[u8] {
        self.flush_pending_pong();
        self.send.first()
    }

    /// The bytes to write now as I/O slices for a vectored write
    /// (`writev`), in order: fills as many of `slices` as there are runs of
    /// queued bytes ready and returns how many it filled (0 only when there
    /// is nothing to send). Write them, then call
    /// [`advance_transmit`](Self::advance_transmit) with the number of bytes
    /// written, and call again until it returns 0: a client masks a large
    /// shared payload a piece at a time (see [`send`](Self::send)), so the
    /// runs may stop after the piece ready now even with slices to spare.
    /// Without [`set_vectored_transmit`](Self::set_vectored_transmit) there
    /// is at most one run.
    pub fn poll_transmit_vectored<'a>(&'a mut self, slices: &mut [IoSlice<'a>]) -> usize {
        self.flush_pending_pong();
        self.send.fill(slices)
    }

    /// Removes the first `written` bytes of the queued bytes (see
    /// [`poll_transmit`](Self::poll_transmit)) from the queue (clamped to what
    /// is queued).
    #[inline]
    pub fn advance_transmit(&mut self, written: usize) {
        let taken = self.send.advance(written);
        self.written = self.written.saturating_add(u64::try_from(taken).unwrap_or(u64::MAX));
        if self.send.is_empty() && self.send.tail_over(self.write_buffer_limit.max(MIN_RETAINED).saturating_mul(2)) {
            // Give back the memory of an exceptionally large message.
            self.send.release_tail();
        }
        self.settle_charge();
    }

    /// Lets [`send`](Self::send) queue payloads of 4 KiB and more without
    /// copying them (server role; clients must mask, which copies): the
    /// message's `Bytes` are kept until written. Turn it on only if you
    /// write with [`poll_transmit_vectored`](Self::poll_transmit_vectored)
    /// and a transport with efficient vectored writes (a TCP socket): a
    /// transport that writes one slice at a time would send each frame
    /// header in a write of its own. The tokio adapter turns it on when the
    /// stream says it writes vectored efficiently. Off by default.
    pub fn set_vectored_transmit(&mut self, enabled: bool) {
        self.vectored_transmit = enabled;
    }

    /// Gives back the memory of the receive and send buffers while they hold
    /// no bytes. Call it when the transport has nothing to read and the
    /// peer is not busy; the adapters do.
    ///
    /// A connection in use keeps them while they are small (up to 2 KiB
    /// each), which spares it a reallocation per message; one that received
    /// fewer than four reads with bytes since it was last quiet for
    /// a whole heartbeat interval (or since it opened) gives back
    /// everything. So a connection that exchanged a message or two and then
    /// went idle holds no buffer memory, a busy one holds at most 4 KiB,
    /// and a busy one that goes quiet gives them back at its next
    /// heartbeat.
    #[inline]
    pub fn release_idle_buffers(&mut self) {
        let keep = if self.reads_in_use >= KEEP_BUFFERS_AFTER { buffer::MIN_CAPACITY } else { 0 };
        if self.recv.is_empty() && self.recv.capacity() > keep {
            self.recv = BytesMut::new();
        }
        if self.send.is_empty() && self.send.tail_over(keep) {
            self.send.release_tail();
        }
        if self.scratch.capacity() > MIN_RETAINED {
            // What compressing an exceptionally large message left behind.
            self.scratch = Vec::new();
        }
        self.settle_charge();
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout)
    /// should be called, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.should_close_transport() {
            return None;
        }
        self.timers.next()
    }

    // ----- getters ------------------------------------------------------------

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The state as the browser API's `readyState` names it: `Open`,
    /// `Closing` once a close frame was sent, `Closed` once the WebSocket is
    /// over. (A connection exists only after the handshake, so it is never
    /// `Connecting`.)
    pub fn ready_state(&self) -> ReadyState {
        self.state.ready_state()
    }

    /// The round-trip time measured by the heartbeat's pings (see
    /// `Config::ping_interval`); `None` until a heartbeat pong came back.
    pub fn rtt(&self) -> Option<RttEstimate> {
        self.heartbeat.rtt()
    }

    /// Bytes queued for the transport and not yet written (the browser API's
    /// `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.send.len()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have bytes: queued
    /// bytes, or a pong waiting for room. A run loop's quick check before
    /// it looks for bytes to write.
    #[inline]
    #[cfg_attr(not(any(feature = "tokio", feature = "blocking")), allow(dead_code))]
    pub(crate) fn has_transmit(&self) -> bool {
        !self.send.is_empty() || self.pending_pong.is_some()
    }

    /// True while queued bytes are at or above `Config::write_buffer_limit`:
    /// data sends are refused with [`UsageError::WriteBufferFull`](crate::UsageError::WriteBufferFull) until the
    /// transport drains the queue. An empty queue always takes one message,
    /// however large.
    pub fn is_write_buffer_full(&self) -> bool {
        !self.send.is_empty() && self.send.len() >= self.write_buffer_limit
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// True once the connection is [`State::Closed`].
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True once the connection is closed or will be once the bytes it
    /// holds are decoded (a timer gave up): nothing more will be written
    /// for the application, so an adapter waiting to write can stop.
    #[cfg(any(feature = "tokio", feature = "blocking"))]
    pub(crate) fn is_ending(&self) -> bool {
        self.state == State::Closed || self.ending.is_some()
    }

    /// True when the adapter should close the transport now.
    ///
    /// The server closes first, once its last bytes are written; a client
    /// waits for the server's close (EOF) after a clean close handshake, up to
    /// `Config::close_timeout` (RFC 6455 §7.1.1). After a protocol error
    /// either side closes once its close frame is written; after a timeout, at once.
    pub fn should_close_transport(&self) -> bool {
        self.state == State::Closed && self.teardown.close_now(self.send.is_empty())
    }
}

/// Longest close reason that fits a control frame next to the 2-byte code.
const MAX_CLOSE_REASON: usize = 123;

/// Send-buffer capacity kept after draining, however small the limit. A
/// drained send buffer is given back once it grew past twice the larger of
/// this and the write buffer limit: a full queue holds up to the limit plus
/// one message, normal under load; only a message far larger is exceptional.
const MIN_RETAINED: usize = 64 << 10;

/// Reads with bytes after which a connection keeps its small buffers
/// across waits (see [`Connection::release_idle_buffers`]).
const KEEP_BUFFERS_AFTER: u8 = 4;

/// Receive-buffer capacity above which a mostly empty buffer is replaced.
const SHRINK_RECV_ABOVE: usize = 256 << 10;

#[cfg(test)]
mod send_buffer_release_tests {
    use std::time::Instant;

    use super::*;

    fn drain(conn: &mut Connection) {
        loop {
            let n = conn.poll_transmit().len();
            if n == 0 {
                break;
            }
            conn.advance_transmit(n);
        }
    }

    #[test]
    fn a_drained_send_buffer_gives_back_an_exceptionally_large_message() {
        // Before: the check read `capacity()`, which counts from the first
        // unsent byte, so a fully sent 3 MiB frame looked like an empty
        // buffer and its allocation stayed for the connection's life.
        let mut conn = Connection::server(&Config::default(), Instant::now());
        conn.send(&crate::Message::Binary(vec![7u8; 3 << 20].into())).expect("open");
        drain(&mut conn);
        assert!(!conn.send.tail_holds(1), "the 3 MiB send buffer was kept");
        // A message within the usual load stays (no reallocation per burst)
        // until the connection is idle.
        conn.send(&crate::Message::Binary(vec![7u8; 100 << 10].into())).expect("open");
        drain(&mut conn);
        assert!(conn.send.tail_holds(100 << 10), "a 100 KiB send buffer was given back while in use");
        conn.release_idle_buffers();
        assert!(!conn.send.tail_holds(1), "an idle connection kept a 100 KiB send buffer");
    }

    #[test]
    fn small_buffers_are_kept_across_waits_only_while_the_connection_is_in_use() {
        let start = Instant::now();
        let config = Config { ping_interval: Some(Duration::from_secs(20)), ..Config::default() };
        let mut conn = Connection::server(&config, start);
        // A masked 5-byte text frame, as a client sends it.
        let frame = [0x81, 0x85, 1, 2, 3, 4, b'h' ^ 1, b'e' ^ 2, b'l' ^ 3, b'l' ^ 4, b'o' ^ 1];
        let exchange = |conn: &mut Connection, at: Instant| {
            conn.recv_buffer(1024).extend_from_slice(&frame);
            conn.handle_received(at);
            assert!(matches!(conn.poll_event(), Some(Event::Message(_))));
            conn.send_text("hello").expect("open");
            drain(conn);
            conn.release_idle_buffers();
            (conn.recv.capacity(), conn.send.tail_over(0))
        };
        // A message or two, then a wait: nothing kept (an idle connection).
        for _ in 0..KEEP_BUFFERS_AFTER - 1 {
            assert_eq!(exchange(&mut conn, start), (0, false), "a barely used connection kept buffers");
        }
        // In use: small buffers stay, sparing a reallocation per message.
        let (recv, send) = exchange(&mut conn, start);
        assert!(recv > 0 && recv <= buffer::MIN_CAPACITY && send, "a busy connection gave back its buffers");
        // Quiet for a whole heartbeat interval: given back at the next wait.
        let later = start + Duration::from_secs(21);
        conn.handle_timeout(later);
        drain(&mut conn); // the heartbeat's ping
        conn.release_idle_buffers();
        assert_eq!((conn.recv.capacity(), conn.send.tail_over(0)), (0, false), "a quiet connection kept buffers");
    }

    #[test]
    fn an_unlimited_write_buffer_drains_without_overflow() {
        // The release threshold is twice the limit: it must saturate (the
        // roundtrip fuzz target found `2 * usize::MAX` overflowing).
        let config = Config { write_buffer_limit: usize::MAX, ..Config::default() };
        let mut conn = Connection::server(&config, Instant::now());
        conn.send(&crate::Message::Binary(vec![7u8; 100].into())).expect("open");
        drain(&mut conn);
        assert_eq!(conn.buffered_amount(), 0);
    }
}
