//! Incremental backups: several backups share their tables (the bytes a
//! backup writes are its new files only), each restores to the state it
//! was taken at, purging keeps what the kept backups share, verify names a
//! damaged file, and a backup interrupted by a crash or power loss at any
//! step is ignored and cleaned up by the next open.
#![allow(clippy::unwrap_used)]

mod copy_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use copy_support::{
    busy_options, check_keyspaced_copy, contents, entries, hooked, keyspaced_db, reopen,
    wait_for_batches, write_across_keyspaces, Countdown, Cut,
};
use seer_core::fault::{FaultFileSystem, PowerSwitch};
use seer_core::{Corruption, FileSystem};
use seer_db::{BackupEngine, BackupId, DBOptions, Error, DB};

type Contents = BTreeMap<Vec<u8>, Vec<u8>>;

fn write_round(db: &DB, round: usize) {
    for i in 0..200 {
        db.put(format!("r{round}-k{i:04}"), format!("value {round} {i}"))
            .unwrap();
    }
    if round > 0 {
        db.delete(format!("r{}-k0000", round - 1)).unwrap();
    }
}

/// Every file of `fs` with its size.
fn file_sizes(fs: &FaultFileSystem) -> BTreeMap<PathBuf, u64> {
    fs.list_files()
        .into_iter()
        .map(|path| {
            let size = fs.file_size(&path).unwrap();
            (path, size)
        })
        .collect()
}

fn restore_and_read(
    fs: &FaultFileSystem,
    engine: &BackupEngine,
    id: BackupId,
    target: &str,
) -> Contents {
    engine.restore(id, target).unwrap();
    let db = reopen(fs, target).unwrap();
    let read = contents(&db);
    db.close().unwrap();
    read
}

#[test]
fn backups_share_their_tables_and_each_restores_to_its_state() {
    let dir = tempfile::tempdir().unwrap();
    // Default options: each backup's flush adds a level-0 table and
    // nothing compacts the earlier ones away, so they are shared.
    let db = DBOptions::default().open(dir.path()).unwrap();
    let backup_fs = FaultFileSystem::new();
    let mut engine = BackupEngine::open_with(backup_fs.shared(), Path::new("/backups")).unwrap();
    let mut states: Vec<(BackupId, Contents)> = Vec::new();
    for round in 0..3 {
        write_round(&db, round);
        let before = file_sizes(&backup_fs);
        let written_before = backup_fs.stats().bytes_written;
        let id = engine.create_backup(&db).unwrap();
        let written_bytes = backup_fs.stats().bytes_written - written_before;
        let after = file_sizes(&backup_fs);
        // Only new files were written, each once: shared tables are not
        // copied again.
        let new_bytes: u64 = after
            .iter()
            .filter(|(path, _)| !before.contains_key(*path))
            .map(|(_, size)| size)
            .sum();
        let shared_bytes: u64 = after
            .iter()
            .filter(|(path, _)| path.starts_with("/backups/shared"))
            .map(|(_, size)| size)
            .sum();
        assert_eq!(written_bytes, new_bytes, "round {round}");
        if round > 0 {
            let info = engine.list().pop().unwrap();
            assert!(
                written_bytes < info.size_bytes && info.size_bytes <= shared_bytes + written_bytes,
                "round {round}: wrote {written_bytes} of a {} byte backup",
                info.size_bytes
            );
        }
        states.push((id, contents(&db)));
    }
    let listed = engine.list();
    assert_eq!(
        listed.iter().map(|info| info.id).collect::<Vec<_>>(),
        states.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    assert!(listed.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(listed.last().unwrap().seq, db.visible_seq());
    for (index, (id, state)) in states.iter().enumerate() {
        engine.verify(*id).unwrap();
        let target = format!("/restore{index}");
        assert!(
            restore_and_read(&backup_fs, &engine, *id, &target) == *state,
            "backup {id}"
        );
    }
    // Restoring onto an existing directory is refused.
    assert!(matches!(
        engine.restore(states[0].0, "/restore0"),
        Err(Error::TargetExists { .. })
    ));
    // Purging keeps the newest backup and every table it shares.
    let purged = engine.purge_old(1).unwrap();
    assert_eq!(purged, vec![states[0].0, states[1].0]);
    drop(engine);
    let engine = BackupEngine::open_with(backup_fs.shared(), Path::new("/backups")).unwrap();
    assert_eq!(engine.list().len(), 1);
    engine.verify(states[2].0).unwrap();
    assert!(matches!(
        engine.verify(states[0].0),
        Err(Error::BackupNotFound { id, .. }) if id == states[0].0 .0
    ));
    let kept_bytes: u64 = file_sizes(&backup_fs)
        .iter()
        .filter(|(path, _)| {
            path.starts_with("/backups/shared") || path.starts_with("/backups/private")
        })
        .map(|(_, size)| size)
        .sum();
    assert_eq!(
        kept_bytes,
        engine.list()[0].size_bytes,
        "only the kept backup's files are left"
    );
    assert!(
        restore_and_read(&backup_fs, &engine, states[2].0, "/restore-after-purge") == states[2].1
    );
}

/// Rewrites `path` of `fs` with byte `offset` flipped.
/// A backup of a database with named keyspaces restores every keyspace
/// as of its one sequence number: batches spanning the default keyspace
/// and two named ones, written while it is taken, are in all three or in
/// none; a keyspace only recovered in the handle is there too, a dropped
/// one is not.
#[test]
fn a_backup_of_a_database_with_keyspaces_restores_each_cross_keyspace_batch_in_all_or_none() {
    let fs = FaultFileSystem::new();
    let options = busy_options().file_system(PowerSwitch::new(&fs));
    let source = keyspaced_db(options, "/db");
    let mut engine = BackupEngine::open_with(PowerSwitch::new(&fs), Path::new("/backups")).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let written = std::sync::atomic::AtomicU64::new(0);
    let (history, ids) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_across_keyspaces(&source, &stop, &written, 1500));
        // Unwrapped once the writer stopped (a panic here would leave it
        // writing forever).
        let ids: Vec<_> = (1..=3)
            .map(|round| {
                wait_for_batches(&written, round * 300);
                engine.create_backup(&source.db)
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (writer.join().unwrap(), ids)
    });
    let ids: Vec<BackupId> = ids.into_iter().map(Result::unwrap).collect();
    let listed = engine.list();
    for (index, id) in ids.iter().enumerate() {
        engine.verify(*id).unwrap();
        let target = format!("/restore{index}");
        engine.restore(*id, &target).unwrap();
        let restored = reopen(&fs, &target).unwrap();
        check_keyspaced_copy(&restored, &history, listed[index].seq, &source.idle);
        restored.close().unwrap();
    }
    // Purging the older backups keeps what the newest one needs.
    engine.purge_old(1).unwrap();
    engine.restore(ids[2], "/restore-after-purge").unwrap();
    let restored = reopen(&fs, "/restore-after-purge").unwrap();
    check_keyspaced_copy(&restored, &history, listed[2].seq, &source.idle);
}

fn flip_byte(fs: &FaultFileSystem, path: &Path, offset: usize) {
    let mut bytes = fs.file_content(path).unwrap();
    bytes[offset] ^= 0x01;
    let mut file = fs.create(path).unwrap();
    file.append(&bytes).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn verify_and_restore_name_the_file_a_flipped_byte_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default().open(dir.path()).unwrap();
    write_round(&db, 0);
    let backup_fs = FaultFileSystem::new();
    let mut engine = BackupEngine::open_with(backup_fs.shared(), Path::new("/backups")).unwrap();
    let id = engine.create_backup(&db).unwrap();
    engine.verify(id).unwrap();
    let table = backup_fs
        .list_files()
        .into_iter()
        .find(|path| path.starts_with("/backups/shared"))
        .unwrap();
    flip_byte(&backup_fs, &table, 100);
    match engine.verify(id) {
        Err(Error::Corruption(Corruption { file, .. })) => assert_eq!(file, table),
        other => panic!("{other:?}"),
    }
    match engine.restore(id, "/restored") {
        Err(Error::Corruption(Corruption { file, .. })) => assert_eq!(file, table),
        other => panic!("{other:?}"),
    }
    assert!(!backup_fs.exists(Path::new("/restored")).unwrap());
    assert!(!backup_fs
        .exists(Path::new("/restored.seer-staging"))
        .unwrap());
    // A damaged metadata file fails the open, naming it.
    drop(engine);
    let meta = backup_fs
        .list_files()
        .into_iter()
        .find(|path| path.starts_with("/backups/meta"))
        .unwrap();
    flip_byte(&backup_fs, &meta, 20);
    match BackupEngine::open_with(backup_fs.shared(), Path::new("/backups")) {
        Err(Error::Corruption(Corruption { file, .. })) => assert_eq!(file, meta),
        other => panic!("{other:?}"),
    }
}

/// Cuts before the `nth` changing call of a second backup; checks that the
/// next open sees the first backup alone (and nothing of the second left)
/// or both, each verifying and restoring to its state. Returns `false`
/// once the backup finished before the cut.
fn crash_backup_at(nth: u64, cut: Cut) -> bool {
    let fs = FaultFileSystem::new();
    let switch = PowerSwitch::new(&fs);
    let countdown = Countdown::new(Arc::clone(&switch), &["/backups"], &[], cut);
    let hooked = hooked(switch, countdown.hook());
    let db = busy_options()
        .file_system(Arc::clone(&hooked))
        .open("/db")
        .unwrap();
    let keyspace = db.keyspace("ks").unwrap();
    let write_both = |round: usize| {
        write_round(&db, round);
        for i in 0..50 {
            keyspace
                .put(format!("q{round}-{i:03}"), format!("queued {i}"))
                .unwrap();
        }
    };
    let both = |db: &DB| (contents(db), entries(db.keyspace("ks").unwrap().iter()));
    write_both(0);
    let mut engine = BackupEngine::open_with(Arc::clone(&hooked), Path::new("/backups")).unwrap();
    let first = engine.create_backup(&db).unwrap();
    let first_state = both(&db);
    write_both(1);
    let second_state = both(&db);
    countdown.arm(nth);
    let result = engine.create_backup(&db);
    drop(engine);
    drop(keyspace);
    drop(db);
    let fired = countdown.fired();
    if !fired {
        result.unwrap();
    }
    let engine = BackupEngine::open_with(PowerSwitch::new(&fs), Path::new("/backups")).unwrap();
    let ids: Vec<BackupId> = engine.list().iter().map(|info| info.id).collect();
    let expected: Vec<(BackupId, &(Contents, Contents))> = match ids.len() {
        1 => {
            // Nothing of the interrupted backup is left.
            let listed_bytes = engine.list()[0].size_bytes;
            let stored_bytes: u64 = file_sizes(&fs)
                .iter()
                .filter(|(path, _)| {
                    path.starts_with("/backups/shared") || path.starts_with("/backups/private")
                })
                .map(|(_, size)| size)
                .sum();
            assert_eq!(stored_bytes, listed_bytes, "step {nth} {cut:?}: leftovers");
            assert!(fired);
            vec![(first, &first_state)]
        }
        2 => vec![(first, &first_state), (ids[1], &second_state)],
        _ => panic!("step {nth} {cut:?}: {ids:?}"),
    };
    for (index, (id, state)) in expected.iter().enumerate() {
        engine.verify(*id).unwrap();
        let target = format!("/restore{index}");
        engine.restore(*id, &target).unwrap();
        let restored = reopen(&fs, &target).unwrap();
        assert!(both(&restored) == **state, "step {nth} {cut:?}");
        restored.close().unwrap();
    }
    fired
}

#[test]
fn a_backup_interrupted_at_any_step_is_ignored_and_cleaned_up_by_the_next_open() {
    for cut in Cut::ALL {
        let mut nth = 1;
        while crash_backup_at(nth, cut) {
            nth += 1;
            assert!(nth < 500, "the backup never finished");
        }
        eprintln!("{cut:?}: {} steps", nth - 1);
    }
}
