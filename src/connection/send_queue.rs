//! The queue of encoded frames waiting for the transport.
//!
//! Frames are encoded into one growing buffer, the `tail`, so a burst of
//! small messages leaves in one write. With vectored transmit on, a large
//! payload that the caller handed over as [`Bytes`] is not copied: the
//! tail so far (ending with that frame's header) is frozen into a chunk,
//! the payload becomes the next chunk, and encoding carries on in the tail.
//! The transport then writes the chunks with one vectored write
//! (`writev`), which copies each byte once, into the kernel.
//!
//! A client must mask what it sends, so a shared payload cannot go out as
//! it is; instead of a masked copy of all of it, the queue masks it a piece
//! at a time into a small `stage` as the transport reaches it. A large
//! message then costs the stage (at most [`STAGE`] bytes) rather than its
//! own size again, and the masked bytes are still in cache when written.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameBuf, MaskKey};

/// Payloads at least this long are queued without a copy when vectored
/// transmit is on. Below it, copying into the tail costs less than an
/// extra chunk (and an extra I/O slice for the kernel to walk).
pub(crate) const ZERO_COPY_MIN: usize = 4 << 10;

/// The send buffer's first allocation.
const FIRST_TAIL: usize = 512;

/// The most bytes of a shared payload masked ahead of the transport: a
/// multiple of 4, so every piece starts at the key's first byte. Small in
/// unit tests, so that they cross piece boundaries.
const STAGE: usize = if cfg!(test) { 64 } else { 256 << 10 };

/// A run of queued bytes before the tail.
#[derive(Debug)]
enum Chunk {
    /// Bytes that go out as they are and are the queue's own memory: a
    /// sealed part of the tail, or a payload nobody else holds.
    Plain(Bytes),
    /// A payload the caller handed over, which goes out as it is: the
    /// caller's memory (shared with a `PreparedMessage` or the `Message`),
    /// not the queue's.
    Shared(Bytes),
    /// The part of a shared payload not yet masked into the stage; the
    /// stage's bytes come before it. `owned`: nobody else holds it, so it
    /// counts as the queue's memory.
    Masked { rest: Bytes, key: MaskKey, owned: bool },
}

#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    /// Queued bytes that come before `tail`, oldest first; never empty
    /// chunks, except a masked one whose last piece is in the stage.
    chunks: VecDeque<Chunk>,
    /// Total length of `chunks` and `stage`.
    chunks_len: usize,
    /// Bytes of the `Plain` chunks and of owned masked payloads not yet
    /// staged: the queue's own memory before the tail.
    owned_len: usize,
    /// How many of `chunks` are masked ones.
    masked: usize,
    /// The next masked bytes of the first masked chunk (the chunks before
    /// it are plain).
    stage: BytesMut,
    /// The newest queued bytes, where frames are encoded.
    tail: BytesMut,
    /// The most bytes the tail has held since it was last released: a
    /// lower bound on its allocation, which `tail.capacity()` undercounts
    /// once bytes were sent (it counts from the first unsent byte, so a
    /// drained tail reports none while holding all it ever grew to).
    tail_peak: usize,
}

impl SendQueue {
    /// A queue whose first bytes are `tail`'s.
    pub(crate) fn with_tail(tail: BytesMut) -> Self {
        Self { tail, ..Self::default() }
    }

    /// Bytes queued in all.
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

    /// Ends the tail here: what it holds becomes a chunk, so that a chunk
    /// can follow it.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.tail_peak = self.tail_peak.max(self.tail.len());
            let queued = self.tail.split().freeze();
            self.chunks_len += queued.len();
            self.owned_len += queued.len();
            self.chunks.push_back(Chunk::Plain(queued));
        }
    }

    /// Queues `payload` after everything queued, without copying it;
    /// `owned` when nobody else holds it (it is then the queue's memory).
    pub(crate) fn push_shared(&mut self, payload: Bytes, owned: bool) {
        if payload.is_empty() {
            return;
        }
        self.seal_tail();
        self.chunks_len += payload.len();
        if owned {
            self.owned_len += payload.len();
            self.chunks.push_back(Chunk::Plain(payload));
        } else {
            self.chunks.push_back(Chunk::Shared(payload));
        }
    }

    /// Queues `payload` masked with `key` after everything queued (the
    /// frame's header is already in the tail), masking it a piece at a
    /// time as the transport reaches it.
    pub(crate) fn push_masked(&mut self, payload: Bytes, key: MaskKey, owned: bool) {
        if payload.is_empty() {
            return;
        }
        self.seal_tail();
        self.chunks_len += payload.len();
        if owned {
            self.owned_len += payload.len();
        }
        self.chunks.push_back(Chunk::Masked { rest: payload, key, owned });
        self.masked += 1;
    }

    /// Masks the next piece of the first masked chunk into the empty stage,
    /// and drops that chunk once all of it has been masked and written.
    #[inline]
    fn stage_front(&mut self) {
        // Called before every look at the queue: nothing to do (the usual
        // case) costs two comparisons.
        if self.masked > 0 && self.stage.is_empty() {
            self.stage_next();
        }
    }

    #[inline(never)]
    fn stage_next(&mut self) {
        while self.stage.is_empty() {
            let Some(at) = self.chunks.iter().position(|chunk| matches!(chunk, Chunk::Masked { .. })) else {
                return;
            };
            let Some(Chunk::Masked { rest, key, owned }) = self.chunks.get_mut(at) else {
                return;
            };
            if rest.is_empty() {
                self.chunks.remove(at);
                self.masked -= 1;
                continue;
            }
            let piece = rest.split_to(rest.len().min(STAGE));
            if *owned {
                // Staged: the stage's memory now, counted as such.
                self.owned_len -= piece.len();
            }
            self.stage.clear();
            self.stage.put_masked(&piece, *key);
        }
    }

    /// The oldest contiguous run of queued bytes (everything, unless shared
    /// payloads are queued).
    pub(crate) fn first(&mut self) -> &[u8] {
        self.stage_front();
        match self.chunks.front() {
            None => &self.tail[..],
            Some(Chunk::Plain(chunk) | Chunk::Shared(chunk)) => &chunk[..],
            Some(Chunk::Masked { .. }) => &self.stage[..],
        }
    }

    /// Fills `out` with the queued bytes in order, as many runs as fit;
    /// returns how many it filled. A masked payload contributes its staged
    /// piece, and nothing after it goes in before the rest is staged.
    pub(crate) fn fill<'a>(&'a mut self, out: &mut [IoSlice<'a>]) -> usize {
        self.stage_front();
        let this: &'a Self = self;
        let mut filled = 0;
        let mut slots = out.iter_mut();
        let mut put = |run: &'a [u8]| match slots.next() {
            Some(slot) => {
                *slot = IoSlice::new(run);
                filled += 1;
                true
            }
            None => false,
        };
        let mut complete = true;
        let mut staged = false;
        for chunk in &this.chunks {
            let more = match chunk {
                Chunk::Plain(bytes) | Chunk::Shared(bytes) => put(&bytes[..]),
                // The stage holds the first masked chunk's next piece.
                Chunk::Masked { rest, .. } if !staged => {
                    staged = true;
                    put(&this.stage[..]) && rest.is_empty()
                }
                Chunk::Masked { .. } => false,
            };
            if !more {
                complete = false;
                break;
            }
        }
        if complete && !this.tail.is_empty() {
            put(&this.tail[..]);
        }
        filled
    }

    /// Drops the first `written` bytes (clamped to what is queued); returns
    /// how many it dropped.
    #[inline]
    pub(crate) fn advance(&mut self, written: usize) -> usize {
        // All of it, and all in the tail (the usual case): emptied in place,
        // the buffer keeps its start (advancing would leave the next frame
        // to move it back).
        if self.chunks.is_empty() && written >= self.tail.len() {
            let taken = self.tail.len();
            self.tail_peak = self.tail_peak.max(taken);
            self.tail.clear();
            return taken;
        }
        let queued = self.len();
        self.advance_through_chunks(written);
        queued - self.len()
    }

    fn advance_through_chunks(&mut self, mut written: usize) {
        while written > 0 {
            self.stage_front();
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
            let run = match front {
                Chunk::Plain(bytes) if written < bytes.len() => {
                    bytes.advance(written);
                    self.chunks_len -= written;
                    self.owned_len -= written;
                    return;
                }
                Chunk::Plain(bytes) => {
                    self.owned_len -= bytes.len();
                    bytes.len()
                }
                Chunk::Shared(bytes) if written < bytes.len() => {
                    bytes.advance(written);
                    self.chunks_len -= written;
                    return;
                }
                Chunk::Shared(bytes) => bytes.len(),
                Chunk::Masked { .. } if written < self.stage.len() => {
                    self.stage.advance(written);
                    self.chunks_len -= written;
                    return;
                }
                Chunk::Masked { .. } => {
                    let staged = self.stage.len();
                    self.stage.clear();
                    self.chunks_len -= staged;
                    written -= staged;
                    // `stage_front` masks the next piece or drops the chunk.
                    continue;
                }
            };
            written -= run;
            self.chunks_len -= run;
            self.chunks.pop_front();
        }
    }

    /// The queue's own memory, roughly: encoded bytes not yet written and
    /// the tail's room (at least the most it has held since it was last
    /// released, which its allocation keeps), payloads nobody else holds,
    /// and the stage. Payloads shared with the caller (`push_shared`,
    /// `push_masked` not `owned`) are the caller's and do not count.
    pub(crate) fn held(&self) -> usize {
        (self.owned_len + self.tail.capacity()).max(self.tail_peak) + self.stage.capacity()
    }

    /// How much more memory the queue may take to encode `additional`
    /// bytes: nothing if the tail has the room, else what a reallocation
    /// (which at least doubles) adds; plus the stage for a masked shared
    /// payload of `masked_payload` bytes.
    pub(crate) fn growth_for(&self, additional: usize, masked_payload: usize) -> usize {
        let (len, capacity) = (self.tail.len(), self.tail.capacity());
        let tail = if capacity - len >= additional {
            0
        } else {
            len.saturating_add(additional).max(capacity.saturating_mul(2)).max(FIRST_TAIL) - capacity
        };
        let stage = masked_payload.min(STAGE).saturating_sub(self.stage.capacity());
        tail.saturating_add(stage)
    }

    /// Whether the tail is empty and its allocation can take `n` bytes.
    #[cfg(test)]
    pub(crate) fn tail_holds(&mut self, n: usize) -> bool {
        self.tail.is_empty() && self.tail.try_reclaim(n)
    }

    /// Whether the tail's allocation may exceed `n` bytes, for the
    /// buffer-release policy (see `tail_peak`).
    pub(crate) fn tail_over(&self, n: usize) -> bool {
        self.tail.capacity().max(self.tail_peak) > n || self.stage.capacity() > n
    }

    /// Replaces an empty tail (and an empty stage) with one that holds no memory.
    pub(crate) fn release_tail(&mut self) {
        if self.tail.is_empty() {
            self.tail = BytesMut::new();
            self.tail_peak = 0;
        }
        if self.stage.is_empty() {
            self.stage = BytesMut::new();
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

    /// Plain and masked shared chunks (shorter and longer than the stage)
    /// between runs in the tail, and the bytes they stand for.
    fn sample_queue() -> (SendQueue, Vec<u8>) {
        let mut queue = SendQueue::default();
        let mut expected = Vec::new();
        for i in 0..6u8 {
            let small = vec![i; usize::from(i) + 1];
            queue.tail().extend_from_slice(&small);
            expected.extend_from_slice(&small);
            let big = Bytes::from(vec![100 + i; 7 + usize::from(i) * 3]);
            queue.push_shared(big.clone(), false);
            expected.extend_from_slice(&big);
            // Two masked payloads in a row, 2 to 3 stages long.
            for len in [STAGE * 2 + usize::from(i) * 13 + 1, usize::from(i) + 5] {
                let key = MaskKey([i, 0x5a, 0xc3 ^ i, 0x17]);
                let payload = Bytes::from((0..len).map(|n| (n * 7 + usize::from(i)) as u8).collect::<Vec<u8>>());
                let mut masked = payload.to_vec();
                crate::frame::apply_mask(&mut masked, key, 0);
                queue.push_masked(payload, key, false);
                expected.extend_from_slice(&masked);
            }
        }
        queue.push_masked(Bytes::new(), MaskKey([1, 2, 3, 4]), false);
        queue.push_shared(Bytes::new(), false);
        queue.tail().extend_from_slice(b"end");
        expected.extend_from_slice(b"end");
        (queue, expected)
    }

    #[test]
    fn keeps_order_across_chunks_and_tail_for_any_write_size() {
        // Under Miri (slow), a few: byte by byte, across a stage, all at once.
        let sizes: &[usize] =
            if cfg!(miri) { &[1, 65, 100_000] } else { &[1, 2, 5, 7, 13, 64, 65, 200, 1000, 100_000] };
        for &max_write in sizes {
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

    #[test]
    fn a_masked_payload_is_staged_a_piece_at_a_time_and_holds_back_what_follows() {
        let mut queue = SendQueue::default();
        queue.tail().extend_from_slice(b"head");
        let key = MaskKey([9, 8, 7, 6]);
        queue.push_masked(Bytes::from(vec![0u8; STAGE * 2 + 3]), key, false);
        queue.tail().extend_from_slice(b"next");
        let runs = |queue: &mut SendQueue| {
            let mut slices = [IoSlice::new(&[]); 8];
            let filled = queue.fill(&mut slices);
            slices[..filled].iter().map(|run| run.to_vec()).collect::<Vec<_>>()
        };
        // "head", then the first staged piece; "next" waits for the rest.
        let first = runs(&mut queue);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0], b"head");
        assert_eq!(first[1].len(), STAGE);
        assert!(first[1].chunks(4).all(|word| word == &key.0[..word.len()]));
        queue.advance(4 + STAGE);
        assert_eq!(queue.first().len(), STAGE);
        queue.advance(STAGE);
        // The last piece (3 bytes) is followed by the tail.
        assert_eq!(runs(&mut queue), [&key.0[..3], b"next"]);
        queue.advance(7);
        assert!(queue.is_empty());
        // The stage is memory the release policy sees and gives back.
        assert!(queue.tail_over(STAGE - 1));
        queue.release_tail();
        assert!(!queue.tail_over(0));
    }

    #[test]
    fn held_counts_the_queues_own_bytes_not_the_callers_shared_payloads() {
        let mut queue = SendQueue::default();
        assert_eq!(queue.held(), 0);
        queue.tail().extend_from_slice(&[1; 1000]);
        let encoded = queue.held();
        assert!(encoded >= 1000, "{encoded}");
        // A large shared payload is the caller's memory: only the sealed
        // head counts, as before. (Smaller under Miri, which is slow.)
        let big = if cfg!(miri) { 16 << 10 } else { 1 << 20 };
        queue.push_shared(Bytes::from(vec![2u8; big]), false);
        assert!(queue.held() < 4 << 10, "{}", queue.held());
        assert!(queue.held() >= 1000);
        // A masked one costs the stage, not its own size.
        assert_eq!(queue.growth_for(0, 10 * STAGE), STAGE, "a masked payload needs the stage");
        queue.push_masked(Bytes::from(vec![3u8; big]), MaskKey([1, 2, 3, 4]), false);
        queue.first();
        assert!(queue.held() <= 4 << 10, "{}", queue.held());
        // Estimates: the room the tail has costs nothing more; past it, a
        // reallocation at least doubles; the stage, once there, is reused.
        let room = queue.tail.capacity() - queue.tail.len();
        assert_eq!(queue.growth_for(room, 0), 0);
        assert!(queue.growth_for(room + 1, 0) >= queue.tail.capacity().max(1));
        assert_eq!(queue.growth_for(0, 10 * STAGE), 0);
        // Written out and released, the queue holds nothing.
        let all = queue.len();
        let _ = drain_vectored(&mut queue, all);
        queue.release_tail();
        assert_eq!(queue.held(), 0);
    }

    #[test]
    fn held_does_not_forget_a_drained_tails_allocation() {
        let mut queue = SendQueue::default();
        let len = if cfg!(miri) { 8 << 10 } else { 100 << 10 };
        queue.tail().extend_from_slice(&vec![5u8; len]);
        assert!(queue.held() >= len);
        queue.advance(len);
        assert!(queue.is_empty());
        assert!(queue.held() >= len, "the allocation stays until released: {}", queue.held());
        queue.release_tail();
        assert_eq!(queue.held(), 0);
    }

    #[test]
    fn a_payload_nobody_else_holds_is_the_queues_memory_until_written() {
        let mut queue = SendQueue::default();
        queue.push_shared(Bytes::from(vec![1u8; 10_000]), true);
        assert!(queue.held() >= 10_000, "{}", queue.held());
        queue.push_masked(Bytes::from(vec![2u8; 10 * STAGE]), MaskKey([1, 2, 3, 4]), true);
        assert!(queue.held() >= 10_000 + 10 * STAGE, "{}", queue.held());
        let all = queue.len();
        let _ = drain_vectored(&mut queue, 1000);
        assert_eq!(all, 10_000 + 10 * STAGE);
        queue.release_tail();
        assert_eq!(queue.held(), 0, "every owned byte given back as it was written");
    }
}
