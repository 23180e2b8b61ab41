//! A counting global allocator, per thread, so tests that run in parallel do
//! not see each other's memory. A test binary that measures installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: common::alloc::Counting = common::alloc::Counting;
//! ```
//!
//! [`measure`] panics in a binary that did not, rather than report zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator: the system's, counting as it goes.
pub struct Counting;

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of memory
    /// another thread allocated can make it go below zero: it is signed).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last [`measure`] started.
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Allocation calls (including reallocations) by this thread.
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn record(delta: isize, call: bool) {
    // `try_with`: the thread-locals may be gone while the thread exits.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    if call {
        let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
    }
}

// SAFETY: every call goes to the system allocator unchanged; the wrapper only
// updates thread-local counters, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize, true);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize), false);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as isize - layout.size() as isize, true);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What a closure allocated on this thread.
#[derive(Debug)]
pub struct Usage {
    /// Most bytes live at once, above what was live when it started.
    pub peak: usize,
    /// Allocation calls (reallocations included).
    pub calls: usize,
}

/// Runs `f` and returns what it allocated on this thread.
///
/// # Panics
///
/// If [`Counting`] is not this binary's global allocator.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let before = CALLS.with(Cell::get);
    drop(std::hint::black_box(Vec::<u8>::with_capacity(1)));
    assert!(
        CALLS.with(Cell::get) > before,
        "common::alloc::Counting is not the global allocator of this test binary: nothing would be counted"
    );
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let calls = CALLS.with(Cell::get);
    let out = f();
    let usage = Usage { peak: (PEAK.with(Cell::get) - start).max(0) as usize, calls: CALLS.with(Cell::get) - calls };
    (out, usage)
}
