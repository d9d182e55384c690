//! A model test of the whole database against a `BTreeMap`: random puts,
//! deletes, merges (u64 add), batches, gets, flushes, compactions and
//! reopens, with tiny memtables and tables so that flushes and compactions
//! happen constantly.
//!
//! Operations are data ([`Op`]); [`Harness::apply`] runs one against the
//! database and the model, and [`Harness::check_all`] compares every key.
//! Further operations (snapshots, iterators) extend `Op` and `apply`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use seer_db::{DBOptions, SyncPolicy, U64AddOperator, WriteOptions, DB};

const KEYS: u8 = 24;

#[derive(Debug, Clone)]
enum Write {
    Put(u8, u64),
    Delete(u8),
    Merge(u8, u64),
}

#[derive(Debug, Clone)]
enum Op {
    Write(Write),
    Batch(Vec<Write>),
    Get(u8),
    Flush,
    Compact,
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    // Long-ish keys fill the 1 KiB memtables quickly.
    format!("key-{k:03}-{}", "x".repeat(usize::from(k % 5) * 8)).into_bytes()
}

fn write_strategy() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => (0..KEYS, any::<u64>()).prop_map(|(k, v)| Write::Put(k, v)),
        2 => (0..KEYS).prop_map(Write::Delete),
        3 => (0..KEYS, 0..1000u64).prop_map(|(k, n)| Write::Merge(k, n)),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => write_strategy().prop_map(Op::Write),
        5 => prop::collection::vec(write_strategy(), 1..8).prop_map(Op::Batch),
        10 => (0..KEYS).prop_map(Op::Get),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn options() -> DBOptions {
    DBOptions::default()
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(1024)
        .memtable_partitions(2)
        .target_file_size(1024)
        .base_level_size(4096)
        .block_size(128)
        .l0_compaction_trigger(2)
        .l0_slowdown_writes_trigger(8)
        .l0_stop_writes_trigger(16)
        .merge_operator(U64AddOperator)
}

struct Harness {
    db: Option<DB>,
    model: BTreeMap<Vec<u8>, u64>,
}

impl Harness {
    fn open(path: &Path) -> Self {
        Self {
            db: Some(options().open(path).unwrap()),
            model: BTreeMap::new(),
        }
    }

    fn db(&self) -> &DB {
        self.db.as_ref().unwrap()
    }

    fn apply_to_model(model: &mut BTreeMap<Vec<u8>, u64>, write: &Write) {
        match *write {
            Write::Put(k, v) => {
                model.insert(key(k), v);
            }
            Write::Delete(k) => {
                model.remove(&key(k));
            }
            Write::Merge(k, n) => {
                let entry = model.entry(key(k)).or_insert(0);
                *entry = entry.wrapping_add(n);
            }
        }
    }

    fn apply(&mut self, op: &Op, path: &Path) {
        match op {
            Op::Write(write) => {
                match *write {
                    Write::Put(k, v) => self.db().put(key(k), v.to_le_bytes()).unwrap(),
                    Write::Delete(k) => self.db().delete(key(k)).unwrap(),
                    Write::Merge(k, n) => self.db().merge(key(k), n.to_le_bytes()).unwrap(),
                }
                Self::apply_to_model(&mut self.model, write);
            }
            Op::Batch(writes) => {
                let mut batch = self.db().batch();
                for write in writes {
                    match *write {
                        Write::Put(k, v) => batch.put(key(k), v.to_le_bytes()),
                        Write::Delete(k) => batch.delete(key(k)),
                        Write::Merge(k, n) => batch.merge(key(k), n.to_le_bytes()),
                    };
                    Self::apply_to_model(&mut self.model, write);
                }
                self.db().write(batch, WriteOptions::default()).unwrap();
            }
            Op::Get(k) => self.check_key(*k),
            Op::Flush => self.db().flush().unwrap(),
            Op::Compact => self.db().compact_range::<&[u8]>(..).unwrap(),
            Op::Reopen => {
                let db = self.db.take().unwrap();
                db.close().unwrap();
                drop(db);
                self.db = Some(options().open(path).unwrap());
            }
        }
    }

    fn check_key(&self, k: u8) {
        let got = self.db().get(key(k)).unwrap();
        let got = got.map(|v| u64::from_le_bytes(v[..].try_into().unwrap()));
        assert_eq!(got, self.model.get(&key(k)).copied(), "key {k}");
    }

    fn check_all(&self) {
        for k in 0..KEYS {
            self.check_key(k);
        }
        let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
        let values = self.db().multi_get(&keys).unwrap();
        for (k, value) in keys.iter().zip(values) {
            let value = value.map(|v| u64::from_le_bytes(v[..].try_into().unwrap()));
            assert_eq!(value, self.model.get(k).copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn db_matches_a_btreemap(ops in prop::collection::vec(op_strategy(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = Harness::open(dir.path());
        for op in &ops {
            harness.apply(op, dir.path());
        }
        harness.check_all();
        harness.apply(&Op::Reopen, dir.path());
        harness.check_all();
    }
}
