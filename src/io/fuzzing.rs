//! Crate internals for the fuzz targets in `fuzz/`. Compiled only when
//! cargo-fuzz builds the crate (it passes `--cfg fuzzing`); not part of the
//! API, and never in a normal build or its docs.
//!
//! * [`drive_proxy_reply`] (features `blocking` or `tokio`, which bring
//!   `io::proxy`): runs the client side of a proxy tunnel, HTTP `CONNECT` or
//!   SOCKS5, over a scripted answer from the proxy, as an adapter runs it,
//!   and reports what it decided and what it held.

#[cfg(any(feature = "blocking", feature = "tokio"))]
pub use proxy_reply::{drive_proxy_reply, ProxyReplyOutcome, READ_CHUNK};

#[cfg(any(feature = "blocking", feature = "tokio"))]
mod proxy_reply {
    use std::time::Instant;

    use crate::io::handshake_drive::{HandshakeDrive, Step};
    use crate::io::proxy::{Proxy, ProxyKind, Tunnel};
    use crate::io::Error;

    /// The most bytes an adapter reads at a time while a tunnel is being
    /// opened: one read never gives a drive more.
    pub const READ_CHUNK: usize = crate::io::handshake_drive::READ_CHUNK;

    /// What a tunnel drive did with the proxy's answer.
    #[derive(Debug)]
    pub struct ProxyReplyOutcome {
        /// `Ok` once the tunnel is open; otherwise the error the drive
        /// failed with (a tunnel fails with [`Error::Proxy`] only).
        pub result: Result<(), Error>,
        /// The messages the drive wrote to the proxy, one per write step.
        pub written: Vec<Vec<u8>>,
        /// How many bytes of the answer the drive was given (it asked for
        /// every read).
        pub read: usize,
        /// The most bytes of the answer the drive had been given when it
        /// asked for another read.
        pub most_read_before_a_read: usize,
        /// The most bytes in the drive's receive buffer when it asked for
        /// another read.
        pub most_held_before_a_read: usize,
        /// The most bytes in the drive's receive buffer at any step.
        pub most_held: usize,
        /// The bytes in the drive's receive buffer when it finished. An
        /// adapter drops them with the drive: once the tunnel is open they
        /// must all be the proxy's (the HTTP drive keeps its last head).
        pub held_at_end: usize,
        /// The answer's bytes the drive never asked for, in order: once the
        /// tunnel is open, the adapter hands them to the next layer (TLS or
        /// the WebSocket handshake).
        pub unread: Vec<u8>,
        /// A breach of the drive's contract with the adapters (as opposed to
        /// an error reported to the application), if any: a refusal (only
        /// servers refuse), a read asked for after the end of the stream, a
        /// write step with nothing to write, `finish` failing after `Done`,
        /// or a poll after the end disagreeing with the end.
        pub violation: Option<&'static str>,
    }

    /// Runs the tunnel that a client of `kind` (with `credentials`, if
    /// given) opens to `host:port`, with `reads` as the proxy's answer.
    ///
    /// The drive is pumped as the adapters pump it: each write step writes
    /// its whole message, acknowledged `write_chunk` bytes at a time (at
    /// least one); each read step gives it the next entry of `reads` (empty
    /// entries skipped, a longer entry in pieces of [`READ_CHUNK`]), and the
    /// end of the stream once they are used up. Pumping stops when the drive
    /// is done or fails, or at a contract breach.
    pub fn drive_proxy_reply(
        kind: ProxyKind,
        host: &str,
        port: u16,
        credentials: Option<(&str, &str)>,
        reads: &[&[u8]],
        write_chunk: usize,
    ) -> ProxyReplyOutcome {
        let mut proxy = match kind {
            ProxyKind::Http => Proxy::http("proxy.invalid", 3128),
            ProxyKind::Socks5 => Proxy::socks5("proxy.invalid", 1080),
        };
        if let Some((user, password)) = credentials {
            proxy = proxy.with_credentials(user, password);
        }
        let mut drive = Tunnel::new(&proxy, host, port);
        let now = Instant::now();
        let mut pending = reads.iter().flat_map(|read| read.chunks(READ_CHUNK));
        let mut outcome = ProxyReplyOutcome {
            result: Ok(()),
            written: Vec::new(),
            read: 0,
            most_read_before_a_read: 0,
            most_held_before_a_read: 0,
            most_held: 0,
            held_at_end: 0,
            unread: Vec::new(),
            violation: None,
        };
        let mut result = None;
        let mut eof = false;
        let write_chunk = write_chunk.max(1);
        // Each step writes a message (SOCKS5 writes three at most) or reads a
        // piece: more steps than that is a drive going round in circles.
        let pieces: usize = reads.iter().map(|read| read.len().div_ceil(READ_CHUNK)).sum();
        for _ in 0..pieces + 16 {
            outcome.most_held = outcome.most_held.max(drive.recv_buffer().len());
            let step = match drive.poll(now) {
                Ok(step) => step,
                Err(err) => {
                    let again = drive.poll(now);
                    if !matches!(&again, Err(e) if e.to_string() == err.to_string()) {
                        outcome.violation = Some("a poll after a failure does not fail the same way");
                    }
                    result = Some(Err(err));
                    break;
                }
            };
            match step {
                Step::Write => {
                    if drive.transmit().is_empty() {
                        outcome.violation = Some("a write step with nothing to write");
                        break;
                    }
                    let mut message = Vec::new();
                    while !drive.transmit().is_empty() {
                        let n = drive.transmit().len().min(write_chunk);
                        message.extend_from_slice(drive.transmit().get(..n).unwrap_or_default());
                        drive.advance_transmit(n);
                    }
                    outcome.written.push(message);
                }
                Step::Read => {
                    if eof {
                        outcome.violation = Some("a read asked for after the end of the stream");
                        break;
                    }
                    outcome.most_held_before_a_read = outcome.most_held_before_a_read.max(drive.recv_buffer().len());
                    outcome.most_read_before_a_read = outcome.most_read_before_a_read.max(outcome.read);
                    match pending.by_ref().find(|piece| !piece.is_empty()) {
                        Some(piece) => {
                            drive.recv_buffer().extend_from_slice(piece);
                            drive.received(piece.len());
                            outcome.read += piece.len();
                        }
                        None => {
                            eof = true;
                            drive.received(0);
                        }
                    }
                }
                Step::Done => {
                    if !matches!(drive.poll(now), Ok(Step::Done)) {
                        outcome.violation = Some("a poll after the tunnel opened does not say it is done");
                    }
                    outcome.held_at_end = drive.recv_buffer().len();
                    let finished = drive.finish(now);
                    if finished.is_err() {
                        outcome.violation = Some("finish failed after the drive said it was done");
                    }
                    outcome.result = finished;
                    outcome.unread = pending.flatten().copied().collect();
                    return outcome;
                }
                Step::Refused(err) => {
                    outcome.violation = Some("a tunnel refused like a server");
                    result = Some(Err(err));
                    break;
                }
            }
        }
        outcome.result = match result {
            Some(result) => result,
            None => {
                outcome.violation.get_or_insert("the drive neither finished nor failed");
                Err(Error::Usage(crate::UsageError::HandshakeIncomplete))
            }
        };
        outcome.most_held = outcome.most_held.max(drive.recv_buffer().len());
        outcome.held_at_end = drive.recv_buffer().len();
        outcome.unread = pending.flatten().copied().collect();
        outcome
    }
}
