//! Version set and manifest tests on the in-memory fault-injecting file
//! system: reopen, obsolete-file tracking, orphans, manifest rewrite, a
//! manifest cut at every byte of its last edit, a corrupted middle, injected
//! write failures and power loss during a `CURRENT` swap.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::{
    Error, PolicyParams, TableMeta, Version, VersionEdit, VersionSet, VersionSetOptions,
};
use seer_core::fault::{Fault, FaultFileSystem, PowerLossMode};
use seer_core::filename::{file_name, CURRENT_FILE_NAME};
use seer_core::{FileKind, FileSystem, InternalKey, ValueKind};
use seer_log::{LogKind, LogReader, RecoveryMode};
use seer_testkit::ForwardingFs;

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

fn options() -> VersionSetOptions {
    VersionSetOptions {
        levels_count: 5,
        max_manifest_bytes: 1 << 20,
        initial_policy: PolicyParams::lazy_leveling(10).unwrap(),
    }
}

/// Table `file_number` spanning `smallest..=largest`; its data is written at
/// sequence numbers `10 * file_number ..= 10 * file_number + 2`, so a table
/// with a larger number holds newer data (as the invariant checker wants
/// of the runs read first).
fn table(file_number: u64, smallest: &str, largest: &str) -> Arc<TableMeta> {
    let key =
        |k: &str, seq| InternalKey::new(Bytes::copy_from_slice(k.as_bytes()), seq, ValueKind::Put);
    let seq = 10 * file_number;
    Arc::new(TableMeta {
        file_number,
        file_size_bytes: 1000 + file_number,
        smallest: key(smallest, seq + 2),
        largest: key(largest, seq),
        smallest_seq: seq,
        largest_seq: seq + 2,
        entry_count: 10,
        tombstone_count: 1,
        merge_count: 2,
        raw_key_bytes: 100,
        raw_value_bytes: 500,
        earliest_expiry_unix_ms: None,
    })
}

fn open(fs: &FaultFileSystem) -> (VersionSet, seer_compaction::ManifestRecoveryReport) {
    VersionSet::open(fs.shared(), &dir(), options()).unwrap()
}

/// Adds table `n` as a new level-0 run spanning `a..z`.
fn flush(set: &VersionSet, n: u64) -> Arc<Version> {
    let mut edit = VersionEdit::new();
    edit.add_table(0, n, table(n, "a", "z"));
    edit.last_seq = Some(n * 10);
    set.log_and_apply(edit).unwrap()
}

fn manifest_path(set: &VersionSet) -> PathBuf {
    dir().join(file_name(FileKind::Manifest, set.manifest_number()))
}

#[test]
fn reopen_restores_version_and_counters() {
    let fs = FaultFileSystem::new();
    let (set, report) = open(&fs);
    assert!(report.created);
    let a = set.new_file_number();
    let b = set.new_file_number();
    flush(&set, a);
    flush(&set, b);
    let mut edit = VersionEdit::new();
    edit.remove_table(0, a).remove_table(0, b);
    edit.add_table(2, 100, table(100, "a", "k"))
        .add_table(2, 100, table(101, "l", "z"));
    edit.log_number = Some(7);
    edit.policy = Some(PolicyParams::tiering(4).unwrap());
    edit.merge_operator_name = Some("seerdb.u64_add".to_owned());
    let expected = set.log_and_apply(edit).unwrap();
    let next = set.new_file_number();
    drop(set);

    let (set, report) = open(&fs);
    assert!(!report.created);
    assert_eq!(report.edits_replayed, 4);
    assert_eq!(*set.current(), *expected);
    assert_eq!(set.log_number(), 7);
    assert_eq!(set.last_seq(), b * 10);
    assert_eq!(set.policy(), PolicyParams::tiering(4).unwrap());
    assert_eq!(set.merge_operator_name().as_deref(), Some("seerdb.u64_add"));
    assert!(set.new_file_number() > next.max(101));
    assert_eq!(
        report.removed_manifests.len(),
        1,
        "the old manifest is replaced"
    );
    assert!(report.orphan_table_files.is_empty());
}

#[test]
fn a_table_is_obsolete_only_when_no_version_holds_it() {
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    flush(&set, 10);
    flush(&set, 11);
    let pinned = set.current();
    let mut edit = VersionEdit::new();
    edit.remove_table(0, 10);
    set.log_and_apply(edit).unwrap();
    // A trivial move re-adds the table elsewhere: never obsolete.
    let mut moved = VersionEdit::new();
    moved
        .remove_table(0, 11)
        .add_table(1, 12, table(11, "a", "z"));
    set.log_and_apply(moved).unwrap();
    assert!(
        set.obsolete_table_files().is_empty(),
        "a reader pins table 10"
    );
    drop(pinned);
    assert_eq!(set.obsolete_table_files(), vec![10]);
    assert!(set.obsolete_table_files().is_empty(), "reported once");
    // A refused edit changes nothing and is not logged.
    let mut bad = VersionEdit::new();
    bad.remove_table(3, 99);
    assert!(matches!(set.log_and_apply(bad), Err(Error::Edit(_))));
    assert_eq!(
        set.current()
            .live_file_numbers()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![11]
    );
}

#[test]
fn orphan_tables_and_temp_files_are_reported_at_open() {
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    flush(&set, 20);
    drop(set);
    for (kind, number) in [
        (FileKind::Table, 20),
        (FileKind::Table, 21),
        (FileKind::Temp, 22),
    ] {
        let mut file = fs.create(&dir().join(file_name(kind, number))).unwrap();
        file.append(b"x").unwrap();
        file.sync_all().unwrap();
    }
    let (set, report) = open(&fs);
    assert_eq!(report.orphan_table_files, vec![21]);
    assert_eq!(report.orphan_temp_files, vec![22]);
    assert!(set.new_file_number() > 22);
    set.remove_table_files(&report.orphan_table_files).unwrap();
    assert!(!fs
        .exists(&dir().join(file_name(FileKind::Table, 21)))
        .unwrap());
}

#[test]
fn a_long_manifest_is_rewritten_as_a_snapshot() {
    let fs = FaultFileSystem::new();
    let small = VersionSetOptions {
        max_manifest_bytes: 400,
        ..options()
    };
    let (set, _) = VersionSet::open(fs.shared(), &dir(), small.clone()).unwrap();
    let first_manifest = set.manifest_number();
    for n in 0..20 {
        flush(&set, 100 + n);
    }
    assert_ne!(set.manifest_number(), first_manifest);
    assert!(!fs
        .exists(&dir().join(file_name(FileKind::Manifest, first_manifest)))
        .unwrap());
    let manifests = fs
        .list_dir(&dir())
        .unwrap()
        .into_iter()
        .filter(|name| name.starts_with("MANIFEST-"))
        .count();
    assert_eq!(manifests, 1);
    let expected = set.current();
    drop(set);
    let (set, report) = VersionSet::open(fs.shared(), &dir(), small).unwrap();
    assert_eq!(*set.current(), *expected);
    assert!(report.edits_replayed < 20);
}

/// Copies the live files of a database into a fresh file system, with the
/// manifest cut to `manifest_len` bytes.
fn copy_with_cut_manifest(
    fs: &FaultFileSystem,
    manifest: &Path,
    manifest_len: usize,
) -> FaultFileSystem {
    let copy = FaultFileSystem::new();
    copy.create_dir_all(&dir()).unwrap();
    for path in [dir().join(CURRENT_FILE_NAME), manifest.to_path_buf()] {
        let mut bytes = fs.read(&path).unwrap();
        if path == manifest {
            bytes.truncate(manifest_len);
        }
        let mut file = copy.create(&path).unwrap();
        file.append(&bytes).unwrap();
        file.sync_all().unwrap();
    }
    copy.sync_dir(&dir()).unwrap();
    copy
}

/// The byte offsets of the frames (edits) of `manifest`.
fn frame_offsets(fs: &FaultFileSystem, manifest: &Path) -> Vec<u64> {
    let mut reader = LogReader::open(
        fs,
        manifest,
        LogKind::Manifest,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    std::iter::from_fn(|| reader.next_frame().unwrap().map(|f| f.offset)).collect()
}

#[test]
fn a_manifest_cut_anywhere_in_its_last_edit_recovers_the_previous_version() {
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    flush(&set, 30);
    let before = set.current();
    let mut last = VersionEdit::new();
    last.remove_table(0, 30)
        .add_table(1, 31, table(31, "a", "m"))
        .add_table(1, 31, table(32, "n", "z"));
    let after = set.log_and_apply(last).unwrap();
    let manifest = manifest_path(&set);
    drop(set);

    let bytes = fs.read(&manifest).unwrap();
    let last_offset = *frame_offsets(&fs, &manifest).last().unwrap() as usize;
    assert!(
        bytes.len() - last_offset > 60,
        "the last edit spans many bytes"
    );
    for cut in last_offset..=bytes.len() {
        let copy = copy_with_cut_manifest(&fs, &manifest, cut);
        let (set, report) = VersionSet::open(copy.shared(), &dir(), options()).unwrap();
        if cut == bytes.len() {
            assert_eq!(*set.current(), *after);
            assert_eq!(report.dropped_tail_bytes, 0);
        } else {
            assert_eq!(*set.current(), *before, "cut at {cut}");
            assert_eq!(report.dropped_tail_bytes, (cut - last_offset) as u64);
        }
    }
}

#[test]
fn a_corrupted_middle_is_an_error_naming_file_and_offset() {
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    for n in 40..44 {
        flush(&set, n);
    }
    let manifest = manifest_path(&set);
    drop(set);
    let mut bytes = fs.read(&manifest).unwrap();
    let offsets = frame_offsets(&fs, &manifest);
    let target = offsets[2] as usize + 14;
    bytes[target] ^= 0x40;
    let mut file = fs.create(&manifest).unwrap();
    file.append(&bytes).unwrap();
    file.sync_all().unwrap();
    let error = VersionSet::open(fs.shared(), &dir(), options()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("MANIFEST-") && text.contains(&offsets[2].to_string()),
        "{text}"
    );
}

#[test]
fn a_failed_manifest_write_poisons_the_set_and_loses_nothing_committed() {
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    flush(&set, 50);
    let committed = set.current();
    fs.arm(Fault::FailSync { nth: 1 });
    let mut edit = VersionEdit::new();
    edit.add_table(0, 51, table(51, "a", "z"));
    assert!(set.log_and_apply(edit.clone()).is_err());
    assert_eq!(*set.current(), *committed, "the failed edit is not current");
    assert!(matches!(set.log_and_apply(edit), Err(Error::Poisoned(_))));
    drop(set);
    fs.power_loss(PowerLossMode::DropUnsynced);
    let (set, _) = open(&fs);
    assert_eq!(*set.current(), *committed);
}

#[test]
fn power_loss_after_a_failed_manifest_rewrite_keeps_one_whole_version() {
    let faults = [
        Fault::FailRename { nth: 1 },
        Fault::FailDirSync { nth: 1 },
        Fault::FailDirSync { nth: 2 },
        Fault::FailSync { nth: 4 },
    ];
    for fault in faults {
        for seed in 0..4u64 {
            let fs = FaultFileSystem::new();
            let small = VersionSetOptions {
                max_manifest_bytes: 300,
                ..options()
            };
            let (set, _) = VersionSet::open(fs.shared(), &dir(), small.clone()).unwrap();
            let mut committed = set.current();
            fs.arm(fault);
            let mut failed = None;
            for n in 0..50 {
                let mut edit = VersionEdit::new();
                edit.add_table(0, 60 + n, table(60 + n, "a", "z"));
                match set.log_and_apply(edit.clone()) {
                    Ok(version) => committed = version,
                    Err(_) => {
                        failed = Some(committed.apply(&edit).unwrap());
                        break;
                    }
                }
            }
            let failed = failed.expect("the armed fault fires during a rewrite");
            drop(set);
            fs.disarm_all();
            fs.power_loss(PowerLossMode::KeepRandomPrefix { seed });
            let (set, _) = VersionSet::open(fs.shared(), &dir(), small).unwrap();
            let recovered = set.current();
            assert!(
                *recovered == *committed || *recovered == failed,
                "{fault:?} seed {seed}: recovered {recovered:?}"
            );
            if matches!(fault, Fault::FailRename { .. }) {
                assert_eq!(
                    *recovered, *committed,
                    "CURRENT still names the old manifest"
                );
            }
        }
    }
}

/// The fault-injecting file system, with removals of manifests failing
/// while `fail_manifest_removals` is set.
fn failing_manifest_removals(fail_manifest_removals: &Arc<AtomicBool>) -> ForwardingFs {
    let fail = Arc::clone(fail_manifest_removals);
    ForwardingFs::new(FaultFileSystem::new().shared()).on_remove_file(move |path, inner| {
        let manifest = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("MANIFEST-"));
        if manifest && fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected removal failure"));
        }
        inner.remove_file(path)
    })
}

fn manifest_count(fs: &dyn FileSystem) -> usize {
    fs.list_dir(&dir())
        .unwrap()
        .into_iter()
        .filter(|name| name.starts_with("MANIFEST-"))
        .count()
}

/// Issue 11, defect 14: the old manifest's removal after a rollover is
/// housekeeping. Its failure leaves the set writable (the edit is durable)
/// and the next open removes the stale manifest.
#[test]
fn a_failed_removal_of_the_old_manifest_keeps_the_set_writable() {
    let fail_manifest_removals = Arc::new(AtomicBool::new(true));
    let fs = Arc::new(failing_manifest_removals(&fail_manifest_removals));
    let small = VersionSetOptions {
        max_manifest_bytes: 400,
        ..options()
    };
    let (set, _) = VersionSet::open(fs.clone(), &dir(), small.clone()).unwrap();
    let first_manifest = set.manifest_number();
    for n in 0..20 {
        flush(&set, 100 + n);
    }
    assert_ne!(
        set.manifest_number(),
        first_manifest,
        "the manifest rolled over"
    );
    assert!(
        manifest_count(fs.as_ref()) > 1,
        "the old manifests are still there"
    );
    let expected = set.current();
    drop(set);
    fail_manifest_removals.store(false, Ordering::SeqCst);
    let (set, report) = VersionSet::open(fs.clone(), &dir(), small).unwrap();
    assert_eq!(*set.current(), *expected);
    assert!(report.removed_manifests.len() > 1);
    assert_eq!(manifest_count(fs.as_ref()), 1);
}

/// Issue 11, defect 18: a `CURRENT` naming a manifest that is gone is a
/// typed error naming `CURRENT` and the manifest, not a bare `NotFound`.
#[test]
fn a_current_naming_a_missing_manifest_is_not_a_database() {
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    let manifest = manifest_path(&set);
    drop(set);
    fs.remove_file(&manifest).unwrap();
    match VersionSet::open(fs.shared(), &dir(), options()) {
        Err(Error::NotADatabase { file, reason }) => {
            assert_eq!(file, dir().join(CURRENT_FILE_NAME));
            assert!(reason.contains(&manifest.display().to_string()), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// The invariant checker guards every installed and recovered version: an
/// edit putting newer data below older data is refused (nothing logged, the
/// set stays usable), and a manifest holding such a version does not open.
#[test]
fn a_version_breaking_the_invariants_is_neither_installed_nor_recovered() {
    if !seer_compaction::INVARIANT_CHECKS {
        return;
    }
    let fs = FaultFileSystem::new();
    let (set, _) = open(&fs);
    flush(&set, 5);
    let before = set.current();
    let mut bad = VersionEdit::new();
    bad.add_table(2, 9, table(9, "a", "z"));
    match set.log_and_apply(bad.clone()) {
        Err(Error::Invariant(seer_compaction::InvariantViolation::NewerBelowOlder {
            earlier_level: 0,
            later_level: 2,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(*set.current(), *before);
    flush(&set, 10);
    drop(set);
    let (set, _) = open(&fs);
    assert_eq!(set.current().levels()[2].runs().len(), 0);
    // A manifest written around the checker.
    let manifest_number = set.new_file_number();
    let temp_number = set.new_file_number();
    let mut snapshot = set.current().snapshot_edit();
    snapshot.added_tables.extend(bad.added_tables);
    drop(set);
    seer_compaction::manifest::ManifestWriter::create(&fs, &dir(), manifest_number, &snapshot)
        .unwrap();
    seer_compaction::manifest::set_current(&fs, &dir(), manifest_number, temp_number).unwrap();
    assert!(matches!(
        VersionSet::open(fs.shared(), &dir(), options()),
        Err(Error::Invariant(_))
    ));
}

/// The keyspace registry survives a reopen and a manifest rewrite; a
/// dropped keyspace's id is never handed out again (a WAL record of the
/// dropped keyspace must not replay into a new one), and a second keyspace
/// of a live name or id is refused without changing anything.
#[test]
fn the_keyspace_registry_survives_reopen_and_rewrite_and_never_reuses_an_id() {
    let fs = FaultFileSystem::new();
    let small = VersionSetOptions {
        max_manifest_bytes: 400,
        ..options()
    };
    let (set, _) = VersionSet::open(fs.shared(), &dir(), small.clone()).unwrap();
    assert_eq!(set.next_keyspace_id(), 1);
    let create = |id: u32, name: &str| VersionEdit {
        created_keyspaces: vec![(id, name.to_owned())],
        next_keyspace_id: Some(id + 1),
        ..VersionEdit::default()
    };
    set.log_and_apply(create(1, "log")).unwrap();
    set.log_and_apply(create(2, "state")).unwrap();
    assert!(matches!(
        set.log_and_apply(create(3, "log")),
        Err(Error::Edit(_))
    ));
    assert!(matches!(
        set.log_and_apply(create(0, "zero")),
        Err(Error::Edit(_))
    ));
    set.log_and_apply(VersionEdit {
        dropped_keyspaces: vec![2],
        ..VersionEdit::default()
    })
    .unwrap();
    let first_manifest = set.manifest_number();
    for n in 0..20 {
        flush(&set, 100 + n);
    }
    assert_ne!(set.manifest_number(), first_manifest, "rewritten");
    drop(set);
    let (set, _) = VersionSet::open(fs.shared(), &dir(), small).unwrap();
    let names: Vec<(u32, String)> = set.keyspaces().into_iter().collect();
    assert_eq!(names, vec![(1, "log".to_owned())]);
    assert_eq!(set.next_keyspace_id(), 3);
}
