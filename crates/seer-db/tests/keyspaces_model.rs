//! Model test of keyspaces: random puts, deletes, range deletes and
//! batches across the default keyspace and two named ones, flushes and
//! compactions of single keyspaces, drops (and re-creation) and reopens,
//! checked after every step against one `BTreeMap` per keyspace.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use seer_db::{DBOptions, Keyspace, WriteOptions, DB};

/// The named keyspaces (index 0 of the model is the default keyspace).
const NAMES: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
enum Step {
    Put(usize, u8, u8),
    Delete(usize, u8),
    DeleteRange(usize, u8, u8),
    Batch(Vec<(usize, u8, Option<u8>)>),
    Flush(usize),
    Compact(usize),
    Drop(usize),
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    let ks = || 0..3_usize;
    let key = || 0..12_u8;
    prop_oneof![
        6 => (ks(), key(), any::<u8>()).prop_map(|(k, key, v)| Step::Put(k, key, v)),
        2 => (ks(), key()).prop_map(|(k, key)| Step::Delete(k, key)),
        1 => (ks(), key(), key()).prop_map(|(k, a, b)| Step::DeleteRange(k, a, b)),
        3 => proptest::collection::vec((ks(), key(), proptest::option::of(any::<u8>())), 1..6)
            .prop_map(Step::Batch),
        1 => ks().prop_map(Step::Flush),
        1 => ks().prop_map(Step::Compact),
        1 => (1..3_usize).prop_map(Step::Drop),
        1 => Just(Step::Reopen),
    ]
}

fn key_of(key: u8) -> String {
    format!("key{key:02}")
}

struct Open {
    db: DB,
    keyspaces: Vec<Keyspace>,
}

fn open(path: &Path) -> Open {
    let db = DBOptions::default()
        .memtable_capacity(4 << 10)
        .sync_policy(seer_db::SyncPolicy::Never)
        .open(path)
        .unwrap();
    let keyspaces = NAMES
        .iter()
        .map(|name| db.keyspace(name).unwrap())
        .collect();
    Open { db, keyspaces }
}

impl Open {
    fn put(&self, ks: usize, key: &str, value: &str) {
        match ks {
            0 => self.db.put(key, value).unwrap(),
            k => self.keyspaces[k - 1].put(key, value).unwrap(),
        }
    }

    fn scan(&self, ks: usize) -> BTreeMap<String, String> {
        let iter = match ks {
            0 => self.db.iter(),
            k => self.keyspaces[k - 1].iter(),
        };
        iter.map(|entry| {
            let (key, value) = entry.unwrap();
            (
                String::from_utf8(key.to_vec()).unwrap(),
                String::from_utf8(value.to_vec()).unwrap(),
            )
        })
        .collect()
    }
}

fn apply(open: &mut Open, path: &Path, model: &mut [BTreeMap<String, String>; 3], step: &Step) {
    match step {
        Step::Put(ks, key, value) => {
            open.put(*ks, &key_of(*key), &value.to_string());
            model[*ks].insert(key_of(*key), value.to_string());
        }
        Step::Delete(ks, key) => {
            match ks {
                0 => open.db.delete(key_of(*key)).unwrap(),
                k => open.keyspaces[k - 1].delete(key_of(*key)).unwrap(),
            }
            model[*ks].remove(&key_of(*key));
        }
        Step::DeleteRange(ks, a, b) => {
            let range = key_of(*a)..key_of(*b);
            match ks {
                0 => open.db.delete_range(range.clone()).unwrap(),
                k => open.keyspaces[k - 1].delete_range(range.clone()).unwrap(),
            }
            model[*ks].retain(|key, _| !range.contains(key));
        }
        Step::Batch(ops) => {
            let mut batch = open.db.batch();
            for (ks, key, value) in ops {
                let key = key_of(*key);
                match (ks, value) {
                    (0, Some(v)) => batch.put(&key, v.to_string()),
                    (0, None) => batch.delete(&key),
                    (k, Some(v)) => batch.put_in(&open.keyspaces[k - 1], &key, v.to_string()),
                    (k, None) => batch.delete_in(&open.keyspaces[k - 1], &key),
                };
                match value {
                    Some(v) => model[*ks].insert(key, v.to_string()),
                    None => model[*ks].remove(&key),
                };
            }
            open.db.write(batch, WriteOptions::default()).unwrap();
        }
        Step::Flush(0) => open.db.flush().unwrap(),
        Step::Flush(k) => open.keyspaces[k - 1].flush().unwrap(),
        Step::Compact(0) => open.db.compact_range::<&[u8]>(..).unwrap(),
        Step::Compact(k) => open.keyspaces[k - 1].compact_range::<&[u8]>(..).unwrap(),
        Step::Drop(k) => {
            open.db.drop_keyspace(NAMES[k - 1]).unwrap();
            open.keyspaces[k - 1] = open.db.keyspace(NAMES[k - 1]).unwrap();
            model[*k].clear();
        }
        Step::Reopen => {
            open.db.close().unwrap();
            *open = self::open(path);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn keyspaces_match_one_model_per_keyspace(steps in proptest::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut open = open(dir.path());
        let mut model: [BTreeMap<String, String>; 3] = Default::default();
        for step in &steps {
            apply(&mut open, dir.path(), &mut model, step);
            for (ks, expected) in model.iter().enumerate() {
                prop_assert_eq!(&open.scan(ks), expected, "keyspace {} after {:?}", ks, step);
            }
        }
        open.db.close().unwrap();
        drop(open);
        let open = self::open(dir.path());
        for (ks, expected) in model.iter().enumerate() {
            prop_assert_eq!(&open.scan(ks), expected, "keyspace {} after the last reopen", ks);
        }
    }
}
