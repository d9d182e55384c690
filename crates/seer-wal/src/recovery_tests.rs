//! Recovery tests: multi-segment replay, torn tails, corruption per mode,
//! and the cut / flip / round-trip properties.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use proptest::prelude::*;
use seer_core::fault::FaultFileSystem;
use seer_log::frame::LOG_HEADER_BYTES;
use seer_log::{FrameBuffer, LogError, LogHeader};

use super::*;
use crate::record::tests::{arb_write, put};
use crate::record::WriteRecord;

const DIR: &str = "/db";

/// Writes `writes` into segment `number` (consecutive seqs from `first_seq`)
/// and returns each frame's end offset.
fn write_segment(
    fs: &FaultFileSystem,
    number: u64,
    first_seq: SeqNo,
    writes: &[WriteRecord],
) -> Vec<usize> {
    write_rolled_segment(fs, number, None, first_seq, writes)
}

/// Like [`write_segment`], the segment starting with `predecessor` as a
/// roll writes it, when given.
fn write_rolled_segment(
    fs: &FaultFileSystem,
    number: u64,
    predecessor: Option<PredecessorRecord>,
    first_seq: SeqNo,
    writes: &[WriteRecord],
) -> Vec<usize> {
    let mut bytes = LogHeader {
        kind: LogKind::Wal,
        file_number: number,
    }
    .encode()
    .to_vec();
    let mut frames = FrameBuffer::new();
    if let Some(predecessor) = predecessor {
        frames.push_frame_with(|out| predecessor.encode(out));
    }
    let mut ends = Vec::new();
    let mut seq = first_seq;
    for write in writes {
        frames.push_frame_with(|out| write.encode(seq, out));
        seq += write.seq_count();
        ends.push(bytes.len() + frames.len());
    }
    bytes.extend_from_slice(frames.as_bytes());
    write_file(fs, &segment_path(Path::new(DIR), number), bytes);
    ends
}

/// Replaces the file at `path` (in an existing or new directory) with `bytes`.
fn write_file(fs: &FaultFileSystem, path: &Path, bytes: Vec<u8>) {
    fs.create_dir_all(path.parent().unwrap()).unwrap();
    fs.create(path).unwrap().append(&bytes).unwrap();
}

fn recover(fs: &FaultFileSystem, mode: WalRecoveryMode) -> Result<(Vec<SeqNo>, WalRecoveryReport)> {
    let mut recovery = WalRecovery::open(fs, Path::new(DIR), 0, mode)?;
    let mut seqs = Vec::new();
    while let Some(record) = recovery.next_record()? {
        seqs.push(record.first_seq());
    }
    Ok((seqs, recovery.into_report()))
}

fn three_puts() -> Vec<WriteRecord> {
    vec![put("a", "1"), put("b", "2"), put("c", "3")]
}

fn segment_bytes(fs: &FaultFileSystem, number: u64) -> Vec<u8> {
    fs.read(&segment_path(Path::new(DIR), number)).unwrap()
}

#[test]
fn replays_segments_in_order_from_the_first_live() {
    let fs = FaultFileSystem::new();
    write_segment(&fs, 3, 1, &three_puts());
    write_segment(&fs, 7, 4, &three_puts());
    let (seqs, report) = recover(&fs, WalRecoveryMode::default()).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        (report.segments, report.last_seq, report.records_count),
        (vec![3, 7], Some(6), 6)
    );
    let recovery = WalRecovery::open(&fs, Path::new(DIR), 4, WalRecoveryMode::default()).unwrap();
    assert_eq!(
        recovery.map(|r| r.unwrap().first_seq()).collect::<Vec<_>>(),
        [4, 5, 6]
    );
}

#[test]
fn torn_tail_of_newest_is_reported_and_truncated() {
    let fs = FaultFileSystem::new();
    write_segment(&fs, 1, 1, &three_puts());
    let ends = write_segment(&fs, 2, 4, &three_puts());
    let path = segment_path(Path::new(DIR), 2);
    fs.truncate(&path, ends[2] as u64 - 3).unwrap();
    let (seqs, report) = recover(&fs, WalRecoveryMode::default()).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let torn = report.torn_tail.clone().unwrap();
    assert_eq!((torn.segment, torn.offset), (2, ends[1] as u64));
    truncate_torn_tail(&fs, &torn).unwrap();
    let (_, report) = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.last_seq, Some(5));
}

#[test]
fn torn_header_of_newest_is_removed_by_truncation() {
    let fs = FaultFileSystem::new();
    write_segment(&fs, 1, 1, &three_puts());
    write_file(&fs, &segment_path(Path::new(DIR), 2), vec![0x53, 0x4c]);
    let (seqs, report) = recover(&fs, WalRecoveryMode::default()).unwrap();
    assert_eq!(seqs, [1, 2, 3]);
    let torn = report.torn_tail.unwrap();
    assert_eq!((torn.segment, torn.offset), (2, 0));
    truncate_torn_tail(&fs, &torn).unwrap();
    assert_eq!(list_segments(&fs, Path::new(DIR)).unwrap(), [1]);
}

#[test]
fn torn_older_segment_ends_the_log_per_mode() {
    let fs = FaultFileSystem::new();
    let ends = write_segment(&fs, 1, 1, &three_puts());
    write_segment(&fs, 2, 4, &three_puts());
    let path = segment_path(Path::new(DIR), 1);
    fs.truncate(&path, ends[2] as u64 - 1).unwrap();
    for mode in [
        WalRecoveryMode::TolerateCorruptedTail,
        WalRecoveryMode::PointInTime,
    ] {
        let (seqs, report) = recover(&fs, mode).unwrap();
        assert_eq!((seqs, report.ignored_segments), (vec![1, 2], vec![2]));
        let stop = report.stopped_at.unwrap();
        assert_eq!((stop.file, stop.offset), (path.clone(), ends[1] as u64));
    }
    let (seqs, report) = recover(&fs, WalRecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(seqs, [1, 2, 4, 5, 6]);
    assert_eq!(report.skipped.len(), 1);
    let err = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(
        matches!(&err, WalError::Log(LogError::Corruption(seer_core::Corruption { file, offset, .. }))
            if file == &path && *offset == ends[1] as u64),
        "{err}"
    );
}

/// Segment 1 with three puts, then segment 2, rolled to from it (its
/// predecessor record says where segment 1 ended), with three more;
/// returns segment 1's frame end offsets.
fn rolled_pair(fs: &FaultFileSystem) -> Vec<usize> {
    let ends = write_segment(fs, 1, 1, &three_puts());
    let predecessor = PredecessorRecord {
        segment: 1,
        length_bytes: ends[2] as u64,
        last_seq: 3,
    };
    write_rolled_segment(fs, 2, Some(predecessor), 4, &three_puts());
    ends
}

#[test]
fn a_rolled_segment_whose_predecessor_ended_where_it_says_replays_whole() {
    let fs = FaultFileSystem::new();
    rolled_pair(&fs);
    for mode in WalRecoveryMode::ALL {
        let (seqs, report) = recover(&fs, mode).unwrap();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "{mode:?}");
        assert_eq!((report.stopped_at, report.skipped), (None, vec![]));
    }
    // A predecessor below the first live segment is already in tables.
    let recovery = WalRecovery::open(&fs, Path::new(DIR), 2, WalRecoveryMode::default()).unwrap();
    let seqs: Vec<SeqNo> = recovery.map(|r| r.unwrap().first_seq()).collect();
    assert_eq!(seqs, [4, 5, 6]);
}

/// A power loss kept segment 2 but dropped segment 1's unsynced last
/// record, cleanly (no torn bytes: only the predecessor record shows the
/// hole): the log ends at segment 1's last valid record under the
/// point-in-time style modes, and no record of segment 2 is replayed.
#[test]
fn a_lost_tail_before_a_roll_ends_the_log_at_the_predecessors_last_record() {
    let fs = FaultFileSystem::new();
    let ends = rolled_pair(&fs);
    let path = segment_path(Path::new(DIR), 1);
    fs.truncate(&path, ends[1] as u64).unwrap();
    for mode in [
        WalRecoveryMode::TolerateCorruptedTail,
        WalRecoveryMode::PointInTime,
    ] {
        let (seqs, report) = recover(&fs, mode).unwrap();
        assert_eq!(seqs, [1, 2], "{mode:?}");
        assert_eq!(
            (report.segments, report.ignored_segments),
            (vec![1], vec![2])
        );
        assert_eq!(report.last_seq, Some(2));
        let stop = report.stopped_at.unwrap();
        assert_eq!((stop.file, stop.offset), (path.clone(), ends[1] as u64));
        assert!(stop.detail.contains("predecessor"), "{}", stop.detail);
    }
    let (seqs, report) = recover(&fs, WalRecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(seqs, [1, 2, 4, 5, 6]);
    assert_eq!(
        (
            report.skipped.len(),
            report.skipped[0].start,
            report.skipped[0].end
        ),
        (1, ends[1] as u64, ends[2] as u64)
    );
    let err = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap_err();
    assert!(
        matches!(&err, WalError::Log(LogError::Corruption(seer_core::Corruption { file, offset, .. }))
            if file == &path && *offset == ends[1] as u64),
        "{err}"
    );
}

/// A predecessor deleted once its records were in tables (the owner's
/// log number moved past it, or its keyspaces' did) is not checked.
#[test]
fn a_predecessor_that_was_not_replayed_is_not_checked() {
    let fs = FaultFileSystem::new();
    write_segment(&fs, 1, 1, &three_puts());
    let predecessor = PredecessorRecord {
        segment: 2,
        length_bytes: 100,
        last_seq: 5,
    };
    write_rolled_segment(&fs, 3, Some(predecessor), 6, &three_puts());
    for mode in WalRecoveryMode::ALL {
        let (seqs, report) = recover(&fs, mode).unwrap();
        assert_eq!((seqs, report.stopped_at), (vec![1, 2, 3, 6, 7, 8], None));
    }
}

#[test]
fn a_damaged_predecessor_record_is_corruption_never_a_panic() {
    let fs = FaultFileSystem::new();
    write_segment(&fs, 1, 1, &three_puts());
    let mut payload = Vec::new();
    PredecessorRecord {
        segment: 1,
        length_bytes: 7,
        last_seq: 3,
    }
    .encode(&mut payload);
    // A valid frame around a payload whose checksum field is wrong.
    *payload.last_mut().unwrap() ^= 1;
    let mut bytes = LogHeader {
        kind: LogKind::Wal,
        file_number: 2,
    }
    .encode()
    .to_vec();
    let mut frames = FrameBuffer::new();
    frames.push_frame(&payload);
    bytes.extend_from_slice(frames.as_bytes());
    let path = segment_path(Path::new(DIR), 2);
    write_file(&fs, &path, bytes);
    let err = recover(&fs, WalRecoveryMode::TolerateCorruptedTail).unwrap_err();
    assert!(
        matches!(&err, WalError::Log(LogError::Corruption(seer_core::Corruption { file, offset, .. }))
            if file == &path && *offset == LOG_HEADER_BYTES as u64),
        "{err}"
    );
    let (seqs, report) = recover(&fs, WalRecoveryMode::PointInTime).unwrap();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(report.stopped_at.is_some());
}

#[test]
fn a_predecessor_record_past_the_first_frame_is_corruption() {
    let fs = FaultFileSystem::new();
    let ends = write_segment(&fs, 1, 1, &three_puts());
    let path = segment_path(Path::new(DIR), 1);
    let mut bytes = segment_bytes(&fs, 1);
    let mut frames = FrameBuffer::new();
    frames.push_frame_with(|out| {
        PredecessorRecord {
            segment: 0,
            length_bytes: 0,
            last_seq: 0,
        }
        .encode(out)
    });
    bytes.extend_from_slice(frames.as_bytes());
    write_file(&fs, &path, bytes);
    let err = recover(&fs, WalRecoveryMode::TolerateCorruptedTail).unwrap_err();
    assert!(
        matches!(&err, WalError::Log(LogError::Corruption(seer_core::Corruption { offset, .. }))
            if *offset == ends[2] as u64),
        "{err}"
    );
}

/// Segments 1 and 2 of three puts each, segment 2's bytes changed by
/// `damage`; returns segment 2's path and frame end offsets.
fn two_segments_with_newest(
    fs: &FaultFileSystem,
    damage: impl FnOnce(&mut Vec<u8>),
) -> (PathBuf, Vec<usize>) {
    write_segment(fs, 1, 1, &three_puts());
    let ends = write_segment(fs, 2, 4, &three_puts());
    let path = segment_path(Path::new(DIR), 2);
    let mut bytes = segment_bytes(fs, 2);
    damage(&mut bytes);
    write_file(fs, &path, bytes);
    (path, ends)
}

#[test]
fn flipped_byte_in_the_final_record_of_the_newest_segment_is_corruption() {
    let fs = FaultFileSystem::new();
    let (path, ends) = two_segments_with_newest(&fs, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
    });
    let err = recover(&fs, WalRecoveryMode::TolerateCorruptedTail).unwrap_err();
    assert!(
        matches!(&err, WalError::Log(LogError::Corruption(seer_core::Corruption { file, offset, .. }))
            if file == &path && *offset == ends[1] as u64),
        "{err}"
    );
    let (seqs, report) = recover(&fs, WalRecoveryMode::PointInTime).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.stopped_at.unwrap().offset, ends[1] as u64);
    let (seqs, report) = recover(&fs, WalRecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.skipped.len(), 1);
}

#[test]
fn zero_filled_tail_of_newest_is_torn_and_truncated() {
    let fs = FaultFileSystem::new();
    let (_, ends) = two_segments_with_newest(&fs, |bytes| bytes.resize(bytes.len() + 4096, 0));
    let (seqs, report) = recover(&fs, WalRecoveryMode::default()).unwrap();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    let torn = report.torn_tail.unwrap();
    assert_eq!((torn.segment, torn.offset), (2, ends[2] as u64));
    truncate_torn_tail(&fs, &torn).unwrap();
    assert_eq!(segment_bytes(&fs, 2).len(), ends[2]);
    let (seqs, report) = recover(&fs, WalRecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!((seqs.len(), report.torn_tail), (6, None));
}

#[test]
fn bad_record_followed_by_valid_ones_is_corruption() {
    let fs = FaultFileSystem::new();
    let ends = write_segment(&fs, 1, 1, &three_puts());
    let mut bytes = segment_bytes(&fs, 1);
    bytes[ends[0] + 14] ^= 0x40;
    write_file(&fs, &segment_path(Path::new(DIR), 1), bytes);
    let err = recover(&fs, WalRecoveryMode::default()).unwrap_err();
    assert!(
        matches!(err, WalError::Log(LogError::Corruption(seer_core::Corruption { offset, .. })) if offset == ends[0] as u64),
        "{err}"
    );
    let (seqs, report) = recover(&fs, WalRecoveryMode::PointInTime).unwrap();
    assert_eq!(seqs, [1]);
    assert_eq!(report.stopped_at.unwrap().offset, ends[0] as u64);
    let (seqs, _) = recover(&fs, WalRecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(seqs, [1, 3]);
}

#[test]
fn sequence_regression_and_wrong_header_are_corruption() {
    let fs = FaultFileSystem::new();
    write_segment(&fs, 1, 5, &three_puts());
    write_segment(&fs, 2, 7, &three_puts());
    let err = recover(&fs, WalRecoveryMode::default()).unwrap_err();
    assert!(
        matches!(&err, WalError::Log(LogError::Corruption(seer_core::Corruption { file, .. })) if file.ends_with("00000000000000000002.wal")),
        "{err}"
    );
    let (seqs, _) = recover(&fs, WalRecoveryMode::SkipCorrupted).unwrap();
    assert_eq!(seqs, [5, 6, 7, 8, 9], "the regressing record is skipped");
    let fs = FaultFileSystem::new();
    write_segment(&fs, 1, 1, &three_puts());
    let bytes = segment_bytes(&fs, 1);
    write_file(&fs, &segment_path(Path::new(DIR), 4), bytes);
    let err = WalRecovery::open(&fs, Path::new(DIR), 4, WalRecoveryMode::SkipCorrupted)
        .unwrap()
        .next_record()
        .unwrap_err();
    assert!(
        matches!(
            err,
            WalError::Log(LogError::Corruption(seer_core::Corruption {
                offset: 0,
                ..
            }))
        ),
        "{err}"
    );
}

/// One segment's bytes with `writes` at consecutive seqs from 1, and the
/// frame end offsets.
fn segment_image(writes: &[WriteRecord]) -> (Vec<u8>, Vec<usize>) {
    let fs = FaultFileSystem::new();
    let ends = write_segment(&fs, 1, 1, writes);
    (segment_bytes(&fs, 1), ends)
}

fn read_image(bytes: Vec<u8>, mode: WalRecoveryMode) -> Result<(Vec<Record>, LogEnd, usize)> {
    let reader = LogReader::from_bytes("seg".into(), Bytes::from(bytes), LogKind::Wal, mode)?;
    let mut segment = SegmentReader::new(reader);
    let mut last = None;
    let mut records = Vec::new();
    while let Some(record) = segment.next_record(&mut last)? {
        records.push(record);
    }
    let end = segment.log().end().cloned().unwrap_or(LogEnd::Clean);
    Ok((records, end, segment.log().skipped().len()))
}

fn expected_records(writes: &[WriteRecord]) -> Vec<Record> {
    let mut seq = 1;
    writes
        .iter()
        .map(|write| {
            let record = Record::from_write(write.clone(), seq);
            seq += write.seq_count();
            record
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_records_round_trip(writes in proptest::collection::vec(arb_write(), 0..12)) {
        let (bytes, _) = segment_image(&writes);
        let (records, end, _) = read_image(bytes, WalRecoveryMode::AbsoluteConsistency).unwrap();
        prop_assert_eq!(records, expected_records(&writes));
        prop_assert_eq!(end, LogEnd::Clean);
    }

    #[test]
    fn a_cut_log_recovers_exactly_the_whole_records_before_the_cut(
        writes in proptest::collection::vec(arb_write(), 1..8),
        cut_fraction in 0.0f64..1.0,
    ) {
        let (bytes, ends) = segment_image(&writes);
        let cut = (bytes.len() as f64 * cut_fraction) as usize;
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        let (records, end, _) = read_image(bytes[..cut].to_vec(), WalRecoveryMode::TolerateCorruptedTail).unwrap();
        prop_assert_eq!(&records[..], &expected_records(&writes)[..whole]);
        let valid_len = if cut < LOG_HEADER_BYTES { 0 } else { ends[..whole].last().copied().unwrap_or(LOG_HEADER_BYTES) };
        if valid_len == cut && cut >= LOG_HEADER_BYTES {
            prop_assert_eq!(end, LogEnd::Clean);
        } else {
            prop_assert_eq!(end, LogEnd::TornTail { offset: valid_len as u64 });
        }
    }

    #[test]
    fn a_zero_filled_tail_after_whole_records_is_torn(
        writes in proptest::collection::vec(arb_write(), 1..8),
        whole_fraction in 0.0f64..1.0,
        zeros_bytes in 1usize..5000,
    ) {
        let (bytes, ends) = segment_image(&writes);
        let whole = (ends.len() as f64 * whole_fraction) as usize;
        let valid_len = if whole == 0 { LOG_HEADER_BYTES } else { ends[whole - 1] };
        let mut padded = bytes[..valid_len].to_vec();
        padded.resize(valid_len + zeros_bytes, 0);
        let (records, end, skipped) = read_image(padded, WalRecoveryMode::TolerateCorruptedTail).unwrap();
        prop_assert_eq!(&records[..], &expected_records(&writes)[..whole]);
        prop_assert_eq!(end, LogEnd::TornTail { offset: valid_len as u64 });
        prop_assert_eq!(skipped, 0);
    }

    #[test]
    fn a_flipped_byte_is_never_silently_accepted(
        writes in proptest::collection::vec(arb_write(), 1..8),
        position_fraction in 0.0f64..1.0,
        flip in 1u8..=255,
    ) {
        let (mut bytes, ends) = segment_image(&writes);
        let position = (bytes.len() as f64 * position_fraction) as usize;
        bytes[position] ^= flip;
        // The damage is reported at the start of the header or frame that
        // holds the flipped byte, never taken for a torn tail.
        let damaged = std::iter::once(0)
            .chain(std::iter::once(LOG_HEADER_BYTES))
            .chain(ends.iter().copied())
            .filter(|&start| start <= position)
            .max()
            .unwrap_or(0);
        let before = ends.iter().filter(|&&end| end <= damaged).count();
        for mode in WalRecoveryMode::ALL {
            let result = read_image(bytes.clone(), mode);
            match mode {
                WalRecoveryMode::TolerateCorruptedTail | WalRecoveryMode::AbsoluteConsistency => {
                    prop_assert!(
                        matches!(&result, Err(WalError::Log(LogError::Corruption(seer_core::Corruption { offset, .. }))) if *offset == damaged as u64),
                        "{:?} at byte {}: {:?}", mode, position, result.map(|r| r.1)
                    );
                }
                WalRecoveryMode::PointInTime => {
                    let (records, end, _) = result.unwrap();
                    prop_assert_eq!(records.len(), before);
                    prop_assert!(
                        matches!(end, LogEnd::Stopped { offset, .. } if offset == damaged as u64),
                        "flip at byte {}: {:?}", position, end
                    );
                }
                WalRecoveryMode::SkipCorrupted => {
                    let (records, end, skipped) = result.unwrap();
                    prop_assert_eq!(end, LogEnd::Clean);
                    prop_assert!(skipped > 0);
                    prop_assert!(records.len() < writes.len() || damaged == 0, "only a bad file header loses no record");
                }
            }
        }
    }
}
