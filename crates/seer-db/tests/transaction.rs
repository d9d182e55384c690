//! Integration tests of OCC transactions: reading their own writes, the
//! overlay iterator, conflict detection (write-write and read-write against
//! other transactions and plain writes), rollback, and that lost updates
//! are impossible under concurrency.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use bytes::Bytes;
use seer_db::{Error, U64AddOperator, DB};

mod iter_support;

fn open(dir: &tempfile::TempDir) -> DB {
    iter_support::tiny_options()
        .merge_operator(U64AddOperator)
        .open(dir.path())
        .unwrap()
}

fn n(value: u64) -> [u8; 8] {
    value.to_le_bytes()
}

fn as_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap())
}

fn is_conflict<T: std::fmt::Debug>(result: seer_db::Result<T>) -> bool {
    matches!(result, Err(Error::TransactionConflict { .. }))
}

#[test]
fn reads_its_own_writes_and_commits_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("a", n(1)).unwrap();
    db.put("b", n(2)).unwrap();
    let mut txn = db.begin_transaction();
    txn.put("a", n(10));
    txn.delete("b");
    txn.merge("c", n(5));
    txn.merge("a", n(1));
    assert_eq!(as_u64(&txn.get("a").unwrap().unwrap()), 11);
    assert_eq!(txn.get("b").unwrap(), None);
    assert_eq!(as_u64(&txn.get("c").unwrap().unwrap()), 5);
    assert_eq!(
        as_u64(&db.get("a").unwrap().unwrap()),
        1,
        "not visible before commit"
    );
    txn.commit().unwrap();
    assert_eq!(as_u64(&db.get("a").unwrap().unwrap()), 11);
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(as_u64(&db.get("c").unwrap().unwrap()), 5);
}

#[test]
fn merge_in_a_transaction_applies_to_the_committed_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("counter", n(40)).unwrap();
    let mut txn = db.begin_transaction();
    txn.merge("counter", n(2));
    assert_eq!(as_u64(&txn.get("counter").unwrap().unwrap()), 42);
    txn.commit().unwrap();
    assert_eq!(as_u64(&db.get("counter").unwrap().unwrap()), 42);
}

#[test]
fn iterator_overlays_the_writes_on_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        db.put(k, n(v)).unwrap();
    }
    let mut txn = db.begin_transaction();
    db.put("e", n(99)).unwrap();
    txn.delete("b");
    txn.put("bb", n(22));
    txn.merge("c", n(30));
    txn.put("f", n(6));
    txn.delete("zz");
    let expected: Vec<(Bytes, u64)> = [("a", 1), ("bb", 22), ("c", 33), ("d", 4), ("f", 6)]
        .into_iter()
        .map(|(k, v)| (Bytes::from(k), v))
        .collect();
    let forward: Vec<(Bytes, u64)> = txn
        .iter()
        .map(|r| r.map(|(k, v)| (k, as_u64(&v))).unwrap())
        .collect();
    assert_eq!(forward, expected);
    let mut backward: Vec<(Bytes, u64)> = txn
        .iter()
        .rev()
        .map(|r| r.map(|(k, v)| (k, as_u64(&v))).unwrap())
        .collect();
    backward.reverse();
    assert_eq!(backward, expected);
    let ranged: Vec<Bytes> = txn.range("b"..="c").map(|r| r.unwrap().0).collect();
    assert_eq!(ranged, ["bb", "c"].map(Bytes::from));
    let prefixed: Vec<Bytes> = txn.prefix("b").map(|r| r.unwrap().0).collect();
    assert_eq!(prefixed, ["bb"].map(Bytes::from));
    let mut both_ends = txn.iter();
    assert_eq!(both_ends.next().unwrap().unwrap().0, "a");
    assert_eq!(both_ends.next_back().unwrap().unwrap().0, "f");
    assert_eq!(both_ends.next_back().unwrap().unwrap().0, "d");
    assert_eq!(both_ends.next().unwrap().unwrap().0, "bb");
    assert_eq!(both_ends.next().unwrap().unwrap().0, "c");
    assert!(both_ends.next().is_none() && both_ends.next_back().is_none());
}

#[test]
fn write_write_conflict_with_another_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let mut first = db.begin_transaction();
    let mut second = db.begin_transaction();
    first.put("k", n(1));
    second.put("k", n(2));
    first.commit().unwrap();
    assert!(is_conflict(second.commit()));
    assert_eq!(as_u64(&db.get("k").unwrap().unwrap()), 1);
}

#[test]
fn read_write_conflict_with_a_plain_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("balance", n(100)).unwrap();
    let mut txn = db.begin_transaction();
    let balance = as_u64(&txn.get("balance").unwrap().unwrap());
    txn.put("audit", n(balance));
    db.put("balance", n(50)).unwrap();
    let result = txn.commit();
    assert!(is_conflict(result));
    assert_eq!(
        db.get("audit").unwrap(),
        None,
        "a failed commit writes nothing"
    );
}

#[test]
fn a_key_read_through_the_iterator_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("x", n(1)).unwrap();
    let mut txn = db.begin_transaction();
    let seen = txn.iter().count();
    assert_eq!(seen, 1);
    txn.put("y", n(2));
    db.put("x", n(3)).unwrap();
    assert!(is_conflict(txn.commit()));
}

#[test]
fn conflict_is_found_after_the_other_write_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("k", n(1)).unwrap();
    let mut txn = db.begin_transaction();
    txn.get("k").unwrap();
    txn.put("k", n(2));
    db.put("k", n(5)).unwrap();
    for i in 0..200u64 {
        db.put(format!("filler{i}"), n(i)).unwrap();
    }
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    assert!(is_conflict(txn.commit()));
}

/// A put and a delete of the key after the transaction began, then a
/// bottommost compaction: the versions are gone from the tree, yet the
/// commit must still fail (first committer wins).
#[test]
fn conflict_is_found_after_the_other_writes_were_compacted_away() {
    for existed_before in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        if existed_before {
            db.put("k", n(1)).unwrap();
        }
        // A run at the largest level, so the final compaction rewrites
        // (a trivial move would keep the tombstone anyway).
        db.put("a", n(7)).unwrap();
        db.put("z", n(7)).unwrap();
        db.compact_range::<&[u8]>(..).unwrap();
        let mut txn = db.begin_transaction();
        let seen = txn.get("k").unwrap();
        assert_eq!(seen.is_some(), existed_before);
        db.put("k", n(2)).unwrap();
        db.delete("k").unwrap();
        db.compact_range::<&[u8]>(..).unwrap();
        assert_eq!(db.get("k").unwrap(), None);
        txn.put("k", n(3));
        assert!(
            is_conflict(txn.commit()),
            "committed over a compacted put and delete (existed before: {existed_before})"
        );
        assert_eq!(db.get("k").unwrap(), None);
    }
}

#[test]
fn disjoint_transactions_both_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("a", n(1)).unwrap();
    db.put("b", n(1)).unwrap();
    let mut first = db.begin_transaction();
    let mut second = db.begin_transaction();
    first.get("a").unwrap();
    first.put("a", n(2));
    second.get("b").unwrap();
    second.put("b", n(3));
    first.commit().unwrap();
    second.commit().unwrap();
    assert_eq!(as_u64(&db.get("a").unwrap().unwrap()), 2);
    assert_eq!(as_u64(&db.get("b").unwrap().unwrap()), 3);
}

#[test]
fn read_only_transaction_never_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("a", n(1)).unwrap();
    let txn = db.begin_transaction();
    assert_eq!(as_u64(&txn.get("a").unwrap().unwrap()), 1);
    assert_eq!(txn.iter().count(), 1);
    db.put("a", n(2)).unwrap();
    assert_eq!(
        as_u64(&txn.get("a").unwrap().unwrap()),
        1,
        "reads its snapshot"
    );
    txn.commit().unwrap();
}

#[test]
fn rollback_and_drop_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let mut txn = db.begin_transaction();
    txn.put("a", n(1));
    txn.rollback();
    {
        let mut dropped = db.begin_transaction();
        dropped.put("b", n(1));
    }
    assert_eq!(db.get("a").unwrap(), None);
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(db.iter().count(), 0);
}

#[test]
fn committed_transaction_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(&dir);
        let mut txn = db.begin_transaction();
        for i in 0..50u64 {
            txn.put(format!("k{i:02}"), n(i));
        }
        txn.merge("k07", n(100));
        txn.commit().unwrap();
        db.close().unwrap();
    }
    let db = open(&dir);
    assert_eq!(db.iter().count(), 50);
    assert_eq!(as_u64(&db.get("k07").unwrap().unwrap()), 107);
}

/// Increments `counter` in a transaction, retrying on conflict; returns the
/// number of conflicts met.
fn increment(db: &DB) -> u64 {
    let mut conflicts = 0;
    loop {
        let mut txn = db.begin_transaction();
        let current = txn.get("counter").unwrap().map_or(0, |v| as_u64(&v));
        txn.put("counter", n(current + 1));
        match txn.commit() {
            Ok(()) => return conflicts,
            Err(Error::TransactionConflict { .. }) => conflicts += 1,
            Err(other) => panic!("commit failed: {other}"),
        }
    }
}

#[test]
fn lost_update_is_impossible_under_concurrent_increments() {
    const THREADS: usize = 4;
    const INCREMENTS: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..INCREMENTS).map(|_| increment(&db)).sum::<u64>()
            })
        })
        .collect();
    let _conflicts: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let total = as_u64(&db.get("counter").unwrap().unwrap());
    assert_eq!(total, THREADS as u64 * INCREMENTS);
}

#[test]
fn transactions_and_plain_writes_interleave_without_lost_updates() {
    const THREADS: usize = 3;
    const INCREMENTS: u64 = 60;
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let plain_writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..INCREMENTS {
                db.merge("counter", n(1)).unwrap();
                db.put(format!("noise{i}"), n(i)).unwrap();
            }
        })
    };
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    increment(&db);
                }
            })
        })
        .collect();
    plain_writer.join().unwrap();
    for handle in handles {
        handle.join().unwrap();
    }
    let total = as_u64(&db.get("counter").unwrap().unwrap());
    assert_eq!(total, (THREADS as u64 + 1) * INCREMENTS);
}

#[test]
fn handles_cross_threads() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<seer_db::Transaction>();
    assert_send_sync::<seer_db::Snapshot>();
    assert_send::<seer_db::DbIterator>();
    assert_send::<seer_db::KeyIterator>();
}
