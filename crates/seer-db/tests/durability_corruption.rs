//! Flipped bytes in WAL segments, tables and the manifest.
//!
//! A small database is built on `FaultFileSystem` (two flushed tables, a
//! manifest, synced writes still in the WAL), closed, and then, case by
//! case on a fresh copy, one bit of one file is flipped at a random offset
//! (and at the first and last byte). Opening and reading it must then give
//! either the right data or a typed `Error::Corruption` naming that file,
//! never a panic and never a wrong value; and when the database opens,
//! `DB::verify` must list the file as bad whenever it is live.
//!
//! `CURRENT` is left out here; its checksum is tested by `current_file.rs`.
//! `SEER_SEED=<n>` replays a seed; `SEER_ITERATIONS=<n>` sets their number.
#![allow(clippy::unwrap_used)]

mod durability_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use durability_support::{seeds, with_seed, Model, Rng, DB_DIR, MERGE_DELIMITER};
use seer_core::fault::FaultFileSystem;
use seer_core::FileSystem;
use seer_db::{DBOptions, Error, StringAppendOperator, SyncPolicy, WalRecoveryMode, DB};

/// How the flips were caught: at open, by a read, only by `verify`, or
/// not at all because the file was not live.
static AT_OPEN: AtomicU64 = AtomicU64::new(0);
static BY_READ: AtomicU64 = AtomicU64::new(0);
static BY_VERIFY: AtomicU64 = AtomicU64::new(0);
static NOT_LIVE: AtomicU64 = AtomicU64::new(0);

fn options(fs: &FaultFileSystem) -> DBOptions {
    DBOptions::default()
        .file_system(Arc::new(fs.clone()))
        .sync_policy(SyncPolicy::Always)
        .wal_recovery_mode(WalRecoveryMode::AbsoluteConsistency)
        .block_size(256)
        .block_cache_capacity(0)
        .merge_operator(StringAppendOperator::new(MERGE_DELIMITER))
}

/// Builds the database every case starts from; returns its contents.
fn build(fs: &FaultFileSystem) -> Model {
    build_flushing(fs, 2)
}

/// Three rounds of puts, the first `flushed_rounds` of them flushed, then
/// a merge and a delete, and a clean close.
fn build_flushing(fs: &FaultFileSystem, flushed_rounds: usize) -> Model {
    let db = options(fs).open(DB_DIR).unwrap();
    let mut model = Model::new();
    let mut put = |db: &DB, key: String, value: String| {
        db.put(&key, &value).unwrap();
        model.insert(key.into_bytes(), value.into_bytes());
    };
    for round in 0..3 {
        for i in 0..40 {
            put(
                &db,
                format!("key{i:03}"),
                format!("value-{round}-{i}-{}", "x".repeat(i % 17)),
            );
        }
        if round < flushed_rounds {
            db.flush().unwrap();
        }
    }
    db.merge(b"key001", b"m").unwrap();
    model
        .get_mut(&b"key001"[..])
        .unwrap()
        .extend_from_slice(b",m");
    db.delete(b"key002").unwrap();
    model.remove(&b"key002"[..]);
    db.close().unwrap();
    model
}

/// The files a flip may hit: WAL segments, tables and manifests.
fn target_files(fs: &FaultFileSystem) -> Vec<PathBuf> {
    fs.list_files()
        .into_iter()
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".wal") || name.ends_with(".sst") || name.starts_with("MANIFEST")
        })
        .collect()
}

/// Flips bit `bit` of byte `offset` of `path`, durably.
fn flip(fs: &FaultFileSystem, path: &Path, offset: usize, bit: u32) {
    let mut content = fs.file_content(path).unwrap();
    content[offset] ^= 1 << bit;
    let mut file = fs.create(path).unwrap();
    file.append(&content).unwrap();
    file.sync_all().unwrap();
}

/// Panics unless `error` is a corruption error naming `path`.
fn assert_names(error: &Error, path: &Path, context: &str) {
    match error {
        Error::Corruption(seer_db::Corruption { file, .. }) if file == path => {}
        other => panic!(
            "{context}: expected corruption of {}, got {other}",
            path.display()
        ),
    }
}

/// Reads everything; every answer is right or a corruption of `path`.
/// Returns whether a read reported the damage.
fn check_reads(db: &DB, model: &Model, path: &Path) -> bool {
    let mut damage_seen = false;
    for (key, value) in model {
        match db.get(key) {
            Ok(got) => assert_eq!(got.as_deref(), Some(&value[..]), "wrong value for {key:?}"),
            Err(error) => {
                assert_names(&error, path, "get");
                damage_seen = true;
            }
        }
    }
    let mut scanned = Model::new();
    for entry in db.iter() {
        match entry {
            Ok((key, value)) => {
                scanned.insert(key.to_vec(), value.to_vec());
            }
            Err(error) => {
                assert_names(&error, path, "scan");
                return true;
            }
        }
    }
    assert_eq!(&scanned, model, "a scan returned wrong data");
    damage_seen
}

fn corruption_case(model: &Model, path: &Path, offset: usize, bit: u32) {
    let fs = FaultFileSystem::new();
    build(&fs);
    flip(&fs, path, offset, bit);
    let context = format!("{} byte {offset} bit {bit}", path.display());
    let db = match options(&fs).open(DB_DIR) {
        Err(error) => {
            assert_names(&error, path, &context);
            AT_OPEN.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Ok(db) => db,
    };
    let damage_seen = check_reads(&db, model, path);
    let report = db.verify().unwrap();
    let live = report.checked_files.iter().any(|(p, _)| p == path)
        || report.bad_files.iter().any(|(p, _)| p == path);
    let flagged = report.bad_files.iter().any(|(p, _)| p == path);
    assert!(
        !damage_seen || flagged,
        "{context}: reads saw damage that verify missed"
    );
    assert!(
        !live || flagged,
        "{context}: verify missed a flipped byte in a live file"
    );
    let counter = match (damage_seen, live) {
        (true, _) => &BY_READ,
        (false, true) => &BY_VERIFY,
        (false, false) => &NOT_LIVE,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    for (bad, error) in &report.bad_files {
        assert_eq!(bad, path, "{context}: verify blames an intact file");
        assert_names(error, path, &context);
    }
}

fn corruption_iteration(seed: u64) {
    let mut rng = Rng(seed);
    let fs = FaultFileSystem::new();
    let model = build(&fs);
    let files = target_files(&fs);
    assert!(files.iter().any(|p| p.to_string_lossy().ends_with(".sst")));
    assert!(files.iter().any(|p| p.to_string_lossy().ends_with(".wal")));
    for path in &files {
        let len = fs.file_content(path).unwrap().len();
        let mut offsets = vec![0, len - 1];
        offsets.extend((0..6).map(|_| rng.below(len as u64) as usize));
        for offset in offsets {
            corruption_case(&model, path, offset, rng.below(8) as u32);
        }
    }
}

#[test]
fn flipped_bytes_give_corruption_errors_never_wrong_data() {
    for seed in seeds(3) {
        with_seed("durability_corruption", seed, corruption_iteration);
    }
    eprintln!(
        "flips caught at open: {}, by a read: {}, only by verify: {}, in files not live: {}",
        AT_OPEN.load(Ordering::Relaxed),
        BY_READ.load(Ordering::Relaxed),
        BY_VERIFY.load(Ordering::Relaxed),
        NOT_LIVE.load(Ordering::Relaxed)
    );
}

#[test]
fn verify_reports_an_intact_database_as_intact() {
    let fs = FaultFileSystem::new();
    let model = build(&fs);
    let db = options(&fs).open(DB_DIR).unwrap();
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.bad_files);
    let checked: Vec<String> = report
        .checked_files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for suffix in [".sst", ".wal", "CURRENT"] {
        assert!(
            checked.iter().any(|n| n.ends_with(suffix)),
            "{suffix} not checked: {checked:?}"
        );
    }
    assert!(checked.iter().any(|n| n.starts_with("MANIFEST")));
    assert!(!check_reads(&db, &model, Path::new("/none")));
    db.close().unwrap();
    assert!(matches!(db.verify(), Err(Error::Closed)));
}

/// A flipped byte in the manifest's final edit, when that edit is a flush
/// whose WAL segment is already deleted: the manifest reader takes the
/// damaged final frame for a torn write and drops it, so the flushed
/// writes vanish and older values come back. Reported in
/// /work/layer-requests.md (seer-wal LogReader / seer-compaction replay).
#[test]
fn flipped_byte_in_the_final_manifest_edit_is_not_taken_for_a_torn_tail() {
    let fs = FaultFileSystem::new();
    let model = build_flushing(&fs, 3);
    let manifest = target_files(&fs)
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST")
        })
        .unwrap();
    let len = fs.file_content(&manifest).unwrap().len();
    for offset in len - 24..len {
        let fs = FaultFileSystem::new();
        build_flushing(&fs, 3);
        flip(&fs, &manifest, offset, 0);
        if let Ok(db) = options(&fs).open(DB_DIR) {
            check_reads(&db, &model, &manifest);
        }
    }
}
