//! Integration tests of `DBOptions::compaction_filter`: what a compaction
//! removes or changes, that nothing older comes back, and that snapshots
//! keep their view.
#![allow(clippy::unwrap_used)]

use seer_db::{CompactionFilter, FilterContext, FilterDecision, DB};

mod iter_support;

use iter_support::tiny_options;

/// Removes even keys whose value starts with `new`, and upper-cases odd
/// keys' `new` values.
struct EvenNewGoes;

impl CompactionFilter for EvenNewGoes {
    fn name(&self) -> &str {
        "test.even_new_goes"
    }

    fn filter(&self, _: &FilterContext, key: &[u8], value: &[u8]) -> FilterDecision {
        if !value.starts_with(b"new") {
            return FilterDecision::Keep;
        }
        let index: usize = std::str::from_utf8(&key[3..]).unwrap().parse().unwrap();
        if index.is_multiple_of(2) {
            FilterDecision::Remove
        } else {
            FilterDecision::ChangeValue(value.to_ascii_uppercase().into())
        }
    }
}

fn key(i: usize) -> String {
    format!("key{i:04}")
}

const KEYS: usize = 300;

fn open(dir: &tempfile::TempDir) -> DB {
    // One memtable holds all the writes of a test: nothing is flushed or
    // compacted before the test says so.
    tiny_options()
        .memtable_capacity(1 << 20)
        .compaction_filter(EvenNewGoes)
        .open(dir.path())
        .unwrap()
}

/// Writes `old` values, compacts them to the bottom (the filter keeps them),
/// then writes `new` values on top, still in the memtable.
fn open_with_old_below_new(dir: &tempfile::TempDir) -> DB {
    let db = open(dir);
    for i in 0..KEYS {
        db.put(key(i), format!("old{i}")).unwrap();
    }
    db.compact_range::<&[u8]>(..).unwrap();
    for i in 0..KEYS {
        db.put(key(i), format!("new{i}")).unwrap();
    }
    db
}

#[test]
fn a_filter_removes_even_keys_without_the_older_version_resurfacing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with_old_below_new(&dir);
    db.flush().unwrap();
    // Flushes do not filter.
    assert_eq!(db.get(key(2)).unwrap().as_deref(), Some(&b"new2"[..]));
    db.compact_range::<&[u8]>(..).unwrap();
    for i in 0..KEYS {
        let expected = (!i.is_multiple_of(2)).then(|| format!("NEW{i}"));
        assert_eq!(
            db.get(key(i)).unwrap(),
            expected.as_deref().map(|v| v.as_bytes().to_vec().into()),
            "{}",
            key(i)
        );
    }
    let scanned: Vec<_> = db.iter().map(Result::unwrap).collect();
    assert_eq!(scanned.len(), KEYS / 2);
    assert!(scanned.iter().all(|(_, v)| v.starts_with(b"NEW")));
    let reversed = db.iter().rev().count();
    assert_eq!(reversed, KEYS / 2);
    db.close().unwrap();
    let db = open(&dir);
    assert_eq!(db.get(key(4)).unwrap(), None);
    assert_eq!(db.get(key(5)).unwrap().as_deref(), Some(&b"NEW5"[..]));
}

#[test]
fn a_snapshot_taken_before_a_filtering_compaction_keeps_its_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with_old_below_new(&dir);
    let snapshot = db.snapshot();
    db.compact_range::<&[u8]>(..).unwrap();
    for i in 0..KEYS {
        let new = format!("new{i}");
        assert_eq!(
            snapshot.get(key(i)).unwrap().as_deref(),
            Some(new.as_bytes()),
            "{}",
            key(i)
        );
    }
    assert_eq!(snapshot.iter().count(), KEYS);
    // The latest view still sees the new values: the snapshot reads them,
    // so the filter did not see them.
    assert_eq!(db.get(key(2)).unwrap().as_deref(), Some(&b"new2"[..]));
    assert_eq!(db.get(key(3)).unwrap().as_deref(), Some(&b"new3"[..]));
}

/// Replaces every `new` value with `answer`.
struct NewBecomesAnswer;

impl CompactionFilter for NewBecomesAnswer {
    fn name(&self) -> &str {
        "test.new_becomes_answer"
    }

    fn filter(&self, _: &FilterContext, _: &[u8], value: &[u8]) -> FilterDecision {
        if value.starts_with(b"new") {
            FilterDecision::ChangeValue(bytes::Bytes::from_static(b"answer"))
        } else {
            FilterDecision::Keep
        }
    }
}

/// The database's filter applies to the default keyspace only, a
/// keyspace's own filter to that keyspace only, and a keyspace without one
/// is never filtered; also after a reopen with the same options.
#[test]
fn each_keyspace_is_filtered_by_its_own_filter_only() {
    let dir = tempfile::tempdir().unwrap();
    let filtered = || seer_db::KeyspaceOptions::default().compaction_filter(NewBecomesAnswer);
    for round in 0..2 {
        let db = open(&dir);
        let own = db.keyspace_with("own", filtered()).unwrap();
        let plain = db.keyspace("plain").unwrap();
        let compact_all = || {
            db.compact_range::<&[u8]>(..).unwrap();
            own.compact_range::<&[u8]>(..).unwrap();
            plain.compact_range::<&[u8]>(..).unwrap();
        };
        if round == 0 {
            // `old` values at the bottom, `new` ones above, so the
            // compaction below merges them (and asks the filters).
            for tag in ["old", "new"] {
                for i in 0..KEYS {
                    let value = format!("{tag}{i}");
                    db.put(key(i), &value).unwrap();
                    own.put(key(i), &value).unwrap();
                    plain.put(key(i), &value).unwrap();
                }
                if tag == "old" {
                    compact_all();
                }
            }
        }
        compact_all();
        for i in 0..KEYS {
            let default = (!i.is_multiple_of(2)).then(|| format!("NEW{i}"));
            assert_eq!(
                db.get(key(i)).unwrap().as_deref(),
                default.as_deref().map(str::as_bytes)
            );
            assert_eq!(own.get(key(i)).unwrap().as_deref(), Some(&b"answer"[..]));
            let written = format!("new{i}");
            assert_eq!(
                plain.get(key(i)).unwrap().as_deref(),
                Some(written.as_bytes()),
                "round {round}"
            );
        }
    }
}
