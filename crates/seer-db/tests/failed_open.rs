//! An open that fails leaves the directory as it found it: no new
//! manifest, no new WAL segment, no file created, changed or deleted, so a
//! second attempt with other options (another WAL recovery mode, the right
//! merge operator) or a repair tool sees the original database.
//!
//! Each case builds a small database on the real file system (a flushed
//! table, writes left in the WAL, a recorded merge operator), damages it or
//! opens it with the wrong options, and compares the directory listing
//! (names, sizes, modification times, contents) before and after the
//! failed open.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use seer_db::{DBOptions, Error, StringAppendOperator, WalRecoveryMode};

/// Every file of `dir` with its modification time and contents.
type Listing = BTreeMap<String, (SystemTime, Vec<u8>)>;

fn listing(dir: &Path) -> Listing {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            let contents = std::fs::read(entry.path()).unwrap();
            (
                entry.file_name().into_string().unwrap(),
                (modified, contents),
            )
        })
        .collect()
}

fn names(listing: &Listing) -> Vec<&str> {
    listing.keys().map(String::as_str).collect()
}

fn options() -> DBOptions {
    DBOptions::default()
        .wal_recovery_mode(WalRecoveryMode::AbsoluteConsistency)
        .merge_operator(StringAppendOperator::new(","))
        .background_threads(1)
}

/// A database with one flushed table and writes still in its WAL.
fn build(dir: &Path) {
    let db = options().open(dir).unwrap();
    for i in 0..50 {
        db.put(format!("table-{i:03}"), format!("value-{i}"))
            .unwrap();
    }
    db.flush().unwrap();
    for i in 0..50 {
        db.put(format!("wal-{i:03}"), format!("value-{i}")).unwrap();
    }
    db.merge("merged", "a").unwrap();
    db.close().unwrap();
}

fn file_with_suffix(dir: &Path, suffix: &str) -> std::path::PathBuf {
    let listed = listing(dir);
    let name = listed
        .keys()
        .find(|name| name.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} file in {:?}", names(&listed)));
    dir.join(name)
}

fn flip_byte(path: &Path, offset_from_end: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() - offset_from_end;
    bytes[at] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

/// Opens `dir` with `options`, expects a failure, and checks that the
/// directory is unchanged.
fn assert_failed_open_changes_nothing(dir: &Path, options: DBOptions) -> Error {
    let before = listing(dir);
    let error = options.open(dir).unwrap_err();
    let after = listing(dir);
    assert_eq!(
        names(&before),
        names(&after),
        "the failed open ({error}) created or deleted files"
    );
    for (name, (modified, contents)) in &before {
        let (modified_after, contents_after) = &after[name];
        assert!(
            modified == modified_after && contents == contents_after,
            "the failed open ({error}) changed {name}"
        );
    }
    error
}

/// WAL corruption in the middle of the segment, refused by absolute
/// consistency; skipping the damage then opens the original.
#[test]
fn an_open_failed_by_wal_corruption_leaves_the_directory_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let wal = file_with_suffix(dir.path(), ".wal");
    let wal_bytes = std::fs::metadata(&wal).unwrap().len() as usize;
    flip_byte(&wal, wal_bytes / 2);
    let error = assert_failed_open_changes_nothing(dir.path(), options());
    assert!(matches!(error, Error::Corruption { .. }), "{error}");
    let db = options()
        .wal_recovery_mode(WalRecoveryMode::SkipCorrupted)
        .open(dir.path())
        .unwrap();
    assert_eq!(
        db.get("table-000").unwrap().as_deref(),
        Some(&b"value-0"[..])
    );
    db.close().unwrap();
}

/// A merge operator other than the one the database was written with;
/// the right one then opens the original.
#[test]
fn an_open_failed_by_another_merge_operator_leaves_the_directory_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let error =
        assert_failed_open_changes_nothing(dir.path(), options().merge_operator(RenamedOperator));
    assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
    let db = options().open(dir.path()).unwrap();
    assert_eq!(db.get("merged").unwrap().as_deref(), Some(&b"a"[..]));
    db.close().unwrap();
}

/// A table whose footer is damaged (every live table is opened at open).
#[test]
fn an_open_failed_by_a_damaged_table_leaves_the_directory_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let table = file_with_suffix(dir.path(), ".sst");
    flip_byte(&table, 3);
    let error = assert_failed_open_changes_nothing(dir.path(), options());
    assert!(matches!(error, Error::Corruption { .. }), "{error}");
}

/// A merge operator with another name than the one the database recorded.
struct RenamedOperator;

impl seer_db::MergeOperator for RenamedOperator {
    fn name(&self) -> &str {
        "renamed"
    }

    fn full_merge(
        &self,
        _key: &[u8],
        base: Option<&[u8]>,
        operands: &[bytes::Bytes],
    ) -> Result<Vec<u8>, seer_core::MergeError> {
        let mut merged = base.unwrap_or_default().to_vec();
        for operand in operands {
            merged.extend_from_slice(operand);
        }
        Ok(merged)
    }
}

/// WAL damage near the end of a WAL that fills several memtables of the
/// failing open: the memtables before the damage are not written as
/// level-0 runs (nor the old segment deleted) before the damage is found.
#[test]
fn an_open_failed_by_wal_damage_past_full_memtables_leaves_the_directory_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = options().open(dir.path()).unwrap();
    let value = "v".repeat(200);
    for i in 0..200 {
        db.put(format!("wal-{i:03}"), &value).unwrap();
    }
    db.close().unwrap();
    let wal = file_with_suffix(dir.path(), ".wal");
    flip_byte(&wal, 100);
    let small_memtables = options().memtable_capacity(4 << 10);
    let error = assert_failed_open_changes_nothing(dir.path(), small_memtables.clone());
    assert!(matches!(error, Error::Corruption { .. }), "{error}");
    let db = small_memtables
        .wal_recovery_mode(WalRecoveryMode::SkipCorrupted)
        .open(dir.path())
        .unwrap();
    assert_eq!(
        db.get("wal-000").unwrap().as_deref(),
        Some(value.as_bytes())
    );
    db.close().unwrap();
}
