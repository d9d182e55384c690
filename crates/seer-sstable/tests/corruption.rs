//! Corruption tests: a byte flipped in every region of a table (data,
//! filter, properties, index, footer) and truncated files give a typed
//! `Corruption` error naming the file, on open or on read, and never wrong
//! data.
#![allow(clippy::unwrap_used)]

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use common::{build_table, expected_lookup, read_file, write_file, Entry};
use seer_core::{InternalIterator, InternalKey, Lookup, RealFileSystem, ValueKind, MAX_SEQ};
use seer_sstable::{
    BlockCache, Compression, CorruptionReason, Error, Table, TableIterator, TableOptions,
    FOOTER_BYTES,
};

fn entries() -> Vec<Entry> {
    (0..400u32)
        .map(|i| {
            let kind = [ValueKind::Put, ValueKind::Merge, ValueKind::Delete][i as usize % 3];
            let key =
                InternalKey::new(format!("key{i:05}").into_bytes(), 1000 - u64::from(i), kind);
            (
                key.encode(),
                format!("value number {i} ").repeat(3).into_bytes(),
            )
        })
        .collect()
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The byte ranges of each region, read from the (version 2) footer as
/// FORMATS.md lays it out.
fn regions(file: &[u8]) -> Vec<(&'static str, Range<usize>)> {
    let footer = file.len() - FOOTER_BYTES;
    let handle_start = |i: usize| read_u64(file, footer + i * 16) as usize;
    let (range_del, filter, properties, index) = (
        handle_start(0),
        handle_start(1),
        handle_start(2),
        handle_start(3),
    );
    vec![
        ("data", 0..range_del),
        ("range tombstones", range_del..filter),
        ("filter", filter..properties),
        ("properties", properties..index),
        ("index", index..footer),
        ("footer", footer..file.len()),
    ]
}

/// Opens `file` and reads everything; returns the first error. Every
/// answer given before an error must be right.
fn open_and_read_all(path: &Path, file: Bytes, entries: &[Entry]) -> Result<(), Error> {
    let cache = Some(Arc::new(BlockCache::new(1 << 20)));
    let table = Arc::new(Table::open_bytes(path.to_path_buf(), 1, file, cache)?);
    let position = read_checking(table.iter(), entries)?;
    assert_eq!(
        position,
        entries.len(),
        "iteration stopped early without error"
    );
    for (key, _) in entries {
        let user_key = &key[..key.len() - 8];
        let got = table.get(user_key, MAX_SEQ)?;
        assert_eq!(got, expected_lookup(entries, user_key, MAX_SEQ));
    }
    Ok(())
}

/// Reads `iter` from the start, checking every entry against `entries`;
/// returns how many it read, or its first error.
fn read_checking(mut iter: TableIterator, entries: &[Entry]) -> Result<usize, Error> {
    iter.seek_to_first()?;
    let mut position = 0;
    while iter.valid() {
        assert_eq!(
            iter.key(),
            &entries[position].0[..],
            "wrong key at {position}"
        );
        assert_eq!(&iter.value()[..], &entries[position].1[..], "wrong value");
        position += 1;
        iter.next()?;
    }
    Ok(position)
}

fn assert_corruption_names_file(error: &Error, path: &Path, region: &str, at: usize) {
    match error {
        Error::Corruption { file, .. } => assert_eq!(file, path),
        other => panic!("{region} flip at {at}: expected Corruption, got {other}"),
    }
}

fn check_every_region(compression: Compression) {
    let dir = tempfile::tempdir().unwrap();
    let entries = entries();
    let options = TableOptions {
        compression,
        block_size_bytes: 1024,
        ..TableOptions::default()
    };
    let (path, _) = build_table(dir.path(), &entries, options);
    let original = read_file(&path);
    open_and_read_all(&path, Bytes::from(original.clone()), &entries).unwrap();
    for (region, range) in regions(&original) {
        assert!(!range.is_empty(), "{region} is empty");
        let step = (range.len() / 40).max(1);
        for at in range.clone().step_by(step).chain([range.end - 1]) {
            let mut flipped = original.clone();
            flipped[at] ^= 0x10;
            let result = open_and_read_all(&path, Bytes::from(flipped), &entries);
            let error = result.expect_err("a flipped byte went unnoticed");
            assert_corruption_names_file(&error, &path, region, at);
        }
    }
}

#[test]
fn flipped_bytes_in_every_region_are_typed_errors_uncompressed() {
    check_every_region(Compression::None);
}

#[test]
fn flipped_bytes_in_every_region_are_typed_errors_zstd() {
    check_every_region(Compression::Zstd { level: 3 });
}

/// A compaction reads data blocks from the file, not from the table's
/// memory: a byte flipped in a data block on disk after the table was
/// opened (and its memory is intact) is a corruption naming the file and
/// the block's offset, and a file cut short is one too, never a panic.
#[test]
fn a_sequential_pass_finds_data_blocks_damaged_on_disk_after_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let entries = entries();
    let options = TableOptions {
        block_size_bytes: 1024,
        ..TableOptions::default()
    };
    let (path, _) = build_table(dir.path(), &entries, options);
    let original = read_file(&path);
    let table =
        Arc::new(Table::open_bytes(path.clone(), 1, Bytes::from(original.clone()), None).unwrap());
    let data = regions(&original)[0].1.clone();
    let read_all = |readahead_bytes: usize| -> Result<usize, Error> {
        read_checking(
            table.sequential_iter(&RealFileSystem, readahead_bytes)?,
            &entries,
        )
    };
    assert_eq!(read_all(4096).unwrap(), entries.len());
    let at = data.start + data.len() / 2;
    let mut flipped = original.clone();
    flipped[at] ^= 0x10;
    write_file(&path, &flipped);
    for readahead_bytes in [1, 4096, 1 << 20] {
        match read_all(readahead_bytes) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, path);
                // The offset of the damaged block's checksum, whose check failed.
                assert!(
                    offset.abs_diff(at as u64) < 2048,
                    "offset {offset} for a flip at {at}"
                );
            }
            other => panic!("a flipped data byte on disk: {other:?}"),
        }
    }
    write_file(&path, &original[..data.len() / 2]);
    let error = read_all(4096).expect_err("a table file cut short read to the end");
    assert_corruption_names_file(&error, &path, "cut on disk", data.len() / 2);
}

#[test]
fn footer_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let entries = entries();
    let (path, _) = build_table(dir.path(), &entries, TableOptions::default());
    let original = read_file(&path);
    let footer = original.len() - FOOTER_BYTES;
    let reason =
        |file: Vec<u8>| match Table::open_bytes(PathBuf::from("t.sst"), 1, Bytes::from(file), None)
        {
            Err(Error::Corruption { reason, .. }) => reason,
            other => panic!("expected corruption, got {other:?}"),
        };
    let mut bad = original.clone();
    bad[original.len() - 1] ^= 1;
    assert!(matches!(reason(bad), CorruptionReason::WrongMagic { .. }));
    let mut bad = original.clone();
    bad[footer + 72] = 4;
    assert!(matches!(
        reason(bad),
        CorruptionReason::UnknownVersion { found: 4 }
    ));
    let mut bad = original.clone();
    bad[footer + 66] ^= 1;
    assert!(matches!(
        reason(bad),
        CorruptionReason::BadChecksum { what: "footer", .. }
    ));
    let mut bad = original.clone();
    bad[footer - 3] ^= 1;
    assert!(matches!(
        reason(bad),
        CorruptionReason::BadChecksum {
            what: "index block",
            ..
        }
    ));
    assert!(matches!(
        reason(original[..40].to_vec()),
        CorruptionReason::Truncated { .. }
    ));
}

#[test]
fn truncated_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let entries = entries();
    let (path, _) = build_table(dir.path(), &entries, TableOptions::default());
    let original = read_file(&path);
    for len in [
        0,
        1,
        FOOTER_BYTES - 1,
        FOOTER_BYTES,
        original.len() / 2,
        original.len() - 1,
    ] {
        let error = open_and_read_all(&path, Bytes::copy_from_slice(&original[..len]), &entries)
            .expect_err("a truncated table opened");
        assert_corruption_names_file(&error, &path, "truncated", len);
    }
    write_file(&path, &original[..original.len() - 1]);
    let error = Table::open(&RealFileSystem, &path, 1, None).unwrap_err();
    assert!(error.is_corruption() && error.to_string().contains("00000000000000000001.sst"));
    assert!(matches!(
        Table::open(&RealFileSystem, &dir.path().join("missing.sst"), 2, None),
        Err(Error::Io(_))
    ));
    // A correct table still answers after a failed open of another.
    write_file(&path, &original);
    let table = Table::open(&RealFileSystem, &path, 1, None).unwrap();
    assert!(matches!(
        table.get(b"key00000", MAX_SEQ).unwrap(),
        Lookup::Value(_)
    ));
}

#[test]
fn a_table_of_only_range_tombstones_opens_and_a_bad_fragment_is_named() {
    use seer_core::{FragmentedTombstones, RangeTombstone};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000001.sst");
    let mut builder =
        seer_sstable::TableBuilder::new(RealFileSystem::shared(), &path, TableOptions::default())
            .unwrap();
    builder
        .set_range_tombstones(FragmentedTombstones::new([
            RangeTombstone::new(&b"a"[..], &b"c"[..], 5),
            RangeTombstone::new(&b"c"[..], &b"e"[..], 4),
        ]))
        .unwrap();
    let meta = builder.finish().unwrap();
    assert_eq!(meta.entry_count, 0);
    assert_eq!(meta.smallest.user_key().as_ref(), b"a");
    let mut file = read_file(&path);
    let table = Table::open_bytes(path.clone(), 1, Bytes::from(file.clone()), None).unwrap();
    assert_eq!(table.range_tombstones().max_covering_seq(b"d", 9), Some(4));
    assert_eq!(table.get(b"b", MAX_SEQ).unwrap(), Lookup::NotFound);
    let table = Arc::new(table);
    let mut iter = table.iter();
    iter.seek_to_first().unwrap();
    assert!(!iter.valid());
    iter.seek_to_last().unwrap();
    assert!(!iter.valid());
    table.verify_checksums().unwrap();
    // Block: 2, [a, c) @ 5 (7 bytes), [c, e) @ 4; make the second start
    // "b", inside the first, and fix the checksum.
    let block_at = read_u64(&file, file.len() - FOOTER_BYTES) as usize;
    let block_len = read_u64(&file, file.len() - FOOTER_BYTES + 8) as usize;
    file[block_at + 8] = b'b';
    let checksum = seer_core::Checksummer::new()
        .update(&file[block_at..block_at + block_len])
        .update(&[0])
        .finish();
    file[block_at + block_len + 1..block_at + block_len + 9]
        .copy_from_slice(&checksum.to_le_bytes());
    match Table::open_bytes(path.clone(), 1, Bytes::from(file), None) {
        Err(Error::Corruption {
            file,
            offset,
            reason: CorruptionReason::Malformed { what, .. },
        }) => {
            assert_eq!(file, path);
            assert_eq!(offset, block_at as u64 + 7);
            assert_eq!(what, "range tombstone fragment");
        }
        other => panic!("expected a malformed fragment, got {other:?}"),
    }
}

/// An expiring put whose value is too short to hold its 8-byte expiry
/// (written through the builder, so every checksum matches) is a
/// `Corruption` naming the file and an offset inside its data block, from
/// a point read, from an iterator, and from a lookup that reaches it as a
/// merge base; the well-formed entries around it read as written.
#[test]
fn an_expiring_put_too_short_for_its_expiry_is_a_corruption_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let key =
        |name: &str, seq, kind| InternalKey::new(name.as_bytes().to_vec(), seq, kind).encode();
    let well_formed = seer_core::expiry::encode_expiring(u64::MAX, b"live").to_vec();
    let entries: Vec<Entry> = vec![
        (key("a", 9, ValueKind::ExpiringPut), well_formed.clone()),
        (key("b", 9, ValueKind::Merge), b"operand".to_vec()),
        (key("b", 8, ValueKind::ExpiringPut), b"short".to_vec()),
        (key("c", 9, ValueKind::ExpiringPut), b"1234567".to_vec()),
        (key("d", 9, ValueKind::Put), b"plain".to_vec()),
    ];
    let (path, _) = build_table(dir.path(), &entries, TableOptions::default());
    let table = Arc::new(Table::open(&RealFileSystem, &path, 1, None).unwrap());
    let file_bytes = read_file(&path).len() as u64;
    let named = |result: Result<Lookup, Error>, what: &str| match result {
        Err(Error::Corruption {
            file,
            offset,
            reason,
        }) => {
            assert_eq!(file, path, "{what}");
            assert!(offset < file_bytes, "{what}: offset {offset}");
            assert!(reason.to_string().contains("expiry"), "{what}: {reason}");
        }
        other => panic!("{what}: {other:?}"),
    };
    named(table.get(b"c", MAX_SEQ), "point read");
    named(table.get(b"b", MAX_SEQ), "merge base");
    assert_eq!(
        table.get(b"a", MAX_SEQ).unwrap(),
        Lookup::Expiring(Bytes::from(well_formed))
    );
    assert_eq!(
        table.get(b"d", MAX_SEQ).unwrap(),
        Lookup::Value(Bytes::from_static(b"plain"))
    );
    let mut iter = table.iter();
    iter.seek_to_first().unwrap();
    iter.next().unwrap();
    assert!(iter.valid(), "the merge operand reads");
    let error = iter.next().map(|()| Lookup::NotFound);
    named(error, "iterator");
    assert!(!iter.valid());
}
