//! Builder contract: order checks, empty tables, abandon, size estimates,
//! and the meta and properties a finished table reports.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{build_table, sync_counting_fs};
use seer_core::{InternalKey, RealFileSystem, ValueKind};
use seer_sstable::{Compression, Error, Table, TableBuilder, TableOptions};

fn key(user: &str, seq: u64, kind: ValueKind) -> Vec<u8> {
    InternalKey::new(user.as_bytes().to_vec(), seq, kind).encode()
}

fn table_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("00000000000000000042.sst")
}

#[test]
fn out_of_order_duplicate_and_malformed_keys_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let fs = RealFileSystem::shared();
    let mut builder =
        TableBuilder::new(fs, &table_path(dir.path()), TableOptions::default()).unwrap();
    builder.add(&key("b", 5, ValueKind::Put), b"v").unwrap();
    let duplicate = builder.add(&key("b", 5, ValueKind::Put), b"v");
    assert!(matches!(duplicate, Err(Error::OutOfOrder { .. })));
    let older_user_key = builder.add(&key("a", 9, ValueKind::Put), b"v");
    assert!(matches!(older_user_key, Err(Error::OutOfOrder { .. })));
    let newer_seq = builder.add(&key("b", 6, ValueKind::Put), b"v");
    assert!(matches!(newer_seq, Err(Error::OutOfOrder { .. })));
    assert!(matches!(
        builder.add(b"short", b"v"),
        Err(Error::InvalidKey { .. })
    ));
    builder.add(&key("b", 4, ValueKind::Merge), b"w").unwrap();
    assert_eq!(builder.entry_count(), 2);
    builder.finish().unwrap();
}

#[test]
fn empty_tables_unnumbered_names_and_bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fs = RealFileSystem::shared();
    let builder =
        TableBuilder::new(fs.clone(), &table_path(dir.path()), TableOptions::default()).unwrap();
    assert!(matches!(builder.finish(), Err(Error::Empty { .. })));
    let unnumbered = TableBuilder::new(
        fs.clone(),
        &dir.path().join("table.sst"),
        TableOptions::default(),
    );
    assert!(matches!(unnumbered, Err(Error::UnnumberedFile { .. })));
    let options = TableOptions {
        block_size_bytes: 0,
        ..TableOptions::default()
    };
    assert!(matches!(
        TableBuilder::new(fs, &table_path(dir.path()), options),
        Err(Error::InvalidOptions { .. })
    ));
}

#[test]
fn abandon_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fs = RealFileSystem::shared();
    let path = dir.path().join("00000000000000000007.tmp");
    let mut builder = TableBuilder::new(fs.clone(), &path, TableOptions::default()).unwrap();
    builder.add(&key("a", 1, ValueKind::Put), b"v").unwrap();
    assert!(fs.exists(&path).unwrap());
    builder.abandon().unwrap();
    assert!(!fs.exists(&path).unwrap());
}

#[test]
fn meta_properties_and_size_estimate_agree_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let fs = RealFileSystem::shared();
    let options = TableOptions {
        compression: Compression::Zstd { level: 3 },
        bloom_bits_per_key: 14,
        creation_level: Some(3),
        creation_policy: "leveled".to_owned(),
        ..TableOptions::default()
    };
    let path = table_path(dir.path());
    let mut builder = TableBuilder::new(fs.clone(), &path, options).unwrap();
    for i in 0..5000u64 {
        let kind = [ValueKind::Put, ValueKind::Delete, ValueKind::Merge][(i % 3) as usize];
        builder
            .add(
                &key(&format!("user{i:06}"), 10_000 - i, kind),
                &i.to_le_bytes().repeat(4),
            )
            .unwrap();
    }
    let estimate = builder.estimated_file_size();
    let meta = builder.finish().unwrap();
    assert_eq!(meta.file_number, 42);
    assert_eq!(meta.file_size_bytes, fs.file_size(&path).unwrap());
    let ratio = estimate as f64 / meta.file_size_bytes as f64;
    assert!(
        (0.9..1.1).contains(&ratio),
        "estimate {estimate} vs {}",
        meta.file_size_bytes
    );
    assert_eq!(
        (meta.entry_count, meta.tombstone_count, meta.merge_count),
        (5000, 1667, 1666)
    );
    assert_eq!((meta.smallest_seq, meta.largest_seq), (5001, 10_000));
    assert_eq!(
        meta.smallest,
        InternalKey::new(&b"user000000"[..], 10_000, ValueKind::Put)
    );
    assert_eq!(meta.raw_value_bytes, 5000 * 32);
    let table = Table::open(&*fs, &path, 42, None).unwrap();
    assert_eq!(table.meta(), meta);
    let properties = table.properties();
    assert_eq!(properties.creation_level, Some(3));
    assert_eq!(properties.creation_policy, "leveled");
    assert_eq!(properties.bloom_bits_per_key, 14);
    assert_eq!(properties.filter_key_count, 5000);
    assert!(properties.data_bytes < properties.raw_key_bytes + properties.raw_value_bytes);
}

#[test]
fn filter_stops_absent_keys_and_counts_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..2000u32)
        .map(|i| (key(&format!("k{i:06}"), 1, ValueKind::Put), vec![1u8; 10]))
        .collect();
    let (path, _) = build_table(dir.path(), &entries, TableOptions::default());
    let table = Arc::new(Table::open(&RealFileSystem, &path, 1, None).unwrap());
    let absent: Vec<String> = (0..2000).map(|i| format!("k{i:06}x")).collect();
    let admitted = absent
        .iter()
        .filter(|k| table.may_contain(k.as_bytes()))
        .count();
    for k in &absent {
        assert_eq!(
            table.get(k.as_bytes(), 5).unwrap(),
            seer_core::Lookup::NotFound
        );
    }
    let stats = table.filter_stats();
    assert_eq!(stats.check_count, 2000);
    assert_eq!(stats.false_positive_count as usize, admitted);
    assert_eq!(stats.useful_count as usize, 2000 - admitted);
    assert!(admitted < 60, "{admitted} false positives of 2000");
}

#[test]
fn finish_syncs_the_file_before_returning() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = Arc::default();
    let fs = Arc::new(sync_counting_fs(&syncs));
    let mut builder =
        TableBuilder::new(fs, &table_path(dir.path()), TableOptions::default()).unwrap();
    builder.add(&key("a", 1, ValueKind::Put), b"v").unwrap();
    assert_eq!(syncs.load(std::sync::atomic::Ordering::SeqCst), 0);
    builder.finish().unwrap();
    assert_eq!(syncs.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn tables_iterators_and_caches_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Table>();
    assert_send_sync::<seer_sstable::BlockCache>();
    fn assert_send<T: Send>() {}
    assert_send::<seer_sstable::TableIterator>();
    assert_send::<TableBuilder>();
}
