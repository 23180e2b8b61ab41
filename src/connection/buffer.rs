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

/// Makes room for `additional` more bytes in `buf`. Reuses consumed space at
/// the front when possible; otherwise reallocates to twice the capacity,
/// capped at `ceiling` when the bytes fit under it (a buffer never gets less
/// than it needs).
pub(crate) fn reserve(buf: &mut BytesMut, additional: usize, ceiling: usize) {
    if buf.capacity() - buf.len() >= additional || buf.try_reclaim(additional) {
        return;
    }
    let needed = buf.len().saturating_add(additional);
    let doubled = buf.capacity().saturating_mul(2).max(MIN_CAPACITY);
    let target = if needed <= ceiling { doubled.min(ceiling) } else { doubled }.max(needed);
    let mut grown = BytesMut::with_capacity(target);
    grown.extend_from_slice(buf);
    *buf = grown;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_geometrically_up_to_the_ceiling_only() {
        let mut buf = BytesMut::new();
        let mut capacities = Vec::new();
        while buf.len() < 100_000 {
            reserve(&mut buf, 1000, 100_000);
            buf.extend_from_slice(&[0; 1000]);
            if capacities.last() != Some(&buf.capacity()) {
                capacities.push(buf.capacity());
            }
        }
        assert_eq!(capacities, [2048, 4096, 8192, 16384, 32768, 65536, 100_000]);
    }

    #[test]
    fn never_gives_less_than_needed() {
        let mut buf = BytesMut::from(&[1u8; 10][..]);
        reserve(&mut buf, 50_000, 100);
        assert!(buf.capacity() >= 50_010);
        assert_eq!(&buf[..], &[1; 10]);
        // Past the ceiling, growth is geometric again (no exact-fit churn).
        let mut buf = BytesMut::with_capacity(10_000);
        buf.extend_from_slice(&[0; 10_000]);
        reserve(&mut buf, 1, 5_000);
        assert_eq!(buf.capacity(), 20_000);
    }
}
