//! Keeps the cargo-fuzz corpus's valid table in step with the format: it
//! must be byte-identical to what the builder writes today (run with
//! `SEER_BLESS=1` to rewrite it after a deliberate format change). The
//! corpus also keeps `valid_small_v1.sst`, the same entries as written by
//! format version 1 (before range tombstones) and `valid_small_v2.sst` as
//! written by version 2 (before the blocked filter), which must stay
//! readable.
//! The corpus itself is replayed by seer-testkit's `tests/corpus_replay.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use common::{read_file, write_file, Entry};
use seer_core::{FragmentedTombstones, InternalKey, Lookup, MergeBase, RangeTombstone, ValueKind};
use seer_sstable::{Table, TableBuilder, TableOptions};

/// The corpus directory of this crate's fuzz target `target`.
fn corpus_dir(target: &str) -> PathBuf {
    seer_testkit::corpus::corpus_dir("seer-sstable", target)
}

fn small_entries() -> Vec<Entry> {
    let kinds = [ValueKind::Put, ValueKind::Merge, ValueKind::Delete];
    (0..40u64)
        .map(|i| {
            let user = format!("fuzz{:03}", i / 2).into_bytes();
            let key = InternalKey::new(user, 100 - i, kinds[(i % 3) as usize]);
            (key.encode(), format!("v{i}").into_bytes())
        })
        .collect()
}

/// Range tombstones of the small table: two overlapping ranges.
fn small_tombstones() -> FragmentedTombstones {
    FragmentedTombstones::new([
        RangeTombstone::new(&b"fuzz002"[..], &b"fuzz008"[..], 60),
        RangeTombstone::new(&b"fuzz006"[..], &b"fuzz030"[..], 95),
    ])
}

fn small_table_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let options = TableOptions {
        block_size_bytes: 128,
        restart_interval: 4,
        ..TableOptions::default()
    };
    let path = dir.path().join("00000000000000000001.sst");
    let mut builder =
        TableBuilder::new(seer_core::RealFileSystem::shared(), &path, options).unwrap();
    for (key, value) in small_entries() {
        builder.add(&key, &value).unwrap();
    }
    builder.set_range_tombstones(small_tombstones()).unwrap();
    builder.finish().unwrap();
    read_file(&path)
}

/// What both versions of the small table answer about their entries.
fn check_small_entries(table: &Table) {
    assert_eq!(table.get(b"fuzz004", 100).unwrap(), Lookup::Deleted);
    assert_eq!(
        table.get(b"fuzz005", 100).unwrap(),
        Lookup::Merge {
            operands: vec![Bytes::from_static(b"v10")],
            base: Some(MergeBase::Deleted),
        }
    );
    assert!(table.data_block_count() > 1);
}

/// Opens the corpus table `name`, checking that its footer says format
/// `version`, and checks the small table's entries in it.
fn open_checked_in_table(name: &str, version: u32) -> Table {
    let path = corpus_dir("table_reader").join(name);
    let bytes = Bytes::from(read_file(&path));
    assert_eq!(
        &bytes[bytes.len() - 12..bytes.len() - 8],
        &version.to_le_bytes()
    );
    let table = Table::open_bytes(path, 1, bytes, None).unwrap();
    check_small_entries(&table);
    table
}

#[test]
fn a_version_one_table_still_opens_and_reads() {
    let table = open_checked_in_table("valid_small_v1.sst", 1);
    assert!(table.range_tombstones().is_empty());
    table.verify_checksums().unwrap();
}

/// A version 2 table (its filter in the spread layout), checked in when
/// version 3 replaced it: every key it holds passes its filter.
#[test]
fn a_version_two_table_still_opens_and_reads() {
    let table = open_checked_in_table("valid_small_v2.sst", 2);
    assert_eq!(table.range_tombstones(), &small_tombstones());
    assert!(table.filter_info().probes_count > 0);
    for (key, _) in small_entries() {
        let user_key = &key[..key.len() - 8];
        assert!(
            table.may_contain(user_key),
            "{user_key:?} failed the v2 filter"
        );
    }
    table.verify_checksums().unwrap();
}

#[test]
fn checked_in_table_matches_the_current_format() {
    let fresh = small_table_bytes();
    let golden = corpus_dir("table_reader").join("valid_small.sst");
    if std::env::var_os("SEER_BLESS").is_some() {
        write_file(&golden, &fresh);
        write_file(
            &corpus_dir("block_decoder").join("valid_block"),
            first_block(&fresh),
        );
        write_file(
            &corpus_dir("range_del_decoder").join("valid_block"),
            &seer_sstable::encode_range_tombstone_block(&small_tombstones()),
        );
    }
    assert_eq!(
        read_file(&golden),
        fresh,
        "table format changed; bless the corpus"
    );
    let table = Table::open_bytes(golden, 1, Bytes::from(fresh), None).unwrap();
    check_small_entries(&table);
    assert_eq!(table.range_tombstones(), &small_tombstones());
    let meta = table.meta();
    // The table's key and sequence ranges cover its tombstones.
    assert_eq!(meta.largest.user_key().as_ref(), b"fuzz030");
    assert_eq!((meta.smallest_seq, meta.largest_seq), (60, 100));
}

/// The first data block's stored bytes (uncompressed: its contents).
fn first_block(table: &[u8]) -> &[u8] {
    let mut end = 0;
    while end + 10 <= table.len() {
        end += 1;
        let stored = &table[..end];
        let trailer = &table[end..end + 9];
        let checksum = seer_core::Checksummer::new()
            .update(stored)
            .update(&trailer[..1])
            .finish();
        if trailer[0] == 0 && checksum.to_le_bytes() == trailer[1..] {
            return stored;
        }
    }
    panic!("no block found");
}
