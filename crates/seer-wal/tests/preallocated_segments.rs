//! Preallocated WAL segments (`WalOptions::preallocate_step_bytes`) on
//! `seer_core::fault::FaultFileSystem`: the zeros of the reservation read as
//! the segment's clean end under every recovery mode and in verification, a
//! record cut short inside the reservation is a torn tail, a damaged final
//! record is still corruption, and retiring or closing a segment cuts the
//! reservation off.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::fault::{FaultFileSystem, PowerLossMode};
use seer_core::{FileSystem, SeqNo};
use seer_log::TailRule;
use seer_wal::{
    segment_path, verify_segment, Apply, CommitPipeline, Sequenced, SyncPolicy, WalError,
    WalOptions, WalRecovery, WalRecoveryMode, WalRecoveryReport, WriteOp, WriteOptions,
    WriteRecord,
};

const DIR: &str = "/db";
const STEP_BYTES: u64 = 4096;
const ALL_MODES: [WalRecoveryMode; 4] = [
    WalRecoveryMode::TolerateCorruptedTail,
    WalRecoveryMode::AbsoluteConsistency,
    WalRecoveryMode::PointInTime,
    WalRecoveryMode::SkipCorrupted,
];

struct Discard;

impl Apply for Discard {
    type Error = std::convert::Infallible;

    fn apply(&self, _group: &[Sequenced]) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn open(fs: &FaultFileSystem, segment: u64, last_seq: SeqNo) -> CommitPipeline<Discard> {
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let options = WalOptions {
        sync_policy: SyncPolicy::Never,
        preallocate_step_bytes: STEP_BYTES,
        ..WalOptions::default()
    };
    CommitPipeline::open(
        Arc::new(fs.clone()),
        Path::new(DIR),
        segment,
        last_seq,
        options,
        Discard,
    )
    .unwrap()
}

fn put(key: &str, value_bytes: usize) -> WriteRecord {
    WriteRecord::Single(WriteOp::Put {
        key: Bytes::from(key.to_owned()),
        value: Bytes::from(vec![b'v'; value_bytes]),
    })
}

const SYNC: WriteOptions = WriteOptions {
    sync: true,
    disable_wal: false,
};

fn path(segment: u64) -> PathBuf {
    segment_path(Path::new(DIR), segment)
}

fn recover(
    fs: &FaultFileSystem,
    mode: WalRecoveryMode,
) -> Result<(Vec<SeqNo>, WalRecoveryReport), WalError> {
    let mut recovery = WalRecovery::open(fs, Path::new(DIR), 0, mode)?;
    let mut seqs = Vec::new();
    while let Some(record) = recovery.next_record()? {
        seqs.push(record.first_seq());
    }
    Ok((seqs, recovery.into_report()))
}

/// Five synced records in segment 1, left as a crash leaves it: the
/// records, then the reservation's zeros. Returns the records' end offset.
fn crashed_segment(fs: &FaultFileSystem) -> u64 {
    let pipeline = open(fs, 1, 0);
    for index in 0..5 {
        pipeline.write(put(&format!("k{index}"), 20), SYNC).unwrap();
    }
    fs.crash();
    drop(pipeline);
    let bytes = fs.read(&path(1)).unwrap();
    assert_eq!(
        bytes.len() as u64,
        STEP_BYTES,
        "the segment is preallocated"
    );
    let records_end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    records_end as u64
}

#[test]
fn a_preallocated_segment_replays_exactly_its_records_under_every_mode() {
    let fs = FaultFileSystem::new();
    crashed_segment(&fs);
    for mode in ALL_MODES {
        let (seqs, report) = recover(&fs, mode).unwrap();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "{mode:?}");
        assert_eq!(report.torn_tail, None, "{mode:?}");
        assert_eq!(report.stopped_at, None, "{mode:?}");
        assert!(report.skipped.is_empty(), "{mode:?}");
    }
    for tail in [TailRule::MustBeWhole, TailRule::MayBeTorn] {
        let summary = verify_segment(&fs, Path::new(DIR), 1, tail, None).unwrap();
        assert_eq!(summary.records_count, 5);
        assert_eq!(summary.log.torn_tail_bytes, 0);
    }
}

#[test]
fn a_record_cut_short_inside_the_reservation_is_a_torn_tail() {
    let fs = FaultFileSystem::new();
    let records_end = crashed_segment(&fs);
    // Append a record by hand, then zero it from its middle on, as a power
    // loss (or a short write) that kept its first bytes leaves it.
    let pipeline = open(&fs, 2, 5);
    pipeline.write(put("big", 1500), SYNC).unwrap();
    fs.crash();
    drop(pipeline);
    let big = fs.read(&path(2)).unwrap();
    let big_end = big.iter().rposition(|&b| b != 0).unwrap() + 1;
    let frame = &big[seer_log::frame::LOG_HEADER_BYTES..big_end];
    let mut bytes = fs.read(&path(1)).unwrap();
    let start = records_end as usize;
    bytes[start..start + frame.len()].copy_from_slice(frame);
    let cut = start + frame.len() / 2;
    bytes[cut..].fill(0);
    fs.remove_file(&path(2)).unwrap();
    let mut file = fs.create(&path(1)).unwrap();
    file.append(&bytes).unwrap();
    drop(file);

    let (seqs, report) = recover(&fs, WalRecoveryMode::TolerateCorruptedTail).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(report.torn_tail.unwrap().offset, records_end);
    for mode in [WalRecoveryMode::PointInTime, WalRecoveryMode::SkipCorrupted] {
        let (seqs, report) = recover(&fs, mode).unwrap();
        assert_eq!((seqs.len(), report.stopped_at), (5, None), "{mode:?}");
    }
    let err = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(err.to_string().contains("torn tail"), "{err}");
    let summary = verify_segment(&fs, Path::new(DIR), 1, TailRule::MayBeTorn, None).unwrap();
    assert_eq!(summary.records_count, 5);
    assert_eq!(summary.log.torn_tail_bytes, STEP_BYTES - records_end);
    assert!(verify_segment(&fs, Path::new(DIR), 1, TailRule::MustBeWhole, None).is_err());
}

#[test]
fn a_damaged_final_record_of_a_preallocated_segment_is_corruption() {
    let fs = FaultFileSystem::new();
    let records_end = crashed_segment(&fs);
    let mut bytes = fs.read(&path(1)).unwrap();
    // A flip inside the last record, whose last byte is not zero (the known
    // limit: one ending in zeros would read as torn).
    let flipped = records_end as usize - 5;
    bytes[flipped] ^= 0x01;
    let mut file = fs.create(&path(1)).unwrap();
    file.append(&bytes).unwrap();
    drop(file);
    let err = recover(&fs, WalRecoveryMode::TolerateCorruptedTail).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[test]
fn roll_and_close_cut_the_reservation_off() {
    let fs = FaultFileSystem::new();
    let pipeline = open(&fs, 1, 0);
    pipeline.write(put("a", 10), SYNC).unwrap();
    assert_eq!(fs.file_size(&path(1)).unwrap(), STEP_BYTES);
    pipeline.roll(2).unwrap();
    assert_eq!(fs.file_size(&path(2)).unwrap(), STEP_BYTES);
    // The trim runs in the background; the new segment's first sync waits
    // for it.
    pipeline.write(put("b", 10), SYNC).unwrap();
    let first_len = fs.file_size(&path(1)).unwrap();
    assert!(first_len < STEP_BYTES, "the retired segment is trimmed");
    pipeline.close().unwrap();
    let second = fs.read(&path(2)).unwrap();
    assert_eq!(
        second.last().copied(),
        Some(b'v'),
        "closed segment ends at its record"
    );
    let (seqs, report) = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!((seqs, report.torn_tail), (vec![1, 2], None));
}

#[test]
fn the_reservation_grows_a_step_at_a_time() {
    let fs = FaultFileSystem::new();
    let pipeline = open(&fs, 1, 0);
    for index in 0..6 {
        pipeline
            .write(put(&format!("k{index}"), 1000), WriteOptions::default())
            .unwrap();
    }
    assert_eq!(fs.file_size(&path(1)).unwrap(), 2 * STEP_BYTES);
    fs.crash();
    drop(pipeline);
    let (seqs, _) = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(seqs.len(), 6);
}

/// Power losses with unsynced records in the reservation, for many seeds:
/// every synced record comes back, nothing fails, and some seeds leave a
/// record torn inside the reserved zeros.
#[test]
fn power_loss_inside_the_reservation_keeps_every_synced_record() {
    let mut torn_count = 0;
    for seed in 0..64 {
        let fs = FaultFileSystem::new();
        let pipeline = open(&fs, 1, 0);
        for index in 0..3 {
            pipeline.write(put(&format!("s{index}"), 30), SYNC).unwrap();
        }
        for index in 0..4 {
            let write = put(&format!("u{index}"), 700);
            pipeline.write(write, WriteOptions::default()).unwrap();
        }
        fs.power_loss(PowerLossMode::KeepRandomPrefix { seed });
        drop(pipeline);
        let (seqs, report) = recover(&fs, WalRecoveryMode::TolerateCorruptedTail).unwrap();
        assert!(
            seqs.len() >= 3,
            "seed {seed}: synced records lost: {seqs:?}"
        );
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        torn_count += usize::from(report.torn_tail.is_some());
    }
    assert!(
        torn_count > 0,
        "no seed tore a record inside the reservation"
    );
}
