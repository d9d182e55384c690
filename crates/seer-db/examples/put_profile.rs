//! Counts heap allocations per `put` (SyncPolicy::Never, one writer) and per
//! `get` (hits and misses, all answered by the memtable), and runs a fixed
//! number of puts for `valgrind --tool=callgrind` instruction counts.
//!
//! `cargo run --release -p seer-db --example put_profile -- [puts]`
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use seer_db::{DBOptions, SyncPolicy};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let puts: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |arg| arg.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default()
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(512 << 20)
        .open(dir.path())
        .unwrap();
    let value = [7u8; 100];
    // Warm up buffers that grow once.
    for i in 0..1000u64 {
        db.put(i.to_be_bytes(), value).unwrap();
    }
    // 16-byte zero-padded decimal keys in a scattered order, made up front
    // so that the count below holds the engine's allocations only.
    let keys: Vec<String> = (0..puts)
        .map(|i| {
            format!(
                "{:016}",
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000_007
            )
        })
        .collect();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for key in &keys {
        db.put(key.as_bytes(), value).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    let per_put = (after - before) as f64 / puts as f64;
    println!("{puts} puts, {per_put:.2} engine allocations per put");
    let hits = allocations_per_get(&db, keys.iter().map(String::as_bytes));
    let missing_keys: Vec<String> = keys.iter().map(|key| format!("{key}-")).collect();
    let misses = allocations_per_get(&db, missing_keys.iter().map(String::as_bytes));
    println!("{hits:.2} allocations per get (hit), {misses:.2} per get (miss)");
    drop(db);
}

/// Heap allocations per `db.get` of each key, the returned value included.
fn allocations_per_get<'k>(db: &seer_db::DB, keys: impl ExactSizeIterator<Item = &'k [u8]>) -> f64 {
    let key_count = keys.len().max(1);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for key in keys {
        std::hint::black_box(db.get(key).unwrap());
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / key_count as f64
}
