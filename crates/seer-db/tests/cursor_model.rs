//! Model test of the reusable [`Cursor`] and of `first_key_value` /
//! `last_key_value`: random puts, deletes, merges, flushes, compactions and
//! snapshots against a `BTreeMap`. A cursor on the latest state lives across
//! the operations (seeing the state it pinned until it is refreshed), and
//! short-lived cursors on snapshots seek and step both ways; every move is
//! checked against the model. Tiny memtables and explicit flushes spread
//! each key's versions over memtables and tables.
#![allow(clippy::unwrap_used)]

use std::ops::Bound;

use proptest::prelude::*;
use seer_db::{Cursor, Snapshot, StringAppendOperator, DB};
use seer_testkit::model::{apply, Model, Op as ModelOp};

mod iter_support;

#[derive(Debug, Clone)]
enum Move {
    Seek(Vec<u8>),
    SeekForPrev(Vec<u8>),
    First,
    Last,
    Next,
    Prev,
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Merge(Vec<u8>, Vec<u8>),
    Flush,
    Compact,
    TakeSnapshot,
    DropSnapshot(usize),
    /// A move of the long-lived cursor on the latest state.
    LiveMove(Move),
    /// Re-pins the long-lived cursor on the newest state.
    LiveRefresh,
    /// A fresh cursor on a snapshot (or the latest state), moved in turn.
    SnapshotMoves(Option<usize>, Vec<Move>),
    /// `first_key_value` and `last_key_value` at a snapshot or the latest.
    Ends(Option<usize>),
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0xff]), 0..4)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), 0usize..300).prop_map(|(byte, len)| vec![b'a' + byte % 26; len.max(1)])
}

fn cursor_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        2 => user_key().prop_map(Move::Seek),
        2 => user_key().prop_map(Move::SeekForPrev),
        1 => Just(Move::First),
        1 => Just(Move::Last),
        3 => Just(Move::Next),
        3 => Just(Move::Prev),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (user_key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => user_key().prop_map(Op::Delete),
        3 => (user_key(), value()).prop_map(|(k, v)| Op::Merge(k, v)),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::TakeSnapshot),
        1 => any::<usize>().prop_map(Op::DropSnapshot),
        4 => cursor_move().prop_map(Op::LiveMove),
        1 => Just(Op::LiveRefresh),
        2 => (
            prop::option::of(any::<usize>()),
            prop::collection::vec(cursor_move(), 0..12)
        )
            .prop_map(|(snapshot, moves)| Op::SnapshotMoves(snapshot, moves)),
        1 => prop::option::of(any::<usize>()).prop_map(Op::Ends),
    ]
}

/// The model's answer to `step` from `position` (the key the cursor is on).
fn model_move(model: &Model, position: Option<&Vec<u8>>, step: &Move) -> Option<Vec<u8>> {
    let first_in =
        |range: (Bound<&Vec<u8>>, Bound<&Vec<u8>>)| model.range::<Vec<u8>, _>(range).next();
    let last_in =
        |range: (Bound<&Vec<u8>>, Bound<&Vec<u8>>)| model.range::<Vec<u8>, _>(range).next_back();
    let found = match step {
        Move::Seek(key) => first_in((Bound::Included(key), Bound::Unbounded)),
        Move::SeekForPrev(key) => last_in((Bound::Unbounded, Bound::Included(key))),
        Move::First => model.iter().next(),
        Move::Last => model.iter().next_back(),
        Move::Next => position.and_then(|p| first_in((Bound::Excluded(p), Bound::Unbounded))),
        Move::Prev => position.and_then(|p| last_in((Bound::Unbounded, Bound::Excluded(p)))),
    };
    found.map(|(key, _)| key.clone())
}

fn apply_move(cursor: &mut Cursor, step: &Move) {
    match step {
        Move::Seek(key) => cursor.seek(key),
        Move::SeekForPrev(key) => cursor.seek_for_prev(key),
        Move::First => cursor.seek_to_first(),
        Move::Last => cursor.seek_to_last(),
        Move::Next => cursor.next(),
        Move::Prev => cursor.prev(),
    }
    .unwrap();
}

/// Moves `cursor` and its model position by `step` and compares them.
fn check_move(cursor: &mut Cursor, model: &Model, position: &mut Option<Vec<u8>>, step: &Move) {
    *position = model_move(model, position.as_ref(), step);
    apply_move(cursor, step);
    match position {
        Some(key) => {
            assert!(cursor.valid(), "{step:?}: expected {key:?}");
            assert_eq!(cursor.key(), key.as_slice(), "{step:?}");
            assert_eq!(cursor.value().as_ref(), model[key].as_slice(), "{step:?}");
        }
        None => assert!(!cursor.valid(), "{step:?}: expected the end"),
    }
}

fn check_ends(db: &DB, snapshot: Option<&Snapshot>, model: &Model) {
    let (first, last) = match snapshot {
        Some(s) => (s.first_key_value(), s.last_key_value()),
        None => (db.first_key_value(), db.last_key_value()),
    };
    let owned =
        |entry: Option<(bytes::Bytes, bytes::Bytes)>| entry.map(|(k, v)| (k.to_vec(), v.to_vec()));
    let entry = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
    assert_eq!(owned(first.unwrap()), model.iter().next().map(entry));
    assert_eq!(owned(last.unwrap()), model.iter().next_back().map(entry));
}

/// A cursor together with the model of the view it reads and its position.
struct Tracked {
    cursor: Cursor,
    model: Model,
    position: Option<Vec<u8>>,
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let db = iter_support::tiny_options()
        .memtable_capacity(2 << 10)
        .target_file_size(2 << 10)
        .block_size(128)
        .merge_operator(StringAppendOperator::new(","))
        .open(dir.path())
        .unwrap();
    let mut model = Model::new();
    let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
    let mut live = Tracked {
        cursor: db.cursor().unwrap(),
        model: model.clone(),
        position: None,
    };
    for op in ops {
        let chosen = |index: Option<usize>, snapshots: &[(Snapshot, Model)]| {
            index
                .filter(|_| !snapshots.is_empty())
                .map(|i| i % snapshots.len())
        };
        match op {
            Op::Put(k, v) => {
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            Op::Delete(k) => {
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            Op::Merge(k, v) => {
                db.merge(&k, &v).unwrap();
                apply(&mut model, &ModelOp::Merge(k, v));
            }
            Op::Flush => db.flush().unwrap(),
            Op::Compact => db.compact_range::<&[u8]>(..).unwrap(),
            Op::TakeSnapshot => snapshots.push((db.snapshot(), model.clone())),
            Op::DropSnapshot(i) => {
                if !snapshots.is_empty() {
                    snapshots.remove(i % snapshots.len());
                }
            }
            Op::LiveMove(step) => {
                check_move(&mut live.cursor, &live.model, &mut live.position, &step);
            }
            Op::LiveRefresh => {
                live.cursor.refresh().unwrap();
                live.model = model.clone();
                live.position = None;
                assert!(!live.cursor.valid());
            }
            Op::SnapshotMoves(index, moves) => {
                let (mut cursor, view_model) = match chosen(index, &snapshots) {
                    Some(i) => (snapshots[i].0.cursor().unwrap(), &snapshots[i].1),
                    None => (db.cursor().unwrap(), &model),
                };
                let mut position = None;
                for step in &moves {
                    check_move(&mut cursor, view_model, &mut position, step);
                }
                // A snapshot's cursor stays on the snapshot when refreshed.
                cursor.refresh().unwrap();
                check_move(&mut cursor, view_model, &mut position, &Move::Last);
            }
            Op::Ends(index) => match chosen(index, &snapshots) {
                Some(i) => check_ends(&db, Some(&snapshots[i].0), &snapshots[i].1),
                None => check_ends(&db, None, &model),
            },
        }
    }
    check_ends(&db, None, &model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cursors_and_end_entries_match_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

#[test]
fn end_entries_skip_deleted_ends_and_honour_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = iter_support::open_appending(&dir);
    assert_eq!(db.first_key_value().unwrap(), None);
    assert_eq!(db.last_key_value().unwrap(), None);
    for key in ["a", "b", "c", "d"] {
        db.put(key, key.to_uppercase()).unwrap();
    }
    db.flush().unwrap();
    let before = db.snapshot();
    db.delete("a").unwrap();
    db.delete("d").unwrap();
    let pair =
        |k: &str, v: &str| Some((k.as_bytes().to_vec().into(), v.as_bytes().to_vec().into()));
    assert_eq!(db.first_key_value().unwrap(), pair("b", "B"));
    assert_eq!(db.last_key_value().unwrap(), pair("c", "C"));
    assert_eq!(before.first_key_value().unwrap(), pair("a", "A"));
    assert_eq!(before.last_key_value().unwrap(), pair("d", "D"));
    db.merge("e", "1").unwrap();
    db.merge("e", "2").unwrap();
    assert_eq!(db.last_key_value().unwrap(), pair("e", "1,2"));
}
