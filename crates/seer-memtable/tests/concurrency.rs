//! Concurrency and long-scan tests: several writer threads insert disjoint
//! and overlapping keys (with a reader scanning both ways meanwhile), half
//! of them in ascending batches through a `MemtableInserter` whose
//! remembered positions the other threads' inserts keep invalidating;
//! tombstones and some puts have empty values (nodes without a value
//! handle) among the others, and the reader checks every value it sees;
//! afterwards every insert is visible and a full scan is sorted and
//! complete. A long scan
//! with direction changes checks the cursor's batch refills.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{
    compare_internal_keys, InternalIterator, InternalKey, Lookup, ParsedInternalKey, SeqNo,
    ValueKind,
};
use seer_memtable::Memtable;

const THREAD_COUNT: u64 = 4;
const WRITES_PER_THREAD: u64 = 2_000;
const SHARED_KEY_COUNT: u64 = 50;
/// Writes per batch of the threads that insert through an inserter.
const BATCH_WRITES: u64 = 100;

/// The key and value of write `index` of thread `thread`, at a sequence
/// number unique across threads. Even writes go to the thread's own keys
/// (ascending, interleaved with the other threads' own keys), odd ones to
/// keys every thread shares.
fn write_of(thread: u64, index: u64) -> (Vec<u8>, SeqNo, Bytes) {
    let seq = 1 + index * THREAD_COUNT + thread;
    let key = if index.is_multiple_of(2) {
        format!("own-{index:06}-{thread}")
    } else {
        format!("shared-{:03}", index % SHARED_KEY_COUNT)
    };
    (key.into_bytes(), seq, value_of(seq))
}

fn kind_of(seq: SeqNo) -> ValueKind {
    match seq % 7 {
        0 => ValueKind::Delete,
        1 | 2 => ValueKind::Merge,
        _ => ValueKind::Put,
    }
}

/// The value written at `seq`: empty for a tombstone and for every other
/// put (`seq % 7 == 3`), `v{seq}` otherwise.
fn value_of(seq: SeqNo) -> Bytes {
    match seq % 7 {
        0 | 3 => Bytes::new(),
        _ => Bytes::from(format!("v{seq}")),
    }
}

/// Asserts that the entry `key` carries the value written with it.
fn assert_value_of(key: &[u8], value: &Bytes) {
    let seq = ParsedInternalKey::parse(key).unwrap().seq;
    assert_eq!(value, &value_of(seq), "value of seq {seq}");
}

/// Scans forward and returns the keys, asserting strict order and each
/// entry's value.
fn scan_sorted(memtable: &Arc<Memtable>) -> Vec<Vec<u8>> {
    let mut cursor = memtable.iter();
    cursor.seek_to_first().unwrap();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    while cursor.valid() {
        if let Some(last) = keys.last() {
            assert_eq!(compare_internal_keys(last, cursor.key()), Ordering::Less);
        }
        assert_value_of(cursor.key(), cursor.value());
        keys.push(cursor.key().to_vec());
        cursor.next().unwrap();
    }
    keys
}

/// Scans backward (through the skip lists' back hints) and returns the
/// keys in ascending order, asserting strict order and each entry's value.
fn scan_sorted_backward(memtable: &Arc<Memtable>) -> Vec<Vec<u8>> {
    let mut cursor = memtable.iter();
    cursor.seek_to_last().unwrap();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    while cursor.valid() {
        if let Some(last) = keys.last() {
            assert_eq!(compare_internal_keys(last, cursor.key()), Ordering::Greater);
        }
        assert_value_of(cursor.key(), cursor.value());
        keys.push(cursor.key().to_vec());
        cursor.prev().unwrap();
    }
    keys.reverse();
    keys
}

#[test]
fn concurrent_inserts_are_all_visible_and_sorted() {
    let memtable = Arc::new(Memtable::new(4, usize::MAX));
    let writers_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..THREAD_COUNT)
            .map(|thread| {
                let memtable = &memtable;
                scope.spawn(move || {
                    let mut inserter = memtable.inserter();
                    for index in 0..WRITES_PER_THREAD {
                        let (key, seq, value) = write_of(thread, index);
                        if thread.is_multiple_of(2) {
                            if index.is_multiple_of(BATCH_WRITES) {
                                inserter = memtable.inserter();
                            }
                            inserter.insert(&key, seq, kind_of(seq), value).unwrap();
                        } else {
                            memtable.insert(&key, seq, kind_of(seq), value).unwrap();
                        }
                    }
                })
            })
            .collect();
        scope.spawn(|| {
            while !writers_done.load(AtomicOrdering::Acquire) {
                scan_sorted(&memtable);
                scan_sorted_backward(&memtable);
            }
        });
        for writer in writers {
            writer.join().unwrap();
        }
        writers_done.store(true, AtomicOrdering::Release);
    });

    let mut expected = BTreeSet::new();
    for thread in 0..THREAD_COUNT {
        for index in 0..WRITES_PER_THREAD {
            let (key, seq, value) = write_of(thread, index);
            let answer = memtable.get(&key, seq);
            match kind_of(seq) {
                ValueKind::Put => assert_eq!(answer, Lookup::Value(value)),
                ValueKind::ExpiringPut => assert_eq!(answer, Lookup::Expiring(value)),
                ValueKind::Delete => assert_eq!(answer, Lookup::Deleted),
                ValueKind::Merge => match answer {
                    Lookup::Merge { operands, .. } => assert_eq!(operands[0], value),
                    other => panic!("expected merge operands, got {other:?}"),
                },
            }
            expected.insert(InternalKey::new(key, seq, kind_of(seq)).encode());
        }
    }
    let scanned = scan_sorted(&memtable);
    assert_eq!(scan_sorted_backward(&memtable), scanned);
    assert_eq!(scanned.len() as u64, THREAD_COUNT * WRITES_PER_THREAD);
    assert_eq!(scanned.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(memtable.entry_count(), THREAD_COUNT * WRITES_PER_THREAD);
    assert_eq!(memtable.smallest_seq(), Some(1));
    assert_eq!(
        memtable.largest_seq(),
        Some(THREAD_COUNT * WRITES_PER_THREAD)
    );
}

#[test]
fn long_scans_turn_around_anywhere() {
    let memtable = Arc::new(Memtable::new(3, usize::MAX));
    let entry_count = 3_000u64;
    for seq in 1..=entry_count {
        let key = format!("key-{:05}", seq * 7919 % entry_count);
        memtable
            .insert(key.as_bytes(), seq, ValueKind::Put, value_of(seq))
            .unwrap();
    }
    let all = scan_sorted(&memtable);
    assert_eq!(all.len() as u64, entry_count);

    let mut cursor = memtable.iter();
    cursor.seek_to_first().unwrap();
    let mut position = 0usize;
    // Walk forward 700, back 300, forward 1000, back 900, ... past batch
    // boundaries, checking every step against the full scan.
    for (stride, forward) in [
        (700, true),
        (300, false),
        (1_000, true),
        (900, false),
        (3_000, true),
    ] {
        for _ in 0..stride {
            if forward {
                cursor.next().unwrap();
                position += 1;
            } else {
                cursor.prev().unwrap();
                position -= 1;
            }
            if position < all.len() {
                assert_eq!(cursor.key(), &all[position][..]);
            } else {
                assert!(!cursor.valid());
                return;
            }
        }
    }
    panic!("the walk should have run off the end");
}
