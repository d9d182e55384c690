//! Checkpoints: taken while a writer writes and compactions run, they read
//! as a snapshot at their sequence number; tables are linked, or copied
//! across file systems and when asked; tables a compaction removes while a
//! checkpoint links them stay; an existing target is refused; a crash or
//! power loss at any step leaves the target absent or complete, and the
//! staging directory refused or complete.
#![allow(clippy::unwrap_used)]

mod copy_support;

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use copy_support::{
    busy_options, check_keyspaced_copy, contents, entries, hooked, keyspaced_db, reopen,
    wait_for_batches, write_across_keyspaces, Countdown, Cut,
};
use seer_core::fault::{FaultFileSystem, PowerSwitch};
use seer_core::{RealFileSystem, SeqNo};
use seer_db::{CheckpointOptions, DBOptions, Error, WriteOptions, DB};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The writes of the writer thread, each with its sequence number (`None`:
/// a delete).
type History = Vec<(SeqNo, Vec<u8>, Option<Vec<u8>>)>;

/// The state after every write with a sequence number up to `seq`.
fn model_at(history: &History, seq: SeqNo) -> Model {
    let mut model = Model::new();
    for (write_seq, key, value) in history {
        if *write_seq > seq {
            continue;
        }
        match value {
            Some(value) => model.insert(key.clone(), value.clone()),
            None => model.remove(key),
        };
    }
    model
}

fn write_until(db: &DB, stop: &AtomicBool) -> History {
    let mut history = History::new();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) || i < 2000 {
        let key = format!("key{:04}", (i * 7919) % 1500).into_bytes();
        if i % 5 == 4 {
            let mut batch = db.batch();
            batch.delete(&key);
            let seq = db.write(batch, WriteOptions::default()).unwrap();
            history.push((seq, key, None));
        } else {
            let value = format!("value-{i}-{}", "x".repeat((i % 64) as usize)).into_bytes();
            let seq = db.put_opt(&key, &value, WriteOptions::default()).unwrap();
            history.push((seq, key, Some(value)));
        }
        i += 1;
    }
    history
}

#[test]
fn a_checkpoint_taken_while_writes_and_compactions_run_reads_as_its_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = busy_options().open(dir.path().join("db")).unwrap();
    let stop = AtomicBool::new(false);
    let (history, reports) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_until(&db, &stop));
        let mut reports = Vec::new();
        for round in 0..4 {
            let path = dir.path().join(format!("checkpoint{round}"));
            let report = db
                .checkpoint_with(&path, CheckpointOptions::default())
                .unwrap();
            reports.push((path, report));
        }
        stop.store(true, Ordering::SeqCst);
        (writer.join().unwrap(), reports)
    });
    assert!(db.metrics().compaction_count > 0, "compactions ran");
    for (path, report) in &reports {
        let checkpoint = DBOptions::default().open(path).unwrap();
        assert!(
            contents(&checkpoint) == model_at(&history, report.seq),
            "{} at seq {}",
            path.display(),
            report.seq
        );
        assert_eq!(report.tables_copied_count, 0);
        checkpoint.close().unwrap();
    }
    assert!(reports
        .iter()
        .any(|(_, report)| report.tables_linked_count > 0));
    // The source goes on unaffected.
    assert!(contents(&db) == model_at(&history, SeqNo::MAX));
}

/// Table files of `dir`, by name.
fn tables(dir: &Path) -> BTreeMap<String, std::fs::Metadata> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".sst"))
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.metadata().unwrap(),
            )
        })
        .collect()
}

fn fill(db: &DB, rounds: usize) {
    for round in 0..rounds {
        for i in 0..300 {
            db.put(format!("k{i:04}"), format!("v{round}-{i}")).unwrap();
        }
        db.flush().unwrap();
    }
}

#[test]
fn a_checkpoint_links_its_tables_and_copies_them_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default().open(dir.path().join("db")).unwrap();
    fill(&db, 2);
    db.put("unflushed", "in the memtable").unwrap();
    let linked = dir.path().join("linked");
    let report = db
        .checkpoint_with(&linked, CheckpointOptions::default())
        .unwrap();
    assert_eq!(report.seq, db.visible_seq(), "the checkpoint flushed first");
    let copied = dir.path().join("copied");
    let copy_report = db
        .checkpoint_with(&copied, CheckpointOptions::default().copy_tables(true))
        .unwrap();
    let source = tables(&dir.path().join("db"));
    let linked_tables = tables(&linked);
    assert_eq!(report.tables_linked_count, linked_tables.len());
    for (name, meta) in &linked_tables {
        assert_eq!(meta.ino(), source[name].ino(), "{name} is a link");
    }
    let copied_tables = tables(&copied);
    assert_eq!(copy_report.tables_linked_count, 0);
    assert_eq!(copy_report.tables_copied_count, copied_tables.len());
    let copied_bytes: u64 = copied_tables.values().map(|meta| meta.len()).sum();
    assert_eq!(copy_report.copied_bytes, copied_bytes);
    for (name, meta) in &copied_tables {
        assert_ne!(meta.ino(), source[name].ino(), "{name} is a copy");
    }
    // No WAL: everything is in the tables.
    for path in [&linked, &copied] {
        let names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|name| !name.ends_with(".wal")),
            "{names:?}"
        );
        let checkpoint = DB::open(path).unwrap();
        assert_eq!(contents(&checkpoint), contents(&db));
        checkpoint.close().unwrap();
    }
}

#[test]
fn a_checkpoint_across_file_systems_copies_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let cross_device = hooked(
        RealFileSystem::shared(),
        Arc::new(|call, _| match call {
            "hard_link" => Err(io::Error::from(io::ErrorKind::CrossesDevices)),
            _ => Ok(()),
        }),
    );
    let db = DBOptions::default()
        .file_system(cross_device)
        .open(dir.path().join("db"))
        .unwrap();
    fill(&db, 2);
    let path = dir.path().join("checkpoint");
    let report = db
        .checkpoint_with(&path, CheckpointOptions::default())
        .unwrap();
    assert_eq!(report.tables_linked_count, 0);
    assert_eq!(report.tables_copied_count, tables(&path).len());
    assert!(report.tables_copied_count > 0);
    let checkpoint = DB::open(&path).unwrap();
    assert_eq!(contents(&checkpoint), contents(&db));
}

#[test]
fn tables_a_compaction_removes_while_a_checkpoint_links_them_stay_until_linked() {
    let dir = tempfile::tempdir().unwrap();
    let db_slot: Arc<Mutex<Option<DB>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&db_slot);
    // At the checkpoint's first link, compact everything: the inputs leave
    // the tree, and their files must stay until the checkpoint has them.
    let compact_at_first_link = hooked(
        RealFileSystem::shared(),
        Arc::new(move |call, _| {
            if call == "hard_link" {
                if let Some(db) = slot.lock().unwrap().take() {
                    db.compact_range::<&[u8]>(..).unwrap();
                }
            }
            Ok(())
        }),
    );
    let db = DBOptions::default()
        .file_system(compact_at_first_link)
        .open(dir.path().join("db"))
        .unwrap();
    fill(&db, 3);
    let before: Vec<String> = tables(&dir.path().join("db")).into_keys().collect();
    assert!(before.len() >= 3, "three flushes, three runs: {before:?}");
    *db_slot.lock().unwrap() = Some(db.clone());
    let path = dir.path().join("checkpoint");
    db.checkpoint(&path).unwrap();
    let expected = contents(&db);
    assert!(db_slot.lock().unwrap().is_none(), "the hook compacted");
    let linked: Vec<String> = tables(&path).into_keys().collect();
    assert_eq!(linked, before, "the checkpoint holds the tables it pinned");
    // The next flush deletes the inputs the checkpoint no longer holds.
    db.put("another", "flush").unwrap();
    db.flush().unwrap();
    let after = tables(&dir.path().join("db"));
    assert!(
        linked.iter().all(|name| !after.contains_key(name)),
        "the compaction replaced them in the source: {after:?}"
    );
    let checkpoint = DB::open(&path).unwrap();
    assert!(contents(&checkpoint) == expected);
}

#[test]
fn a_checkpoint_onto_an_existing_path_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default().open(dir.path().join("db")).unwrap();
    fill(&db, 1);
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("notes.txt"), "mine").unwrap();
    match db.checkpoint(&existing) {
        Err(Error::TargetExists { path }) => assert_eq!(path, existing),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(existing.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&existing).unwrap().count(), 1);
    // A staging directory holding someone else's file is not deleted.
    let target = dir.path().join("target");
    let staging = dir.path().join("target.seer-staging");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("notes.txt"), "mine").unwrap();
    match db.checkpoint(&target) {
        Err(Error::TargetExists { path }) => assert_eq!(path, staging),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(staging.join("notes.txt")).unwrap(), b"mine");
    assert!(!target.exists());
}

/// A checkpoint of a database with named keyspaces holds every keyspace
/// as of its one sequence number: batches spanning the default keyspace
/// and two named ones, written while it is taken, are in all three or in
/// none; a keyspace only recovered in the handle is there too, a dropped
/// one is not.
#[test]
fn a_checkpoint_of_a_database_with_keyspaces_holds_each_cross_keyspace_batch_in_all_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_owned();
    let source = keyspaced_db(busy_options(), &format!("{root}/db"));
    let stop = AtomicBool::new(false);
    let written = std::sync::atomic::AtomicU64::new(0);
    let (history, reports) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_across_keyspaces(&source, &stop, &written, 1500));
        let mut reports = Vec::new();
        for round in 0..3 {
            let path = dir.path().join(format!("checkpoint{round}"));
            wait_for_batches(&written, (round + 1) * 300);
            // Unwrapped once the writer stopped (a panic here would leave
            // it writing forever).
            let report = source
                .db
                .checkpoint_with(&path, CheckpointOptions::default());
            reports.push((path, report));
        }
        stop.store(true, Ordering::SeqCst);
        (writer.join().unwrap(), reports)
    });
    for (path, report) in &reports {
        let report = report.as_ref().unwrap();
        let checkpoint = DBOptions::default().open(path).unwrap();
        check_keyspaced_copy(&checkpoint, &history, report.seq, &source.idle);
        checkpoint.close().unwrap();
    }
}

/// What the crashes during a checkpoint left: the target complete or
/// absent; the staging directory empty, refused or complete.
#[derive(Debug, Default)]
struct Outcomes {
    target_complete: usize,
    target_absent: usize,
    staging_empty: usize,
    staging_refused: usize,
    staging_complete: usize,
}

/// The default keyspace's entries and keyspace `ks`'s.
fn contents_with_keyspace(db: &DB) -> (Model, Model) {
    (contents(db), entries(db.keyspace("ks").unwrap().iter()))
}

/// Cuts the power (or crashes) before the `nth` changing call of a
/// checkpoint into `/ckpt`; checks what is left; returns `false` once the
/// checkpoint made fewer calls than `nth` (it finished).
fn crash_checkpoint_at(nth: u64, cut: Cut, outcomes: &mut Outcomes) -> bool {
    let fs = FaultFileSystem::new();
    let switch = PowerSwitch::new(&fs);
    let countdown = Countdown::new(Arc::clone(&switch), &["/ckpt"], &["/"], cut);
    let file_system = hooked(switch, countdown.hook());
    let db = busy_options()
        .file_system(Arc::clone(&file_system))
        .open("/db")
        .unwrap();
    let keyspace = db.keyspace("ks").unwrap();
    for i in 0..400 {
        db.put(format!("k{i:04}"), format!("value {i}")).unwrap();
        keyspace
            .put(format!("q{i:04}"), format!("queued {i}"))
            .unwrap();
    }
    // The same tree at every `nth`: with background flushes and
    // compactions still running, the checkpoint would link a different
    // number of tables from one `nth` to the next, and a cut meant for
    // its last steps could land in a shorter checkpoint that already
    // finished.
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    keyspace.compact_range::<&[u8]>(..).unwrap();
    drop(keyspace);
    db.close().unwrap();
    let db = busy_options().file_system(file_system).open("/db").unwrap();
    let expected = contents_with_keyspace(&db);
    countdown.arm(nth);
    let result = db.checkpoint("/ckpt");
    drop(db);
    if !countdown.fired() {
        result.unwrap();
        assert_eq!(
            contents_with_keyspace(&reopen(&fs, "/ckpt").unwrap()),
            expected
        );
        return false;
    }
    assert!(result.is_err(), "a cut checkpoint reported success");
    let exists = |path: &str| seer_core::FileSystem::exists(&fs, Path::new(path)).unwrap();
    if exists("/ckpt") {
        assert_eq!(
            contents_with_keyspace(&reopen(&fs, "/ckpt").unwrap()),
            expected,
            "step {nth}"
        );
        outcomes.target_complete += 1;
    } else {
        outcomes.target_absent += 1;
    }
    let staging_names = seer_core::FileSystem::list_dir(&fs, Path::new("/ckpt.seer-staging"));
    if staging_names.is_ok_and(|names| names.is_empty()) {
        // Cut before the marker was created: nothing was copied.
        outcomes.staging_empty += 1;
    } else if exists("/ckpt.seer-staging") {
        match reopen(&fs, "/ckpt.seer-staging") {
            Ok(staged) => {
                assert_eq!(contents_with_keyspace(&staged), expected, "step {nth}");
                outcomes.staging_complete += 1;
            }
            Err(Error::IncompleteCopy { path }) => {
                assert_eq!(path, Path::new("/ckpt.seer-staging"));
                outcomes.staging_refused += 1;
            }
            Err(other) => panic!("step {nth} {cut:?}: {other:?}"),
        }
    }
    // The source recovers, and a new checkpoint replaces the leftovers.
    let db = reopen(&fs, "/db").unwrap();
    assert_eq!(
        contents_with_keyspace(&db),
        expected,
        "the source lost nothing flushed"
    );
    if !exists("/ckpt") {
        db.checkpoint("/ckpt").unwrap();
        assert!(!exists("/ckpt.seer-staging"));
        db.close().unwrap();
        assert_eq!(
            contents_with_keyspace(&reopen(&fs, "/ckpt").unwrap()),
            expected
        );
    }
    true
}

#[test]
fn a_crash_at_any_step_of_a_checkpoint_leaves_it_complete_or_refused() {
    for cut in Cut::ALL {
        let mut outcomes = Outcomes::default();
        let mut nth = 1;
        while crash_checkpoint_at(nth, cut, &mut outcomes) {
            nth += 1;
            assert!(nth < 500, "the checkpoint never finished");
        }
        eprintln!("{cut:?}: {} steps, {outcomes:?}", nth - 1);
        assert!(
            outcomes.staging_refused > 0 && outcomes.target_complete > 0,
            "{outcomes:?}"
        );
    }
}

#[test]
fn a_read_only_open_refuses_to_checkpoint_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default().open(dir.path().join("db")).unwrap();
    fill(&db, 1);
    let reader = DB::open_read_only(dir.path().join("db")).unwrap();
    let path = dir.path().join("checkpoint");
    assert!(matches!(
        reader.checkpoint(&path),
        Err(Error::OpenedReadOnly)
    ));
    assert!(!path.exists());
    assert!(!dir.path().join("checkpoint.seer-staging").exists());
}
