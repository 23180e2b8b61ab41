//! A scripted proxy for the tunnels' unit tests: it pumps a
//! [`HandshakeDrive`] as an adapter would, answering each message the drive
//! writes with the next scripted answer, delivered in reads of a chosen size.

use std::time::Instant;

use crate::io::handshake_drive::{HandshakeDrive, Step, READ_CHUNK};
use crate::io::Error;

/// Runs `drive` to its end. Each time it writes a message, the next of
/// `answers` becomes readable; reads deliver at most `chunk` bytes (and at
/// most [`READ_CHUNK`], as the adapters do), and once nothing is left to
/// read, the stream ends. Writes are acknowledged `chunk` bytes at a time.
/// Gives the messages written and the result.
pub(super) fn run<D: HandshakeDrive>(
    mut drive: D,
    answers: &[&[u8]],
    chunk: usize,
) -> (Vec<Vec<u8>>, Result<D::Done, Error>) {
    let now = Instant::now();
    let mut answers = answers.iter();
    let mut written = Vec::new();
    let (mut pending, mut read) = (Vec::new(), 0);
    for _ in 0..1_000_000 {
        let step = match drive.poll(now) {
            Ok(step) => step,
            Err(err) => return (written, Err(err)),
        };
        match step {
            Step::Write => {
                let mut message = Vec::new();
                while !drive.transmit().is_empty() {
                    let n = drive.transmit().len().min(chunk);
                    message.extend_from_slice(&drive.transmit()[..n]);
                    drive.advance_transmit(n);
                }
                written.push(message);
                if let Some(answer) = answers.next() {
                    pending.extend_from_slice(answer);
                }
            }
            Step::Read => {
                let n = (pending.len() - read).min(chunk).min(READ_CHUNK);
                drive.recv_buffer().extend_from_slice(&pending[read..read + n]);
                read += n;
                drive.received(n);
            }
            Step::Done => return (written, drive.finish(now)),
            Step::Refused(err) => panic!("a tunnel never refuses like a server: {err}"),
        }
    }
    panic!("the drive did not finish");
}

/// Calls `check` with every read size from one byte to all of `answer` at
/// once.
pub(super) fn every_split(answer: &[u8], mut check: impl FnMut(usize)) {
    for chunk in 1..=answer.len() {
        check(chunk);
    }
    check(usize::MAX);
}
