//! The queue of encoded frames waiting for the transport.
//!
//! Frames are encoded into one growing buffer, the `tail`, so a burst of
//! small messages leaves in one write. With vectored transmit on, a large
//! payload that the caller handed over as [`Bytes`] is not copied: the
//! tail so far (ending with that frame's header) is frozen into a chunk,
//! the payload becomes the next chunk, and encoding carries on in the tail.
//! The transport then writes the chunks with one vectored write
//! (`writev`), which copies each byte once, into the kernel.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Payloads at least this long are queued without a copy when vectored
/// transmit is on. Below it, copying into the tail costs less than an
/// extra chunk (and an extra I/O slice for the kernel to walk).
pub(crate) const ZERO_COPY_MIN: usize = 4 << 10;

/// The send buffer's first allocation.
const FIRST_TAIL: usize = 512;

#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    /// Queued bytes that come before `tail`, oldest first; never empty chunks.
    chunks: VecDeque<Bytes>,
    /// Total length of `chunks`.
    chunks_len: usize,
    /// The newest queued bytes, where frames are encoded.
    tail: BytesMut,
    /// The most bytes the tail has held since it was last released: a
    /// lower bound on its allocation, which `tail.capacity()` undercounts
    /// once bytes were sent (it counts from the first unsent byte, so a
    /// drained tail reports none while holding all it ever grew to).
    tail_peak: usize,
}

impl SendQueue {
    /// Bytes queued in all.
    /// A queue whose first bytes are `tail`'s.
    pub(crate) fn with_tail(tail: BytesMut) -> Self {
        Self { tail, ..Self::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.chunks_len + self.tail.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the next frame is encoded; it goes out after everything queued.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        if self.tail.capacity() == 0 {
            // A first allocation that holds a burst of small frames: grown
            // from a frame's size, the buffer would reallocate at every
            // doubling on the way.
            self.tail.reserve(FIRST_TAIL);
        }
        &mut self.tail
    }

    /// Queues `payload` after everything queued, without copying it.
    pub(crate) fn push_shared(&mut self, payload: Bytes) {
        if payload.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            self.tail_peak = self.tail_peak.max(self.tail.len());
            let queued = self.tail.split().freeze();
            self.chunks_len += queued.len();
            self.chunks.push_back(queued);
        }
        self.chunks_len += payload.len();
        self.chunks.push_back(payload);
    }

    /// The oldest contiguous run of queued bytes (everything, unless shared
    /// payloads are queued).
    pub(crate) fn first(&self) -> &[u8] {
        self.chunks.front().map_or(&self.tail[..], |chunk| &chunk[..])
    }

    /// Fills `out` with the queued bytes in order, as many runs as fit;
    /// returns how many it filled.
    pub(crate) fn fill<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let runs = self.chunks.iter().map(|chunk| &chunk[..]).chain(Some(&self.tail[..]).filter(|t| !t.is_empty()));
        let mut filled = 0;
        for (slot, run) in out.iter_mut().zip(runs) {
            *slot = IoSlice::new(run);
            filled += 1;
        }
        filled
    }

    /// Drops the first `written` bytes (clamped to what is queued).
    pub(crate) fn advance(&mut self, mut written: usize) {
        while written > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.tail_peak = self.tail_peak.max(self.tail.len());
                if written >= self.tail.len() {
                    // All written: emptied in place, the buffer keeps its
                    // start (advancing would leave the next frame to move it back).
                    self.tail.clear();
                } else {
                    self.tail.advance(written);
                }
                return;
            };
            if written < front.len() {
                front.advance(written);
                self.chunks_len -= written;
                return;
            }
            written -= front.len();
            self.chunks_len -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Whether the tail is empty and its allocation can take `n` bytes.
    #[cfg(test)]
    pub(crate) fn tail_holds(&mut self, n: usize) -> bool {
        self.tail.is_empty() && self.tail.try_reclaim(n)
    }

    /// Whether the tail's allocation may exceed `n` bytes, for the
    /// buffer-release policy (see `tail_peak`).
    pub(crate) fn tail_over(&self, n: usize) -> bool {
        self.tail.capacity().max(self.tail_peak) > n
    }

    /// Replaces an empty tail with one that holds no memory.
    pub(crate) fn release_tail(&mut self) {
        if self.tail.is_empty() {
            self.tail = BytesMut::new();
            self.tail_peak = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_vectored(queue: &mut SendQueue, max_write: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); 3];
            let n = queue.fill(&mut slices);
            assert!(n > 0, "a non-empty queue fills at least one slice");
            let mut taken = 0;
            for slice in &slices[..n] {
                let room = max_write - taken;
                let part = &slice[..slice.len().min(room)];
                out.extend_from_slice(part);
                taken += part.len();
                if taken == max_write {
                    break;
                }
            }
            let before = queue.len();
            queue.advance(taken);
            assert_eq!(queue.len(), before - taken);
        }
        out
    }

    fn sample_queue() -> (SendQueue, Vec<u8>) {
        let mut queue = SendQueue::default();
        let mut expected = Vec::new();
        for i in 0..6u8 {
            let small = vec![i; usize::from(i) + 1];
            queue.tail().extend_from_slice(&small);
            expected.extend_from_slice(&small);
            let big = Bytes::from(vec![100 + i; 7 + usize::from(i) * 3]);
            queue.push_shared(big.clone());
            expected.extend_from_slice(&big);
        }
        queue.push_shared(Bytes::new());
        queue.tail().extend_from_slice(b"end");
        expected.extend_from_slice(b"end");
        (queue, expected)
    }

    #[test]
    fn keeps_order_across_chunks_and_tail_for_any_write_size() {
        for max_write in [1, 2, 5, 7, 13, 64, 1000] {
            let (mut queue, expected) = sample_queue();
            assert_eq!(queue.len(), expected.len());
            assert_eq!(drain_vectored(&mut queue, max_write), expected, "writes of {max_write}");
            assert!(queue.first().is_empty());
        }
    }

    #[test]
    fn first_run_then_advance_walks_the_same_bytes() {
        let (mut queue, expected) = sample_queue();
        let mut out = Vec::new();
        while !queue.is_empty() {
            let run = queue.first().to_vec();
            assert!(!run.is_empty());
            let take = run.len().min(4);
            out.extend_from_slice(&run[..take]);
            queue.advance(take);
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn advance_past_the_end_empties_the_queue() {
        let (mut queue, _) = sample_queue();
        queue.advance(usize::MAX);
        assert_eq!(queue.len(), 0);
        assert!(queue.first().is_empty());
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(queue.fill(&mut slices), 0);
    }
}
