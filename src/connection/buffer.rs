//! Growth policy for the buffers the peer fills.
//!
//! `BytesMut` on its own doubles its capacity when it runs out, so a buffer
//! that must hold `n` bytes can end up with up to `2n` reserved, and the
//! reallocation briefly holds both copies. Where we know how far a buffer
//! will need to grow (the end of the frame being received, the message
//! limit), we grow geometrically but never past that point, keeping memory
//! within the configured limits.

use bytes::BytesMut;

/// Smallest capacity a growing buffer gets.
pub(crate) const MIN_CAPACITY: usize = 2 << 10;

/// Room kept past the end of the frame being received, so that the read
/// which completes a frame can also bring the start of the next one without
/// reallocating (and copying) the whole frame (measured with callgrind,
/// `handle_read` of 25 frames of 1 MiB in 4 KiB pieces: 31.5 million
/// instructions before, 4.4 million with the slack).
pub(crate) const FRAME_END_SLACK: usize = 4 << 10;

/// Once this share (one in `JUMP_RATIO`) of a large frame has arrived, the
/// receive buffer grows to the frame's end in one step instead of doubling
/// on: doubling to the end copies about the frame's size in all, this about
/// three eighths of it (measured with callgrind, 1 MiB frames read as the
/// adapters do, 4 KiB at a time: `recv_buffer` down from 35.5 to 12.8
/// million instructions for 25 frames). The memory a peer makes us reserve stays
/// within `JUMP_RATIO` times the bytes it actually sent (plus the slack).
const JUMP_RATIO: usize = 8;

/// Makes room in the receive buffer `buf` for `additional` more bytes while
/// a frame whose payload ends at `frame_end` (an index into `buf`) is being
/// received, or between frames (`None`): geometric growth that stops at the
/// frame's end plus [`FRAME_END_SLACK`], and jumps there once an eighth of a
/// large frame has arrived.
///
/// Before allocating, `allow` is asked with the capacity the buffer would
/// get (the memory budget); if it refuses, nothing changes and the refused
/// capacity is returned.
pub(crate) fn reserve_recv(
    buf: &mut BytesMut,
    additional: usize,
    frame_end: Option<usize>,
    allow: impl FnOnce(usize) -> bool,
) -> Result<(), usize> {
    let Some(end) = frame_end else {
        return reserve(buf, additional, usize::MAX, allow);
    };
    let ceiling = end.saturating_add(FRAME_END_SLACK);
    let needed = buf.len().saturating_add(additional);
    if buf.capacity() < needed
        && needed <= ceiling
        && end > 4 * MIN_CAPACITY
        && buf.len().saturating_mul(JUMP_RATIO) >= end
        && !buf.try_reclaim(additional)
    {
        if !allow(ceiling) {
            return Err(ceiling);
        }
        let mut grown = BytesMut::with_capacity(ceiling);
        grown.extend_from_slice(buf);
        *buf = grown;
        return Ok(());
    }
    reserve(buf, additional, ceiling, allow)
}

/// Makes room for `additional` more bytes in `buf`. Reuses consumed space at
/// the front when possible; otherwise reallocates to twice the capacity,
/// capped at `ceiling` when the bytes fit under it (a buffer never gets less
/// than it needs). `allow` as for [`reserve_recv`].
pub(crate) fn reserve(
    buf: &mut BytesMut,
    additional: usize,
    ceiling: usize,
    allow: impl FnOnce(usize) -> bool,
) -> Result<(), usize> {
    if buf.capacity() - buf.len() >= additional || buf.try_reclaim(additional) {
        return Ok(());
    }
    let needed = buf.len().saturating_add(additional);
    let doubled = buf.capacity().saturating_mul(2).max(MIN_CAPACITY);
    let target = if needed <= ceiling { doubled.min(ceiling) } else { doubled }.max(needed);
    if !allow(target) {
        return Err(target);
    }
    let mut grown = BytesMut::with_capacity(target);
    grown.extend_from_slice(buf);
    *buf = grown;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capacities a buffer goes through receiving a frame of `len` bytes
    /// in reads of `read` bytes, up to the read that completes the frame
    /// (bringing bytes of the next one too).
    fn growth(len: usize, read: usize) -> Vec<usize> {
        let mut buf = BytesMut::new();
        let mut capacities = Vec::new();
        while buf.len() < len {
            reserve_recv(&mut buf, read, Some(len), |_| true).unwrap();
            buf.extend_from_slice(&vec![0; read]);
            if capacities.last() != Some(&buf.capacity()) {
                capacities.push(buf.capacity());
            }
        }
        capacities
    }

    #[test]
    fn a_large_frame_doubles_to_an_eighth_then_jumps_to_its_end_plus_slack() {
        let len = 1 << 20;
        let caps = growth(len, 4096);
        assert_eq!(caps, [4096, 8192, 16384, 32768, 65536, 131_072, len + FRAME_END_SLACK]);
    }

    #[test]
    fn the_read_that_ends_a_frame_fits_the_slack() {
        for len in [10_000, 100_000, 1 << 20] {
            let caps = growth(len, 4096);
            assert_eq!(*caps.last().unwrap(), len + FRAME_END_SLACK, "len {len}: {caps:?}");
        }
    }

    #[test]
    fn a_trickled_frame_reserves_at_most_eight_times_what_arrived() {
        let len = 16 << 20;
        let mut buf = BytesMut::new();
        while buf.len() < len {
            reserve_recv(&mut buf, 1, Some(len), |_| true).unwrap();
            buf.extend_from_slice(&[0]);
            let bound = (buf.len() * JUMP_RATIO).max(2 * buf.len()).max(MIN_CAPACITY) + FRAME_END_SLACK;
            assert!(buf.capacity() <= bound, "{} reserved for {} received", buf.capacity(), buf.len());
            if buf.len() == 100_000 {
                break; // the bound holds all the way; the test needs not run to 16 MiB
            }
        }
    }

    #[test]
    fn grows_geometrically_up_to_the_ceiling_only() {
        let mut buf = BytesMut::new();
        let mut capacities = Vec::new();
        while buf.len() < 100_000 {
            reserve(&mut buf, 1000, 100_000, |_| true).unwrap();
            buf.extend_from_slice(&[0; 1000]);
            if capacities.last() != Some(&buf.capacity()) {
                capacities.push(buf.capacity());
            }
        }
        assert_eq!(capacities, [2048, 4096, 8192, 16384, 32768, 65536, 100_000]);
    }

    #[test]
    fn a_refused_growth_changes_nothing_and_says_what_it_asked() {
        let mut buf = BytesMut::with_capacity(4096);
        buf.extend_from_slice(&[9; 4096]);
        assert_eq!(reserve(&mut buf, 1, usize::MAX, |_| false), Err(8192));
        assert_eq!((buf.capacity(), &buf[..]), (4096, &[9u8; 4096][..]));
        let mut asked = 0;
        assert_eq!(
            reserve_recv(&mut buf, 200_000, Some(1 << 20), |capacity| {
                asked = capacity;
                false
            }),
            Err(asked)
        );
        assert!(asked >= 204_096, "{asked}");
        assert_eq!(buf.capacity(), 4096);
        // Room already there needs no grant.
        let mut roomy = BytesMut::with_capacity(100);
        assert_eq!(reserve(&mut roomy, 50, usize::MAX, |_| false), Ok(()));
    }

    #[test]
    fn never_gives_less_than_needed() {
        let mut buf = BytesMut::from(&[1u8; 10][..]);
        reserve(&mut buf, 50_000, 100, |_| true).unwrap();
        assert!(buf.capacity() >= 50_010);
        assert_eq!(&buf[..], &[1; 10]);
        // Past the ceiling, growth is geometric again (no exact-fit churn).
        let mut buf = BytesMut::with_capacity(10_000);
        buf.extend_from_slice(&[0; 10_000]);
        reserve(&mut buf, 1, 5_000, |_| true).unwrap();
        assert_eq!(buf.capacity(), 20_000);
    }
}
