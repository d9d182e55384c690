//! Integration tests of the user-level iterators: `iter`, `range`, `prefix`
//! and `keys` on `DB`, forward and backward, across memtables and tables,
//! with tombstones and merges, and after reopening.
#![allow(clippy::unwrap_used)]

use std::ops::Bound;

use bytes::Bytes;
use seer_db::DB;

mod iter_support;

use iter_support::open_appending as open;

fn key(i: usize) -> String {
    format!("key{i:05}")
}

fn pairs(iter: impl Iterator<Item = seer_db::Result<(Bytes, Bytes)>>) -> Vec<(String, String)> {
    iter.map(|item| {
        let (k, v) = item.unwrap();
        (
            String::from_utf8(k.to_vec()).unwrap(),
            String::from_utf8(v.to_vec()).unwrap(),
        )
    })
    .collect()
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[test]
fn empty_database_yields_nothing_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    assert_eq!(db.iter().count(), 0);
    assert_eq!(db.iter().rev().count(), 0);
    assert_eq!(db.prefix("a").count(), 0);
}

#[test]
fn iterates_newest_values_hides_tombstones_and_resolves_merges() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("a", "1").unwrap();
    db.put("b", "old").unwrap();
    db.put("b", "new").unwrap();
    db.put("c", "gone").unwrap();
    db.delete("c").unwrap();
    db.merge("d", "x").unwrap();
    db.merge("d", "y").unwrap();
    db.put("e", "base").unwrap();
    db.merge("e", "z").unwrap();
    db.delete("f").unwrap();
    db.merge("f", "after-delete").unwrap();
    let expected = vec![
        kv("a", "1"),
        kv("b", "new"),
        kv("d", "x,y"),
        kv("e", "base,z"),
        kv("f", "after-delete"),
    ];
    assert_eq!(pairs(db.iter()), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(pairs(db.iter().rev()), reversed);
    let keys: Vec<Bytes> = db.keys().map(Result::unwrap).collect();
    assert_eq!(keys, ["a", "b", "d", "e", "f"].map(Bytes::from));
}

#[test]
fn ranges_and_prefixes_respect_every_bound_kind() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for k in ["a", "ab", "abc", "b", "ba", "c"] {
        db.put(k, k).unwrap();
    }
    let keys = |iter: seer_db::DbIterator| -> Vec<String> {
        pairs(iter).into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(
        keys(db.range(b"ab".as_slice()..b"b".as_slice())),
        ["ab", "abc"]
    );
    assert_eq!(keys(db.range("ab"..="b")), ["ab", "abc", "b"]);
    assert_eq!(keys(db.range(.."ab")), ["a"]);
    assert_eq!(keys(db.range(..="ab")), ["a", "ab"]);
    assert_eq!(keys(db.range("b"..)), ["b", "ba", "c"]);
    assert_eq!(keys(db.range(..)).len(), 6);
    assert_eq!(
        keys(db.range((Bound::Excluded("ab"), Bound::Excluded("c")))),
        ["abc", "b", "ba"]
    );
    assert_eq!(keys(db.range("c".."a")), Vec::<String>::new());
    assert_eq!(keys(db.prefix("ab")), ["ab", "abc"]);
    assert_eq!(keys(db.prefix("b")), ["b", "ba"]);
    assert_eq!(keys(db.prefix("")).len(), 6);
    let backward: Vec<String> = db
        .range("ab"..="ba")
        .rev()
        .map(|item| String::from_utf8(item.unwrap().0.to_vec()).unwrap())
        .collect();
    assert_eq!(backward, ["ba", "b", "abc", "ab"]);
}

#[test]
fn both_ends_meet_without_crossing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for i in 0..7 {
        db.put(key(i), "v").unwrap();
    }
    let mut iter = db.iter();
    let mut seen = Vec::new();
    loop {
        let front = iter.next().map(|r| r.unwrap().0);
        let back = iter.next_back().map(|r| r.unwrap().0);
        let done = front.is_none() || back.is_none();
        seen.extend(front);
        seen.extend(back);
        if done {
            break;
        }
    }
    assert_eq!(iter.next().map(|r| r.unwrap()), None);
    assert_eq!(iter.next_back().map(|r| r.unwrap()), None);
    seen.sort();
    let expected: Vec<Bytes> = (0..7).map(|i| Bytes::from(key(i))).collect();
    assert_eq!(seen, expected);
}

#[test]
fn iterator_sees_only_what_was_visible_when_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("a", "1").unwrap();
    db.put("b", "1").unwrap();
    let iter = db.iter();
    db.put("a", "2").unwrap();
    db.delete("b").unwrap();
    db.put("c", "new").unwrap();
    assert_eq!(pairs(iter), vec![kv("a", "1"), kv("b", "1")]);
    assert_eq!(pairs(db.iter()), vec![kv("a", "2"), kv("c", "new")]);
}

/// Writes `count` keys with overwrites, deletes and merges, so that their
/// versions land in several memtables and tables; returns the expected
/// final state.
fn write_spread(db: &DB, count: usize) -> Vec<(String, String)> {
    let mut expected = std::collections::BTreeMap::new();
    for round in 0..3 {
        for i in 0..count {
            let k = key(i);
            match (i + round) % 5 {
                0 => {
                    db.delete(&k).unwrap();
                    expected.remove(&k);
                }
                1 => {
                    db.merge(&k, format!("m{round}")).unwrap();
                    let value = match expected.get(&k) {
                        Some(old) => format!("{old},m{round}"),
                        None => format!("m{round}"),
                    };
                    expected.insert(k, value);
                }
                _ => {
                    let value = format!("v{round}-{i}-{}", "x".repeat(i % 40));
                    db.put(&k, &value).unwrap();
                    expected.insert(k, value);
                }
            }
        }
        db.flush().unwrap();
    }
    expected.into_iter().collect()
}

#[test]
fn iterates_across_memtables_and_tables_both_ways_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let db = open(&dir);
        let expected = write_spread(&db, 400);
        db.put(key(5), "in-memtable").unwrap();
        let mut expected = expected;
        let slot = expected.iter_mut().find(|(k, _)| *k == key(5));
        match slot {
            Some(entry) => entry.1 = "in-memtable".to_owned(),
            None => {
                expected.push((key(5), "in-memtable".to_owned()));
                expected.sort();
            }
        }
        assert_eq!(pairs(db.iter()), expected);
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(pairs(db.iter().rev()), reversed);
        db.close().unwrap();
        expected
    };
    let db = open(&dir);
    assert_eq!(pairs(db.iter()), expected);
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(pairs(db.iter()), expected);
    let lower = key(100);
    let upper = key(200);
    let in_range: Vec<_> = expected
        .iter()
        .filter(|(k, _)| *k >= lower && *k < upper)
        .cloned()
        .collect();
    assert_eq!(pairs(db.range(lower.as_str()..upper.as_str())), in_range);
    let mut reversed = in_range;
    reversed.reverse();
    assert_eq!(
        pairs(db.range(lower.as_str()..upper.as_str()).rev()),
        reversed
    );
}

#[test]
fn open_iterator_keeps_its_tables_through_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let expected = write_spread(&db, 300);
    let iter = db.iter();
    for i in 0..300 {
        db.put(key(i), "overwritten").unwrap();
    }
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(pairs(iter), expected);
    assert!(pairs(db.iter()).iter().all(|(_, v)| v == "overwritten"));
}

#[test]
fn iterators_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.put("k", "v").unwrap();
    let iter = db.prefix("k");
    assert_send(&iter);
    let handle = std::thread::spawn(move || pairs(iter));
    assert_eq!(handle.join().unwrap(), vec![kv("k", "v")]);
}

#[test]
fn every_iterator_counts_as_one_range_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for i in 0..150 {
        db.put(key(i), "v").unwrap();
    }
    let before = db.metrics();
    assert_eq!(
        (before.short_range_lookups, before.long_range_lookups),
        (0, 0)
    );
    assert_eq!(db.range(key(10)..key(20)).count(), 10);
    assert_eq!(db.prefix("key0010").count(), 10);
    drop(db.iter());
    assert_eq!(db.keys().rev().count(), 150);
    let snapshot = db.snapshot();
    assert_eq!(snapshot.iter().count(), 150);
    let after = db.metrics();
    assert_eq!(after.short_range_lookups, 3, "range, prefix, unused iter");
    assert_eq!(after.long_range_lookups, 2, "keys, snapshot iter");
    assert!(db.stats().contains("range lookups: short 3  long 2"));
}
