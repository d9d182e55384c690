//! `DB::verify` over each layer's own verify: a missing table is reported
//! once, naming it; a torn tail of the newest WAL segment is counted, not
//! blamed. (A torn older segment is tested in seer-wal's `verify`, flipped
//! bytes in every file by `durability_corruption.rs`.)
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use seer_core::fault::FaultFileSystem;
use seer_core::{FileSystem, IoError};
use seer_db::{DBOptions, Error, SyncPolicy, DB};

const DIR: &str = "/db";

fn open(fs: &FaultFileSystem) -> DB {
    DBOptions::default()
        .file_system(Arc::new(fs.clone()))
        .sync_policy(SyncPolicy::Always)
        .open(DIR)
        .unwrap()
}

fn files_ending(fs: &FaultFileSystem, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs
        .list_files()
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Cuts the last `cut_bytes` bytes off `path`, durably.
/// Cuts the last `cut_bytes` of the log's frames off, and the zeros of its
/// reservation after them (a preallocated WAL segment's).
fn cut_tail(fs: &FaultFileSystem, path: &Path, cut_bytes: usize) {
    let content = fs.file_content(path).unwrap();
    let frames_end = content.iter().rposition(|&b| b != 0).unwrap() + 1;
    let mut file = fs.create(path).unwrap();
    file.append(&content[..frames_end - cut_bytes]).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn verify_reports_a_missing_table_once_naming_it() {
    let fs = FaultFileSystem::new();
    let db = open(&fs);
    for round in 0..2 {
        db.put(format!("key{round}"), "value").unwrap();
        db.flush().unwrap();
    }
    let tables = files_ending(&fs, ".sst");
    assert_eq!(tables.len(), 2);
    fs.remove_file(&tables[0]).unwrap();
    let report = db.verify().unwrap();
    match report.bad_files.as_slice() {
        [(file, Error::Io(IoError { file: named, .. }))] => {
            assert_eq!((file, named), (&tables[0], &tables[0]));
        }
        other => panic!("{other:?}"),
    }
    assert!(report
        .checked_files
        .iter()
        .any(|(path, _)| *path == tables[1]));
    db.close().unwrap();
}

#[test]
fn verify_counts_a_torn_tail_of_the_newest_segment_without_blaming_it() {
    let fs = FaultFileSystem::new();
    let db = open(&fs);
    db.put("key", "value").unwrap();
    let segments = files_ending(&fs, ".wal");
    let newest = segments.last().unwrap();
    cut_tail(&fs, newest, 3);
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.bad_files);
    assert!(report.wal_torn_tail_bytes > 0);
    assert!(report.checked_files.iter().any(|(path, _)| path == newest));
    db.close().unwrap();
}
