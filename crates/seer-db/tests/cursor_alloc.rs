//! Allocation counts of the read path, with a counting global allocator (a
//! test binary of its own, so that no other test's allocator is replaced):
//! a reused [`seer_db::Cursor`] seeks, steps both ways and scans the whole
//! database with no heap allocation per seek or per entry once it was
//! positioned, and `iter()` allocates once per entry (the key it hands
//! out). Entries live in tables (several runs) and in the memtable. Counts,
//! not timings: each is exact for this thread, whatever the machine's load.
#![allow(clippy::unwrap_used)]

use seer_db::{SyncPolicy, DB};
use seer_testkit::alloc_count::{count_allocations, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const KEY_COUNT: u64 = 3000;

/// Key `index` (16 bytes as in the benchmarks, spread over the key space
/// with gaps between keys), made without allocating.
fn key(index: u64) -> [u8; 16] {
    let spread = (index.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (KEY_COUNT * 4)) * 2;
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&spread.to_be_bytes());
    key[8..].copy_from_slice(&index.to_le_bytes());
    key
}

/// A database with keys in three table runs and in the memtable, a few of
/// them deleted or overwritten in a newer source.
fn loaded(dir: &tempfile::TempDir) -> DB {
    let db = seer_db::DBOptions::default()
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(1 << 20)
        .block_size(4 << 10)
        .open(dir.path())
        .unwrap();
    let value = [7u8; 100];
    for part in 0..4u64 {
        for index in (part..KEY_COUNT).step_by(4) {
            db.put(key(index), value).unwrap();
        }
        if part < 3 {
            db.flush().unwrap();
        }
    }
    for index in (0..KEY_COUNT).step_by(97) {
        db.delete(key(index)).unwrap();
        db.put(key(index + 1), [8u8; 100]).unwrap();
    }
    db
}

#[test]
fn a_reused_cursor_seeks_and_steps_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let mut cursor = db.cursor().unwrap();
    let seek_and_step = |cursor: &mut seer_db::Cursor, index: u64| {
        cursor.seek(key(index)).unwrap();
        for _ in 0..10 {
            cursor.next().unwrap();
        }
        cursor.seek_for_prev(key(index + 7)).unwrap();
        for _ in 0..10 {
            cursor.prev().unwrap();
        }
        cursor.valid()
    };
    // The first pass may grow the cursor's buffers.
    for index in 0..KEY_COUNT {
        seek_and_step(&mut cursor, index);
    }
    let (allocations, valid_count) = count_allocations(|| {
        (0..KEY_COUNT)
            .map(|index| seek_and_step(&mut cursor, index.wrapping_mul(31) % KEY_COUNT))
            .filter(|valid| *valid)
            .count()
    });
    assert!(valid_count > 0);
    assert_eq!(allocations, 0, "allocations in {KEY_COUNT} seeks and steps");
}

#[test]
fn a_full_scan_with_a_cursor_allocates_nothing_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let mut cursor = db.cursor().unwrap();
    let scan = |cursor: &mut seer_db::Cursor| {
        let mut entries = 0u64;
        let mut value_bytes = 0;
        cursor.seek_to_first().unwrap();
        while cursor.valid() {
            entries += 1;
            value_bytes += cursor.key().len() + cursor.value().len();
            cursor.next().unwrap();
        }
        cursor.seek_to_last().unwrap();
        while cursor.valid() {
            value_bytes += cursor.value().len();
            cursor.prev().unwrap();
        }
        (entries, value_bytes)
    };
    let warm = scan(&mut cursor);
    let (allocations, scanned) = count_allocations(|| scan(&mut cursor));
    assert_eq!(scanned, warm);
    assert!(scanned.0 > KEY_COUNT / 2);
    assert_eq!(
        allocations, 0,
        "allocations in two scans of {} entries",
        scanned.0
    );
}

#[test]
fn iter_allocates_once_per_entry_for_the_key_it_hands_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded(&dir);
    let (allocations, entries) = count_allocations(|| db.iter().map(Result::unwrap).count() as u64);
    let (setup_allocations, _) = count_allocations(|| db.iter().next().map(Result::unwrap));
    assert!(entries > KEY_COUNT / 2);
    assert!(
        allocations <= entries + setup_allocations,
        "{allocations} allocations for {entries} entries ({setup_allocations} to set up and yield one)"
    );
}
