//! Refused inputs: a second open, a foreign directory, oversized keys and
//! values, bad options, merges without an operator.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use seer_db::{CompactionPolicy, DBOptions, Error, PolicyParams, SyncPolicy, DB};

#[test]
fn second_open_is_locked_until_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    assert!(matches!(DB::open(dir.path()), Err(Error::Locked { .. })));
    db.close().unwrap();
    drop(db);
    let db = DB::open(dir.path()).unwrap();
    db.put(b"k", b"v").unwrap();
}

#[test]
fn foreign_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"mine").unwrap();
    let error = DB::open(dir.path()).unwrap_err();
    assert!(matches!(error, Error::NotADatabase { .. }), "{error}");
    assert_eq!(std::fs::read(&notes).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_current_file_naming_no_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CURRENT"), b"something else\n").unwrap();
    assert!(matches!(
        DB::open(dir.path()),
        Err(Error::NotADatabase { .. })
    ));
    assert_eq!(
        std::fs::read(dir.path().join("CURRENT")).unwrap(),
        b"something else\n"
    );
}

#[test]
fn oversized_keys_and_values_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let db = DBOptions::default()
        .max_key_size(8)
        .max_value_size(16)
        .open(dir.path())
        .unwrap();
    assert!(matches!(
        db.put([0u8; 9], b"v"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        db.put(b"k", [0u8; 17]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        db.delete([0u8; 9]),
        Err(Error::InvalidArgument(_))
    ));
    let mut batch = db.batch();
    batch.put(b"ok", b"ok").put([1u8; 9], b"too long");
    assert!(matches!(
        db.write(batch, Default::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        db.get(b"ok").unwrap(),
        None,
        "a refused batch writes nothing"
    );
    db.put([0u8; 8], [0u8; 16]).unwrap();
    assert!(
        db.health().is_writable(),
        "bad input does not harm the database"
    );
}

#[test]
fn merge_without_operator_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    assert!(matches!(
        db.merge(b"k", b"1"),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn sync_with_disabled_wal_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    let options = seer_db::WriteOptions {
        sync: true,
        disable_wal: true,
    };
    assert!(matches!(
        db.put_opt(b"k", b"v", options),
        Err(Error::InvalidArgument(_))
    ));
    assert!(db.health().is_writable());
}

#[test]
fn bad_options_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        DBOptions::default().memtable_capacity(10),
        DBOptions::default().memtable_partitions(0),
        DBOptions::default().max_immutable_memtables(0),
        DBOptions::default().block_size(1),
        DBOptions::default()
            .l0_slowdown_writes_trigger(10)
            .l0_stop_writes_trigger(5),
        DBOptions::default().background_threads(0),
        DBOptions::default().write_stall_timeout(Duration::ZERO),
        DBOptions::default().max_key_size(usize::MAX),
        DBOptions::default().sync_policy(SyncPolicy::Interval(Duration::ZERO)),
        DBOptions::default().max_memory_bytes(Some(1024)),
    ];
    for options in bad {
        let error = options.clone().open(dir.path()).unwrap_err();
        assert!(
            matches!(error, Error::InvalidArgument(_)),
            "{options:?}: {error}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing is created for refused options"
    );
}

#[test]
fn absurd_memtable_capacity_and_unsupported_bloom_bits_are_refused_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let refused = [
        // 2 * capacity overflowed in the budget check (a panic with overflow
        // checks, a wrapped product accepted without).
        (
            DBOptions::default()
                .memtable_capacity(usize::MAX)
                .max_memory_bytes(Some(u64::MAX)),
            "memtable_capacity",
        ),
        (
            DBOptions::default().memtable_capacity((64 << 30) + 1),
            "memtable_capacity",
        ),
        // Filters never get more than 24 bits per key: 25..=64 used to be
        // accepted and silently clamped.
        (
            DBOptions::default().bloom_bits_per_key(25),
            "bloom_bits_per_key",
        ),
        (
            DBOptions::default().bloom_bits_per_key(64),
            "bloom_bits_per_key",
        ),
        (
            DBOptions::default().bloom_bits_per_key(u32::MAX),
            "bloom_bits_per_key",
        ),
    ];
    for (options, option_name) in refused {
        let error = options.clone().open(dir.path()).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument(reason) if reason.contains(option_name)),
            "{options:?}: {error}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let db = DBOptions::default()
        .bloom_bits_per_key(24)
        .memtable_capacity(64 << 20)
        .max_memory_bytes(Some(128 << 20))
        .open(dir.path())
        .unwrap();
    db.put(b"k", b"v").unwrap();
}

#[test]
fn presets_and_fixed_policies_open() {
    let fixed = CompactionPolicy::Fixed(PolicyParams::tiering(4).unwrap());
    for options in [
        DBOptions::high_throughput(),
        DBOptions::low_memory(),
        DBOptions::durable(),
        DBOptions::default().compaction_policy(fixed),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = options.open(dir.path()).unwrap();
        db.put(b"k", b"v").unwrap();
        db.close().unwrap();
    }
}

#[test]
fn missing_directory_without_create_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    let error = DBOptions::default()
        .create_if_missing(false)
        .open(&path)
        .unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)));
    assert!(!path.exists());
}

/// A foreground `put` after every sequence number has been used is refused
/// with the typed `Error::SequenceExhausted`, not reported as a failed
/// background job; the database turns read-only with that cause (no later
/// write could get a number) and still serves reads.
#[test]
fn a_put_past_the_last_sequence_number_is_sequence_exhausted_not_a_background_failure() {
    let dir = tempfile::tempdir().unwrap();
    DB::open(dir.path()).unwrap().close().unwrap();
    // The manifest records that every sequence number has been used.
    let fs: seer_core::SharedFileSystem = std::sync::Arc::new(seer_core::RealFileSystem);
    let options = seer_compaction::VersionSetOptions::default();
    let (versions, _) = seer_compaction::VersionSet::open(fs, dir.path(), options).unwrap();
    let mut edit = seer_compaction::VersionEdit::new();
    edit.last_seq = Some(seer_core::MAX_SEQ);
    versions.log_and_apply(edit).unwrap();
    drop(versions);

    let db = DB::open(dir.path()).unwrap();
    let error = db.put(b"k", b"v").unwrap_err();
    assert!(matches!(error, Error::SequenceExhausted), "{error}");
    assert!(
        matches!(
            db.health().status,
            seer_db::HealthStatus::ReadOnly(Error::SequenceExhausted)
        ),
        "{:?}",
        db.health().status
    );
    assert_eq!(db.get(b"k").unwrap(), None);
}

/// Issue 14: the space-amplification bound is a ratio of bytes on disk to
/// live bytes, so it must be finite and above 1.0; anything else is refused
/// at open with the option's name.
#[test]
fn a_nonsense_max_space_amplification_is_refused_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    for bound in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.0,
        0.5,
        0.0,
        -2.0,
    ] {
        let options = DBOptions::default().max_space_amplification(bound);
        let error = options.open(dir.path()).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument(reason) if reason.contains("max_space_amplification")),
            "{bound}: {error}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let db = DBOptions::default()
        .max_space_amplification(1.05)
        .open(dir.path())
        .unwrap();
    db.put(b"k", b"v").unwrap();
}
