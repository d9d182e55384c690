//! Model test: random puts, deletes and merges at random sequence numbers,
//! checked against a `BTreeMap<(user key, Reverse(seq)), op>` for `get` at
//! random snapshots and for bounded iteration with random seeks and steps in
//! both directions, under several partition counts.
#![allow(clippy::unwrap_used)]

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use seer_core::{
    compare_internal_keys, InternalIterator, InternalKey, Lookup, MergeBase, SeqNo, ValueKind,
};
use seer_memtable::Memtable;

/// One write of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    Put(Vec<u8>),
    Delete,
    Merge(Vec<u8>),
}

impl Write {
    fn kind(&self) -> ValueKind {
        match self {
            Write::Put(_) => ValueKind::Put,
            Write::Delete => ValueKind::Delete,
            Write::Merge(_) => ValueKind::Merge,
        }
    }

    fn value(&self) -> Bytes {
        match self {
            Write::Put(value) | Write::Merge(value) => Bytes::from(value.clone()),
            Write::Delete => Bytes::new(),
        }
    }
}

type Model = BTreeMap<(Vec<u8>, Reverse<SeqNo>), Write>;

/// A cursor operation.
#[derive(Debug, Clone)]
enum Op {
    SeekToFirst,
    SeekToLast,
    Seek(Vec<u8>),
    SeekForPrev(Vec<u8>),
    Next,
    Prev,
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..4, 0..3)
}

fn write() -> impl Strategy<Value = Write> {
    // A third of the puts and merge operands are empty (nodes without a
    // value handle, as every tombstone's).
    let value = || {
        prop_oneof![
            1 => Just(Vec::new()),
            2 => prop::collection::vec(any::<u8>(), 1..4),
        ]
    };
    prop_oneof![
        3 => value().prop_map(Write::Put),
        1 => Just(Write::Delete),
        2 => value().prop_map(Write::Merge),
    ]
}

/// Writes with distinct sequence numbers `0..n`, inserted in random order.
fn writes() -> impl Strategy<Value = Vec<(Vec<u8>, SeqNo, Write)>> {
    prop::collection::vec((user_key(), write()), 0..60).prop_flat_map(|writes| {
        let seqs: Vec<SeqNo> = (0..writes.len() as SeqNo).collect();
        Just(seqs).prop_shuffle().prop_map(move |seqs| {
            writes
                .iter()
                .zip(seqs)
                .map(|((key, write), seq)| (key.clone(), seq, write.clone()))
                .collect()
        })
    })
}

/// A seek target: an internal key (sometimes a seek key) over the key space.
fn target() -> impl Strategy<Value = Vec<u8>> {
    (user_key(), 0u64..70, 0u8..4).prop_map(|(key, seq, kind)| match kind {
        3 => InternalKey::seek_key(key, seq).encode(),
        kind => InternalKey::new(key, seq, ValueKind::from_byte(kind).unwrap()).encode(),
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::SeekToFirst),
        1 => Just(Op::SeekToLast),
        2 => target().prop_map(Op::Seek),
        2 => target().prop_map(Op::SeekForPrev),
        5 => Just(Op::Next),
        5 => Just(Op::Prev),
    ]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        2 => Just(Bound::Unbounded),
        1 => user_key().prop_map(Bound::Included),
        1 => user_key().prop_map(Bound::Excluded),
    ]
}

fn partition_count() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(3), Just(8)]
}

/// The memtable and the model after `writes`: every third write is a plain
/// insert, the others go through one `MemtableInserter` (so its remembered
/// positions see keys that ascend, descend and repeat, and plain inserts in
/// between).
fn build(partition_count: usize, writes: &[(Vec<u8>, SeqNo, Write)]) -> (Arc<Memtable>, Model) {
    let memtable = Memtable::new(partition_count, 1 << 20);
    let mut model = Model::new();
    {
        let mut inserter = memtable.inserter();
        for (i, (key, seq, write)) in writes.iter().enumerate() {
            if i % 3 == 2 {
                memtable.insert(key, *seq, write.kind(), write.value())
            } else {
                inserter.insert(key, *seq, write.kind(), write.value())
            }
            .unwrap();
            model.insert((key.clone(), Reverse(*seq)), write.clone());
        }
    }
    (Arc::new(memtable), model)
}

fn model_get(model: &Model, key: &[u8], snapshot_seq: SeqNo) -> Lookup {
    let from = (key.to_vec(), Reverse(snapshot_seq));
    let to = (key.to_vec(), Reverse(0));
    let mut operands = Vec::new();
    for write in model.range(from..=to).map(|(_, write)| write) {
        let base = match write {
            Write::Merge(operand) => {
                operands.push(Bytes::from(operand.clone()));
                continue;
            }
            Write::Put(value) => MergeBase::Value(Bytes::from(value.clone())),
            Write::Delete => MergeBase::Deleted,
        };
        return match (operands.is_empty(), base) {
            (true, MergeBase::Value(value)) => Lookup::Value(value),
            (true, MergeBase::Expiring(stored)) => Lookup::Expiring(stored),
            (true, MergeBase::Deleted) => Lookup::Deleted,
            (false, base) => Lookup::Merge {
                operands,
                base: Some(base),
            },
        };
    }
    if operands.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::Merge {
            operands,
            base: None,
        }
    }
}

/// The model's entries within the user-key bounds, as (encoded key, value).
fn model_entries(
    model: &Model,
    lower: &Bound<Vec<u8>>,
    upper: &Bound<Vec<u8>>,
) -> Vec<(Vec<u8>, Bytes)> {
    let in_bounds = |key: &Vec<u8>| {
        let above = match lower {
            Bound::Included(lower) => key >= lower,
            Bound::Excluded(lower) => key > lower,
            Bound::Unbounded => true,
        };
        let below = match upper {
            Bound::Included(upper) => key <= upper,
            Bound::Excluded(upper) => key < upper,
            Bound::Unbounded => true,
        };
        above && below
    };
    model
        .iter()
        .filter(|((key, _), _)| in_bounds(key))
        .map(|((key, Reverse(seq)), write)| {
            let encoded = InternalKey::new(key.clone(), *seq, write.kind()).encode();
            (encoded, write.value())
        })
        .collect()
}

fn model_step(entries: &[(Vec<u8>, Bytes)], position: Option<usize>, op: &Op) -> Option<usize> {
    let found = match op {
        Op::SeekToFirst => Some(0),
        Op::SeekToLast => entries.len().checked_sub(1),
        Op::Seek(target) => Some(
            entries
                .partition_point(|(key, _)| compare_internal_keys(key, target) == Ordering::Less),
        ),
        Op::SeekForPrev(target) => entries
            .partition_point(|(key, _)| compare_internal_keys(key, target) != Ordering::Greater)
            .checked_sub(1),
        Op::Next => position.map(|p| p + 1),
        Op::Prev => position.and_then(|p| p.checked_sub(1)),
    };
    found.filter(|&p| p < entries.len())
}

fn apply(cursor: &mut impl InternalIterator<Error = std::convert::Infallible>, op: &Op) {
    match op {
        Op::SeekToFirst => cursor.seek_to_first(),
        Op::SeekToLast => cursor.seek_to_last(),
        Op::Seek(target) => cursor.seek(target),
        Op::SeekForPrev(target) => cursor.seek_for_prev(target),
        Op::Next => cursor.next(),
        Op::Prev => cursor.prev(),
    }
    .unwrap();
}

fn as_slice_bound(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key),
        Bound::Excluded(key) => Bound::Excluded(key),
        Bound::Unbounded => Bound::Unbounded,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn get_matches_model(
        partition_count in partition_count(),
        writes in writes(),
        probes in prop::collection::vec((user_key(), 0u64..70), 1..30),
    ) {
        let (memtable, model) = build(partition_count, &writes);
        for (key, snapshot_seq) in probes {
            prop_assert_eq!(
                memtable.get(&key, snapshot_seq),
                model_get(&model, &key, snapshot_seq),
                "key {:?} at {}", key, snapshot_seq
            );
        }
        let tombstones = writes.iter().filter(|(_, _, w)| *w == Write::Delete).count();
        prop_assert_eq!(memtable.entry_count(), writes.len() as u64);
        prop_assert_eq!(memtable.tombstone_count(), tombstones as u64);
        prop_assert_eq!(memtable.smallest_seq(), model.keys().map(|(_, Reverse(s))| *s).min());
        prop_assert_eq!(memtable.largest_seq(), model.keys().map(|(_, Reverse(s))| *s).max());
    }

    #[test]
    fn iteration_matches_model(
        partition_count in partition_count(),
        writes in writes(),
        lower in bound(),
        upper in bound(),
        ops in prop::collection::vec(op(), 1..50),
    ) {
        let (memtable, model) = build(partition_count, &writes);
        let entries = model_entries(&model, &lower, &upper);
        let mut cursor = memtable.range(as_slice_bound(&lower), as_slice_bound(&upper));
        drop(memtable);
        let mut position = None;
        for op in &ops {
            if matches!(op, Op::Next | Op::Prev) && position.is_none() {
                continue;
            }
            position = model_step(&entries, position, op);
            apply(&mut cursor, op);
            prop_assert_eq!(cursor.valid(), position.is_some(), "after {:?}", op);
            if let Some(p) = position {
                prop_assert_eq!(cursor.key(), &entries[p].0[..], "after {:?}", op);
                prop_assert_eq!(cursor.value(), &entries[p].1);
            }
        }
    }

    #[test]
    fn full_scans_match_model_both_ways(
        partition_count in partition_count(),
        mut writes in writes(),
        sort in any::<bool>(),
    ) {
        if sort {
            // A sorted batch: the inserter's ascending path.
            writes.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        }
        let (memtable, model) = build(partition_count, &writes);
        let entries = model_entries(&model, &Bound::Unbounded, &Bound::Unbounded);
        let mut cursor = memtable.iter();
        cursor.seek_to_first().unwrap();
        let mut forward = Vec::new();
        while cursor.valid() {
            forward.push((cursor.key().to_vec(), cursor.value().clone()));
            cursor.next().unwrap();
        }
        prop_assert_eq!(&forward, &entries);
        cursor.seek_to_last().unwrap();
        let mut backward = Vec::new();
        while cursor.valid() {
            backward.push((cursor.key().to_vec(), cursor.value().clone()));
            cursor.prev().unwrap();
        }
        backward.reverse();
        prop_assert_eq!(&backward, &entries);
    }
}
