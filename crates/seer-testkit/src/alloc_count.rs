//! [`CountingAllocator`]: the system allocator, counting the heap
//! allocations (and reallocations) each thread makes, for tests that prove
//! a path allocates nothing. A test binary installs it with
//! `#[global_allocator]` and reads [`allocations_on_this_thread`] around
//! the code it measures; other threads (the engine's background work) do
//! not disturb the count. Counts, never timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations made by this thread so far (a `const` initialiser and no
    /// destructor, so reading it never allocates).
    static ALLOCATION_COUNT: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations per thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

fn count_one() {
    // During thread teardown the slot may be gone; such allocations are
    // not the measured code's.
    let _ = ALLOCATION_COUNT.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap allocations this thread made so far (0 unless a
/// [`CountingAllocator`] is the global allocator).
pub fn allocations_on_this_thread() -> u64 {
    ALLOCATION_COUNT.try_with(Cell::get).unwrap_or(0)
}

/// The allocations `measured` makes on this thread, and its result.
pub fn count_allocations<T>(measured: impl FnOnce() -> T) -> (u64, T) {
    let before = allocations_on_this_thread();
    let result = measured();
    (allocations_on_this_thread() - before, result)
}
