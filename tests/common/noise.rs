//! Bytes that do not compress, for tests that need a message as long on the
//! wire as in memory (permessage-deflate may be on).

/// `len` pseudo-random bytes (xorshift64 from a fixed seed, so every run
/// sends the same ones).
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
