//! Integration tests of `Snapshot`: reads and iterators at the snapshot's
//! sequence number, through flushes and compactions, and release on drop.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use seer_db::DB;

mod iter_support;

use iter_support::open_appending as open;

/// Bytes of every table of the tree.
fn tree_bytes(db: &DB) -> u64 {
    db.metrics()
        .levels
        .iter()
        .map(|level| level.size_bytes)
        .sum()
}

fn key(i: usize) -> String {
    format!("key{i:04}")
}

fn collect(iter: seer_db::DbIterator) -> Vec<(Bytes, Bytes)> {
    iter.map(Result::unwrap).collect()
}

#[test]
fn snapshot_reads_ignore_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("a", "1").unwrap();
    db.merge("m", "x").unwrap();
    db.put("gone", "here").unwrap();
    let snapshot = db.snapshot();
    db.put("a", "2").unwrap();
    db.merge("m", "y").unwrap();
    db.delete("gone").unwrap();
    db.put("new", "n").unwrap();
    assert_eq!(snapshot.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(snapshot.get("m").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(snapshot.get("gone").unwrap().as_deref(), Some(&b"here"[..]));
    assert_eq!(snapshot.get("new").unwrap(), None);
    assert_eq!(db.get("m").unwrap().as_deref(), Some(&b"x,y"[..]));
    let keys: Vec<Bytes> = collect(snapshot.iter())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["a", "gone", "m"].map(Bytes::from));
    assert_eq!(collect(snapshot.prefix("g")).len(), 1);
    assert_eq!(collect(snapshot.range("a".."m")).len(), 2);
    assert!(snapshot.seq() < db.visible_seq());
}

#[test]
fn snapshot_survives_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for i in 0..500 {
        db.put(key(i), format!("first-{i}")).unwrap();
    }
    let snapshot = db.snapshot();
    let before = collect(snapshot.iter());
    for round in 0..3 {
        for i in 0..500 {
            if i % 3 == round {
                db.delete(key(i)).unwrap();
            } else {
                db.put(key(i), format!("round-{round}-{i}")).unwrap();
            }
        }
        db.flush().unwrap();
        db.compact_range::<&[u8]>(..).unwrap();
    }
    assert_eq!(collect(snapshot.iter()), before);
    for i in (0..500).step_by(37) {
        let expected = format!("first-{i}");
        assert_eq!(
            snapshot.get(key(i)).unwrap().as_deref(),
            Some(expected.as_bytes())
        );
    }
    let reversed: Vec<_> = snapshot.iter().rev().map(Result::unwrap).collect();
    let mut expected = before;
    expected.reverse();
    assert_eq!(reversed, expected);
}

#[test]
fn dropping_a_snapshot_lets_compaction_drop_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for i in 0..300 {
        db.put(key(i), "old-value-that-takes-some-room").unwrap();
    }
    db.flush().unwrap();
    let snapshot = db.snapshot();
    for i in 0..300 {
        db.put(key(i), "new").unwrap();
    }
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    let pinned_bytes = tree_bytes(&db);
    assert!(snapshot.get(key(1)).unwrap().is_some());
    drop(snapshot);
    db.put("trigger", "x").unwrap();
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    let released_bytes = tree_bytes(&db);
    assert!(
        released_bytes < pinned_bytes,
        "old versions kept after the snapshot was dropped: {released_bytes} >= {pinned_bytes}"
    );
    assert_eq!(db.get(key(1)).unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn data_read_through_a_snapshot_is_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let db = open(&dir);
        for i in 0..200 {
            db.put(key(i), format!("v{i}")).unwrap();
        }
        db.merge(key(3), "m").unwrap();
        let snapshot = db.snapshot();
        let expected = collect(snapshot.iter());
        drop(snapshot);
        db.close().unwrap();
        expected
    };
    let db = open(&dir);
    let snapshot = db.snapshot();
    assert_eq!(collect(snapshot.iter()), expected);
    assert_eq!(snapshot.get(key(3)).unwrap().as_deref(), Some(&b"v3,m"[..]));
}
