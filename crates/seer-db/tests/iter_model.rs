//! Model test of the iterators: random puts, deletes, merges, flushes,
//! compactions and snapshots against a `BTreeMap`, checking every iterator
//! (random bounds or prefix, random interleaving of `next` and `next_back`,
//! at the latest state or a snapshot) and `Snapshot::get`. Tiny memtables
//! and explicit flushes spread each key's versions over memtables and
//! tables.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::ops::Bound;

use bytes::Bytes;
use proptest::prelude::*;
use seer_db::{DbIterator, Snapshot, StringAppendOperator, DB};
use seer_testkit::model::{apply, Model, Op as ModelOp};

mod iter_support;

#[derive(Debug, Clone)]
enum Bounds {
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
    Prefix(Vec<u8>),
}

impl Bounds {
    fn contains(&self, key: &[u8]) -> bool {
        match self {
            Self::Prefix(prefix) => key.starts_with(prefix),
            Self::Range(lower, upper) => {
                let above = match lower {
                    Bound::Included(l) => key >= l.as_slice(),
                    Bound::Excluded(l) => key > l.as_slice(),
                    Bound::Unbounded => true,
                };
                let below = match upper {
                    Bound::Included(u) => key <= u.as_slice(),
                    Bound::Excluded(u) => key < u.as_slice(),
                    Bound::Unbounded => true,
                };
                above && below
            }
        }
    }
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
    /// Iterate at the latest state (`None`) or a snapshot, stepping from the
    /// front (`true`) or back (`false`) in turn.
    Check {
        snapshot: Option<usize>,
        bounds: Bounds,
        steps: Vec<bool>,
    },
    SnapshotGet(usize, Vec<u8>),
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0xff]), 0..4)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), 0usize..300).prop_map(|(byte, len)| vec![b'a' + byte % 26; len.max(1)])
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => user_key().prop_map(Bound::Included),
        2 => user_key().prop_map(Bound::Excluded),
    ]
}

fn bounds() -> impl Strategy<Value = Bounds> {
    prop_oneof![
        3 => (bound(), bound()).prop_map(|(l, u)| Bounds::Range(l, u)),
        1 => user_key().prop_map(Bounds::Prefix),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (user_key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => user_key().prop_map(Op::Delete),
        4 => (user_key(), value()).prop_map(|(k, v)| Op::Merge(k, v)),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::TakeSnapshot),
        1 => any::<usize>().prop_map(Op::DropSnapshot),
        3 => (
            prop::option::of(any::<usize>()),
            bounds(),
            prop::collection::vec(any::<bool>(), 0..12)
        )
            .prop_map(|(snapshot, bounds, steps)| Op::Check {
                snapshot,
                bounds,
                steps
            }),
        1 => (any::<usize>(), user_key()).prop_map(|(i, k)| Op::SnapshotGet(i, k)),
    ]
}

fn make_iterator(db: &DB, snapshot: Option<&Snapshot>, bounds: &Bounds) -> DbIterator {
    match (snapshot, bounds) {
        (None, Bounds::Prefix(p)) => db.prefix(p),
        (None, Bounds::Range(l, u)) => db.range((l.clone(), u.clone())),
        (Some(s), Bounds::Prefix(p)) => s.prefix(p),
        (Some(s), Bounds::Range(l, u)) => s.range((l.clone(), u.clone())),
    }
}

fn check_iteration(iter: DbIterator, model: &Model, bounds: &Bounds, steps: &[bool]) {
    let mut expected: VecDeque<(Vec<u8>, Vec<u8>)> = model
        .iter()
        .filter(|(k, _)| bounds.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut iter = iter;
    let as_vecs = |item: Option<seer_db::Result<(Bytes, Bytes)>>| {
        item.map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
    };
    for &front in steps {
        if front {
            assert_eq!(as_vecs(iter.next()), expected.pop_front(), "next");
        } else {
            assert_eq!(as_vecs(iter.next_back()), expected.pop_back(), "next_back");
        }
    }
    let rest: Vec<_> = iter.map(|r| as_vecs(Some(r)).unwrap()).collect();
    assert_eq!(rest, Vec::from(expected), "remaining entries");
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
    for op in ops {
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
            Op::Check {
                snapshot,
                bounds,
                steps,
            } => {
                let chosen = snapshot
                    .filter(|_| !snapshots.is_empty())
                    .map(|i| &snapshots[i % snapshots.len()]);
                let (snapshot, view_model) = match chosen {
                    Some((s, m)) => (Some(s), m),
                    None => (None, &model),
                };
                let iter = make_iterator(&db, snapshot, &bounds);
                check_iteration(iter, view_model, &bounds, &steps);
            }
            Op::SnapshotGet(i, k) => {
                if let Some((s, m)) = snapshots.get(i % snapshots.len().max(1)) {
                    let got = s.get(&k).unwrap().map(|v| v.to_vec());
                    assert_eq!(got, m.get(&k).cloned());
                }
            }
        }
    }
    check_iteration(db.iter(), &model, &Bounds::Prefix(Vec::new()), &[]);
    check_iteration(
        db.iter(),
        &model,
        &Bounds::Prefix(Vec::new()),
        &vec![false; model.len() + 1],
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn iterators_match_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
