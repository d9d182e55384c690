//! Concurrency test of the read side: writer threads commit atomic batches
//! while reader threads get, and iterator threads scan forward and backward
//! through snapshots, as memtables are switched, flushed and compacted
//! underneath. Every scan must be sorted, duplicate-free, consistent with
//! batch atomicity, and equal in both directions at one snapshot.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_db::{WriteOptions, DB};

mod iter_support;

const WRITERS: usize = 3;
const ROUNDS: usize = 150;
const KEYS_PER_WRITER: usize = 20;

fn open(dir: &tempfile::TempDir) -> DB {
    iter_support::tiny_options()
        .memtable_capacity(8 << 10)
        .target_file_size(8 << 10)
        .open(dir.path())
        .unwrap()
}

/// Writer `w` sets, in one batch per round, both keys `w/k/a` and `w/k/b`
/// to the round number.
fn writer(db: &DB, w: usize) {
    for round in 0..ROUNDS {
        let k = round % KEYS_PER_WRITER;
        let mut batch = db.batch();
        let value = format!("{round:06}");
        batch.put(format!("{w}/{k:03}/a"), &value);
        batch.put(format!("{w}/{k:03}/b"), &value);
        if round % 7 == 0 {
            batch.delete(format!("{w}/{:03}/gone", k));
        } else {
            batch.put(format!("{w}/{:03}/gone", k), &value);
        }
        db.write(batch, WriteOptions::default()).unwrap();
    }
}

/// Checks one scan: strictly ascending keys, and `/a` equal to `/b`.
fn check_scan(entries: &[(Bytes, Bytes)]) {
    for pair in entries.windows(2) {
        assert!(pair[0].0 < pair[1].0, "keys out of order or repeated");
    }
    for (key, value) in entries {
        if let Some(stem) = key.strip_suffix(b"/a") {
            let partner = [stem, b"/b"].concat();
            let found = entries.iter().find(|(k, _)| k[..] == partner[..]);
            assert_eq!(
                found.map(|(_, v)| v),
                Some(value),
                "batch seen half-applied"
            );
        }
    }
}

fn scanner(db: &DB, stop: &AtomicBool) -> usize {
    let mut scans = 0;
    while !stop.load(Ordering::Acquire) || scans < 3 {
        let snapshot = db.snapshot();
        let forward: Vec<_> = snapshot.iter().map(Result::unwrap).collect();
        let mut backward: Vec<_> = snapshot.iter().rev().map(Result::unwrap).collect();
        backward.reverse();
        check_scan(&forward);
        assert_eq!(forward, backward, "directions disagree at one snapshot");
        let w = scans % WRITERS;
        let prefixed: Vec<_> = db.prefix(format!("{w}/")).map(Result::unwrap).collect();
        check_scan(&prefixed);
        assert!(prefixed
            .iter()
            .all(|(k, _)| k.starts_with(format!("{w}/").as_bytes())));
        scans += 1;
    }
    scans
}

fn reader(db: &DB, stop: &AtomicBool) {
    let mut i = 0usize;
    while !stop.load(Ordering::Acquire) {
        let w = i % WRITERS;
        let k = i % KEYS_PER_WRITER;
        let snapshot = db.snapshot();
        let a = snapshot.get(format!("{w}/{k:03}/a")).unwrap();
        let b = snapshot.get(format!("{w}/{k:03}/b")).unwrap();
        assert_eq!(a, b, "snapshot gets saw half a batch");
        i += 1;
    }
}

#[test]
fn writers_readers_and_iterators_run_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || writer(&db, w))
        })
        .collect();
    let scanners: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || scanner(&db, &stop))
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || reader(&db, &stop))
        })
        .collect();
    for handle in writers {
        handle.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    for handle in scanners {
        assert!(handle.join().unwrap() >= 3);
    }
    for handle in readers {
        handle.join().unwrap();
    }
    let final_scan: Vec<_> = db.iter().map(Result::unwrap).collect();
    check_scan(&final_scan);
    assert_eq!(
        final_scan
            .iter()
            .filter(|(k, _)| k.ends_with(b"/a"))
            .count(),
        WRITERS * KEYS_PER_WRITER
    );
}
