//! The manifest's own verify (`manifest::verify`, `VersionSet::verify`):
//! `CURRENT`, every edit of the manifest, every referenced table present at
//! its recorded size; each failure a typed error naming the file (and the
//! offset of the damage).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::manifest::{self, ManifestVerification};
use seer_compaction::{
    Error, PolicyParams, Result, TableMeta, VersionEdit, VersionSet, VersionSetOptions,
};
use seer_core::fault::FaultFileSystem;
use seer_core::filename::{file_name, CURRENT_FILE_NAME};
use seer_core::{Corruption, FileKind, FileSystem, InternalKey, ValueKind};
use seer_log::{verify_log, LogKind, TailRule};

const LEVELS: usize = 5;

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

fn table_path(file_number: u64) -> PathBuf {
    dir().join(file_name(FileKind::Table, file_number))
}

/// Overwrites `path` with `bytes`, durably.
fn write_file(fs: &FaultFileSystem, path: &Path, bytes: &[u8]) {
    let mut file = fs.create(path).unwrap();
    file.append(bytes).unwrap();
    file.sync_all().unwrap();
}

/// A version set whose manifest adds tables 10, 11 and 12 in three edits
/// (each table file present, `100 + n` bytes long).
fn database(fs: &FaultFileSystem) -> VersionSet {
    let options = VersionSetOptions {
        levels_count: LEVELS,
        max_manifest_bytes: 1 << 20,
        initial_policy: PolicyParams::leveling(10).unwrap(),
    };
    let (set, _) = VersionSet::open(fs.shared(), &dir(), options).unwrap();
    for n in 10..13 {
        let size_bytes = 100 + n;
        write_file(fs, &table_path(n), &vec![7; size_bytes as usize]);
        let key = |k: &'static str, seq| {
            InternalKey::new(Bytes::from_static(k.as_bytes()), seq, ValueKind::Put)
        };
        let meta = TableMeta {
            file_number: n,
            file_size_bytes: size_bytes,
            smallest: key("a", n),
            largest: key("z", n),
            smallest_seq: n,
            largest_seq: n,
            entry_count: 1,
            tombstone_count: 0,
            merge_count: 0,
            raw_key_bytes: 0,
            raw_value_bytes: 0,
            earliest_expiry_unix_ms: None,
        };
        let mut edit = VersionEdit::new();
        edit.add_table(0, n, Arc::new(meta));
        set.log_and_apply(edit).unwrap();
    }
    set
}

fn manifest_path(set: &VersionSet) -> PathBuf {
    dir().join(file_name(FileKind::Manifest, set.manifest_number()))
}

/// [`database`], its manifest's path and bytes.
fn database_and_its_manifest() -> (FaultFileSystem, VersionSet, PathBuf, Vec<u8>) {
    let fs = FaultFileSystem::new();
    let set = database(&fs);
    let path = manifest_path(&set);
    let intact = fs.file_content(&path).unwrap();
    (fs, set, path, intact)
}

/// The offsets of the manifest's frames (its edits).
fn edit_offsets(fs: &FaultFileSystem, path: &Path) -> Vec<u64> {
    let mut offsets = Vec::new();
    verify_log(
        fs,
        path,
        LogKind::Manifest,
        TailRule::MustBeWhole,
        |frame| {
            offsets.push(frame.offset);
            Ok(())
        },
    )
    .unwrap();
    offsets
}

fn verify(fs: &FaultFileSystem) -> Result<ManifestVerification> {
    manifest::verify(fs, &dir(), LEVELS)
}

#[test]
fn verify_checks_current_the_manifest_and_every_referenced_table() {
    let fs = FaultFileSystem::new();
    let set = database(&fs);
    let verification = set.verify().unwrap();
    assert_eq!(verification.current_path, dir().join(CURRENT_FILE_NAME));
    assert_eq!(verification.manifest_path, manifest_path(&set));
    assert_eq!(verification.tables_count, 3);
    // The snapshot that opens the manifest, then one edit per table.
    assert_eq!(verification.state.edits_count, 4);
    assert_eq!(verification.state.dropped_tail_bytes, 0);
    assert_eq!(
        verification.manifest_bytes,
        fs.file_size(&manifest_path(&set)).unwrap()
    );
    assert_eq!(verify(&fs).unwrap().state.version, set.current());
}

#[test]
fn a_flipped_byte_in_any_manifest_edit_is_corruption_naming_the_manifest_and_the_edit_offset() {
    let (fs, set, path, intact) = database_and_its_manifest();
    let offsets = edit_offsets(&fs, &path);
    for (index, &offset) in offsets.iter().enumerate() {
        let mut damaged = intact.clone();
        // A payload byte: the frame's checksum fails.
        damaged[offset as usize + 14] ^= 0x08;
        write_file(&fs, &path, &damaged);
        for result in [verify(&fs), set.verify()] {
            match result {
                Err(Error::Log(seer_log::LogError::Corruption(Corruption {
                    file,
                    offset: at,
                    ..
                }))) => {
                    assert_eq!(
                        (file.as_path(), at),
                        (path.as_path(), offset),
                        "edit {index}"
                    );
                }
                other => panic!("edit {index}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_missing_or_resized_table_is_an_error_naming_the_table() {
    let fs = FaultFileSystem::new();
    let set = database(&fs);
    let path = table_path(11);
    let intact = fs.file_content(&path).unwrap();
    write_file(&fs, &path, &intact[..intact.len() - 1]);
    match set.verify() {
        Err(Error::Corruption(Corruption { file, offset, .. })) => {
            assert_eq!((file, offset), (path.clone(), intact.len() as u64 - 1));
        }
        other => panic!("{other:?}"),
    }
    fs.remove_file(&path).unwrap();
    match set.verify() {
        Err(error @ Error::Io(_)) => assert_eq!(error.file(), Some(path.as_path())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_or_damaged_current_is_an_error_naming_current() {
    let fs = FaultFileSystem::new();
    let set = database(&fs);
    let current = dir().join(CURRENT_FILE_NAME);
    let intact = fs.file_content(&current).unwrap();
    let mut damaged = intact.clone();
    let last = damaged.len() - 2;
    damaged[last] ^= 0x01;
    write_file(&fs, &current, &damaged);
    let error = set.verify().unwrap_err();
    assert!(matches!(error, Error::Corruption(_)), "{error:?}");
    assert_eq!(error.file(), Some(current.as_path()));
    fs.remove_file(&current).unwrap();
    let error = set.verify().unwrap_err();
    assert!(matches!(error, Error::NotADatabase { .. }), "{error:?}");
    assert_eq!(error.file(), Some(current.as_path()));
}

/// A manifest cut inside its last edit replays (the torn edit dropped, as on
/// open), but not to the live version: the version set's verify says so.
#[test]
fn a_manifest_that_lost_its_last_edit_does_not_verify_against_the_live_version() {
    let (fs, set, path, intact) = database_and_its_manifest();
    let last_edit = *edit_offsets(&fs, &path).last().unwrap();
    write_file(&fs, &path, &intact[..last_edit as usize + 5]);
    let replayed = verify(&fs).unwrap();
    assert_eq!(replayed.state.dropped_tail_bytes, 5);
    assert_eq!(replayed.tables_count, 2);
    match set.verify() {
        Err(Error::Corruption(Corruption { file, offset, .. })) => {
            assert_eq!((file, offset), (path, last_edit + 5));
        }
        other => panic!("{other:?}"),
    }
}
