//! Range deletes against a `BTreeMap` model: random puts, deletes, merges,
//! `delete_range`s (alone and in batches), flushes, compactions, reopens and
//! snapshots, with tiny memtables and tables so that tombstones meet data
//! in every layer; every key is checked by `get`, `multi_get` and both
//! iteration directions, now and at each snapshot. Plus the transaction
//! conflict and the snapshot-across-compaction cases by name.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use seer_db::{DBOptions, Snapshot, SyncPolicy, U64AddOperator, WriteOptions, DB};

const KEYS: u8 = 20;

type Model = BTreeMap<Vec<u8>, u64>;

#[derive(Debug, Clone)]
enum Change {
    Put(u8, u64),
    Delete(u8),
    Merge(u8, u64),
    DeleteRange(u8, u8),
}

#[derive(Debug, Clone)]
enum Step {
    Change(Change),
    Batch(Vec<Change>),
    Flush,
    Compact,
    Reopen,
    Snapshot,
    Check,
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k:02}-{}", "p".repeat(usize::from(k % 4) * 6)).into_bytes()
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        5 => (0..KEYS, any::<u64>()).prop_map(|(k, v)| Change::Put(k, v)),
        1 => (0..KEYS).prop_map(Change::Delete),
        2 => (0..KEYS, 0..100u64).prop_map(|(k, n)| Change::Merge(k, n)),
        2 => (0..KEYS + 1, 0..KEYS + 1).prop_map(|(a, b)| Change::DeleteRange(a, b)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        30 => change().prop_map(Step::Change),
        4 => prop::collection::vec(change(), 1..6).prop_map(Step::Batch),
        3 => Just(Step::Flush),
        2 => Just(Step::Compact),
        1 => Just(Step::Reopen),
        2 => Just(Step::Snapshot),
        3 => Just(Step::Check),
    ]
}

fn options() -> DBOptions {
    DBOptions::default()
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(1024)
        .target_file_size(1024)
        .base_level_size(4096)
        .block_size(128)
        .l0_compaction_trigger(2)
        .merge_operator(U64AddOperator)
}

fn apply_to_model(model: &mut Model, change: &Change) {
    match *change {
        Change::Put(k, v) => {
            model.insert(key(k), v);
        }
        Change::Delete(k) => {
            model.remove(&key(k));
        }
        Change::Merge(k, n) => {
            let value = model.entry(key(k)).or_insert(0);
            *value = value.wrapping_add(n);
        }
        Change::DeleteRange(a, b) => {
            let (start, end) = (key(a), key(b));
            model.retain(|k, _| !(start <= *k && *k < end));
        }
    }
}

fn decode(value: &[u8]) -> u64 {
    u64::from_le_bytes(value.try_into().unwrap())
}

/// What a reader sees: `get` of every key, and a whole iteration.
trait Reader {
    fn get(&self, key: &[u8]) -> Option<u64>;
    fn forward(&self) -> Vec<(Vec<u8>, u64)>;
    fn backward(&self) -> Vec<(Vec<u8>, u64)>;
}

fn collect(
    iter: impl Iterator<Item = seer_db::Result<(bytes::Bytes, bytes::Bytes)>>,
) -> Vec<(Vec<u8>, u64)> {
    iter.map(|item| {
        let (k, v) = item.unwrap();
        (k.to_vec(), decode(&v))
    })
    .collect()
}

impl Reader for DB {
    fn get(&self, key: &[u8]) -> Option<u64> {
        DB::get(self, key).unwrap().map(|v| decode(&v))
    }
    fn forward(&self) -> Vec<(Vec<u8>, u64)> {
        collect(self.iter())
    }
    fn backward(&self) -> Vec<(Vec<u8>, u64)> {
        collect(self.iter().rev())
    }
}

impl Reader for Snapshot {
    fn get(&self, key: &[u8]) -> Option<u64> {
        Snapshot::get(self, key).unwrap().map(|v| decode(&v))
    }
    fn forward(&self) -> Vec<(Vec<u8>, u64)> {
        collect(self.iter())
    }
    fn backward(&self) -> Vec<(Vec<u8>, u64)> {
        collect(self.iter().rev())
    }
}

fn check(reader: &dyn Reader, model: &Model, what: &str) {
    for k in 0..KEYS {
        assert_eq!(
            reader.get(&key(k)),
            model.get(&key(k)).copied(),
            "{what}: get key {k}"
        );
    }
    let expected: Vec<(Vec<u8>, u64)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(reader.forward(), expected, "{what}: forward");
    let reversed: Vec<_> = expected.into_iter().rev().collect();
    assert_eq!(reader.backward(), reversed, "{what}: backward");
}

struct Harness {
    db: Option<DB>,
    model: Model,
    snapshots: Vec<(Snapshot, Model)>,
}

impl Harness {
    fn db(&self) -> &DB {
        self.db.as_ref().unwrap()
    }

    fn apply(&mut self, step: &Step, path: &Path) {
        match step {
            Step::Change(change) => {
                match *change {
                    Change::Put(k, v) => self.db().put(key(k), v.to_le_bytes()).unwrap(),
                    Change::Delete(k) => self.db().delete(key(k)).unwrap(),
                    Change::Merge(k, n) => self.db().merge(key(k), n.to_le_bytes()).unwrap(),
                    Change::DeleteRange(a, b) => self.db().delete_range(key(a)..key(b)).unwrap(),
                }
                apply_to_model(&mut self.model, change);
            }
            Step::Batch(changes) => {
                let mut batch = self.db().batch();
                for change in changes {
                    match *change {
                        Change::Put(k, v) => batch.put(key(k), v.to_le_bytes()),
                        Change::Delete(k) => batch.delete(key(k)),
                        Change::Merge(k, n) => batch.merge(key(k), n.to_le_bytes()),
                        Change::DeleteRange(a, b) => batch.delete_range(key(a)..key(b)),
                    };
                    apply_to_model(&mut self.model, change);
                }
                self.db().write(batch, WriteOptions::default()).unwrap();
            }
            Step::Flush => self.db().flush().unwrap(),
            Step::Compact => self.db().compact_range::<&[u8]>(..).unwrap(),
            Step::Reopen => {
                // Snapshots do not outlive their database's reopen here.
                self.snapshots.clear();
                let db = self.db.take().unwrap();
                db.close().unwrap();
                drop(db);
                self.db = Some(options().open(path).unwrap());
            }
            Step::Snapshot => {
                if self.snapshots.len() < 3 {
                    self.snapshots
                        .push((self.db().snapshot(), self.model.clone()));
                }
            }
            Step::Check => self.check_all(),
        }
    }

    fn check_all(&self) {
        check(self.db(), &self.model, "latest");
        let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
        let values = self.db().multi_get(&keys).unwrap();
        for (k, value) in keys.iter().zip(values) {
            assert_eq!(
                value.map(|v| decode(&v)),
                self.model.get(k).copied(),
                "multi_get"
            );
        }
        for (index, (snapshot, model)) in self.snapshots.iter().enumerate() {
            check(snapshot, model, &format!("snapshot {index}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn range_deletes_match_a_btreemap_through_every_layer(
        steps in prop::collection::vec(step(), 1..100),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = Harness {
            db: Some(options().open(dir.path()).unwrap()),
            model: Model::new(),
            snapshots: Vec::new(),
        };
        for step in &steps {
            harness.apply(step, dir.path());
        }
        harness.check_all();
        harness.apply(&Step::Compact, dir.path());
        harness.check_all();
        harness.apply(&Step::Reopen, dir.path());
        harness.check_all();
    }
}

#[test]
fn a_transaction_that_read_a_key_later_range_deleted_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let db = options().open(dir.path()).unwrap();
    db.put("a", 1u64.to_le_bytes()).unwrap();
    db.put("m", 2u64.to_le_bytes()).unwrap();
    let mut txn = db.begin_transaction();
    assert!(txn.get("m").unwrap().is_some());
    txn.put("z", 3u64.to_le_bytes());
    db.delete_range("b".."n").unwrap();
    assert!(matches!(
        txn.commit(),
        Err(seer_db::Error::TransactionConflict { .. })
    ));
    // One that read only keys outside the range commits.
    let mut txn = db.begin_transaction();
    assert!(txn.get("a").unwrap().is_some());
    txn.put("z", 3u64.to_le_bytes());
    db.delete_range("b".."n").unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_snapshot_keeps_what_a_later_range_delete_removed_through_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = options().open(dir.path()).unwrap();
    for i in 0..200u64 {
        db.put(format!("q{i:04}"), i.to_le_bytes()).unwrap();
    }
    db.flush().unwrap();
    let snapshot = db.snapshot();
    db.delete_range("q0050".."q0150").unwrap();
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(db.get("q0100").unwrap(), None);
    assert_eq!(db.iter().count(), 100);
    assert_eq!(db.iter().rev().count(), 100);
    assert_eq!(decode(&snapshot.get("q0100").unwrap().unwrap()), 100);
    assert_eq!(snapshot.iter().count(), 200);
    drop(snapshot);
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(db.iter().count(), 100);
    db.close().unwrap();
    drop(db);
    let db = options().open(dir.path()).unwrap();
    assert_eq!(db.get("q0149").unwrap(), None);
    assert_eq!(db.iter().count(), 100);
}

#[test]
fn a_range_delete_hides_older_writes_in_its_own_memtable_and_not_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default().open(dir.path()).unwrap();
    db.put("b", "old").unwrap();
    db.put("c", "old").unwrap();
    db.delete_range("a".."c").unwrap();
    db.put("a", "new").unwrap();
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get("c").unwrap().as_deref(), Some(&b"old"[..]));
    let keys: Vec<_> = db.keys().map(|k| k.unwrap()).collect();
    assert_eq!(keys, vec!["a", "c"]);
    db.delete_range("c".."a").unwrap();
    assert_eq!(db.iter().rev().count(), 2);
}
