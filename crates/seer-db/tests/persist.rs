//! `DB::persist` on `FaultFileSystem`: under `SyncPolicy::Never` it makes
//! every write acknowledged before it survive a power loss (which the same
//! writes without it do not), concurrent calls share their `fdatasync`s, a
//! failed sync turns the database read-only, and a closed database refuses
//! it.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Barrier};

use seer_core::fault::{Fault, FaultFileSystem, PowerLossMode};
use seer_db::{DBOptions, Error, SyncPolicy, DB};

const DB_DIR: &str = "/db";
const THREADS: usize = 8;

/// Opens (or reopens) the database on `fs`: no sync per write, and a
/// memtable large enough that nothing is flushed (so every file sync the
/// test counts is the WAL's).
fn open(fs: &FaultFileSystem) -> DB {
    DBOptions::default()
        .file_system(fs.shared())
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(64 << 20)
        .open(Path::new(DB_DIR))
        .unwrap()
}

fn key(writer: usize, index: usize) -> Vec<u8> {
    format!("key-{writer:02}-{index:04}").into_bytes()
}

/// Puts `count` keys of writer 0.
fn put_keys(db: &DB, count: usize) {
    for index in 0..count {
        db.put(key(0, index), b"value").unwrap();
    }
}

/// How many of writer 0's first `count` keys the database holds.
fn present_keys(db: &DB, count: usize) -> usize {
    (0..count)
        .filter(|&index| db.get(key(0, index)).unwrap().is_some())
        .count()
}

/// Puts, then cuts the power (unsynced bytes are dropped) after a
/// `persist` or without one; returns how many of the keys the reopened
/// database holds.
fn keys_after_power_loss(persist: bool) -> usize {
    let fs = FaultFileSystem::new();
    let db = open(&fs);
    put_keys(&db, 100);
    if persist {
        db.persist().unwrap();
    }
    fs.power_loss(PowerLossMode::DropUnsynced);
    drop(db);
    let db = open(&fs);
    present_keys(&db, 100)
}

#[test]
fn persist_makes_unsynced_writes_survive_a_power_loss() {
    assert_eq!(keys_after_power_loss(true), 100);
}

/// The control of the test above: the same writes without `persist` are
/// not durable under `SyncPolicy::Never`, so that test fails if `persist`
/// syncs nothing.
#[test]
fn without_persist_unsynced_writes_are_lost_in_a_power_loss() {
    assert_eq!(keys_after_power_loss(false), 0);
}

/// Calls from 8 threads after the writes: the first syncs, every other one
/// (queued behind it, or after it) finds nothing new logged and syncs
/// nothing.
#[test]
fn concurrent_persist_calls_with_nothing_new_logged_share_one_fsync() {
    let fs = FaultFileSystem::new();
    let db = Arc::new(open(&fs));
    put_keys(&db, 10);
    let syncs_before = fs.stats().syncs_count;
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..25 {
                    db.persist().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(fs.stats().syncs_count - syncs_before, 1);
}

/// 8 writers, each persisting after every put: every write is durable
/// after the power loss, and the calls never sync more often than they are
/// made (calls queued behind an in-flight sync share it; how many do is up
/// to the scheduler, so only the bound is asserted).
#[test]
fn writers_persisting_concurrently_keep_every_write_with_at_most_one_fsync_per_call() {
    const ROUNDS: usize = 20;
    let fs = FaultFileSystem::new();
    let db = Arc::new(open(&fs));
    let syncs_before = fs.stats().syncs_count;
    let threads: Vec<_> = (0..THREADS)
        .map(|writer| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for index in 0..ROUNDS {
                    db.put(key(writer, index), b"value").unwrap();
                    db.persist().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let syncs = fs.stats().syncs_count - syncs_before;
    let calls = (THREADS * ROUNDS) as u64;
    println!("{calls} persist calls, {syncs} file syncs");
    assert!(syncs <= calls, "{syncs} syncs for {calls} calls");
    fs.power_loss(PowerLossMode::DropUnsynced);
    drop(db);
    let db = open(&fs);
    for writer in 0..THREADS {
        for index in 0..ROUNDS {
            assert!(
                db.get(key(writer, index)).unwrap().is_some(),
                "{writer}/{index}"
            );
        }
    }
}

#[test]
fn a_failed_persist_sync_turns_the_database_read_only() {
    let fs = FaultFileSystem::new();
    let db = open(&fs);
    put_keys(&db, 10);
    fs.arm(Fault::FailSync { nth: 1 });
    assert!(db.persist().is_err());
    assert!(!db.health().is_writable());
    assert!(matches!(
        db.put(b"later", b"value"),
        Err(Error::ReadOnly { .. })
    ));
    // A failed sync is never retried: later calls fail too.
    assert!(db.persist().is_err());
}

#[test]
fn persist_after_close_is_refused_as_closed() {
    let fs = FaultFileSystem::new();
    let db = open(&fs);
    put_keys(&db, 1);
    db.close().unwrap();
    assert!(matches!(db.persist(), Err(Error::Closed)));
}

/// An empty database, or one whose writes are all synced already: nothing
/// to sync, and `persist` succeeds.
#[test]
fn persist_with_nothing_logged_syncs_nothing() {
    let fs = FaultFileSystem::new();
    let db = open(&fs);
    let syncs_before = fs.stats().syncs_count;
    db.persist().unwrap();
    assert_eq!(fs.stats().syncs_count, syncs_before);
}
