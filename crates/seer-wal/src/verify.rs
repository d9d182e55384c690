//! Verification of WAL segments: every frame through seer-log's
//! [`verify_log`], every record decoded and in sequence order, each
//! segment's header naming it. Only the newest segment may end in a torn
//! write (a crash during its last append), and a segment must end where its
//! successor's predecessor record says it did: a torn older segment and a
//! tail lost before a roll are both where recovery ends the log, and both
//! are reported as damage of that segment.

use std::path::{Path, PathBuf};

use seer_core::SeqNo;
use seer_log::frame::{FRAME_HEADER_BYTES, LOG_HEADER_BYTES};
use seer_log::{verify_log, LogError, LogKind, LogSummary, TailRule};

use crate::error::{Result, WalError};
use crate::record::PredecessorRecord;
use crate::recovery::{check_segment_header, decode_frame, lost_tail, SegmentFrame};
use crate::segment::{list_segments, segment_path};

/// What [`verify_segment`] read from an intact segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The segment's number.
    pub segment: u64,
    /// Its frames, bytes and torn tail.
    pub log: LogSummary,
    /// Records read (one per frame).
    pub records_count: u64,
    /// The last sequence number of its last record, if it holds one.
    pub last_seq: Option<SeqNo>,
    /// Its predecessor record, when a roll switched to it.
    pub predecessor: Option<PredecessorRecord>,
}

impl SegmentSummary {
    /// Where its last whole frame ends (its header's end when it has no
    /// frame): what a successor's predecessor record says.
    pub fn frames_end_bytes(&self) -> u64 {
        let header_bytes = if self.log.header.is_some() {
            LOG_HEADER_BYTES as u64
        } else {
            0
        };
        header_bytes + self.log.frames_count * FRAME_HEADER_BYTES as u64 + self.log.payload_bytes
    }
}

/// One segment checked by [`verify_segments`].
#[derive(Debug, Clone)]
pub struct SegmentVerdict {
    /// The segment's number.
    pub segment: u64,
    /// Its path.
    pub path: PathBuf,
    /// What it holds, or the error naming the damaged offset.
    pub result: Result<SegmentSummary>,
}

/// Verifies WAL segment `segment` of `dir`: its header names it, every
/// frame is intact, every record decodes and follows `after_seq` and the
/// record before it. A torn tail is damage unless `tail` allows it.
///
/// Damage is [`WalError::Log`] with a
/// [`Corruption`](seer_core::Corruption) naming the file and the offset of
/// the first bad frame (0 for the header).
pub fn verify_segment(
    fs: &dyn seer_core::FileSystem,
    dir: &Path,
    segment: u64,
    tail: TailRule,
    after_seq: Option<SeqNo>,
) -> Result<SegmentSummary> {
    let path = segment_path(dir, segment);
    let mut last_seq = after_seq;
    let mut predecessor = None;
    let log = verify_log(fs, &path, LogKind::Wal, tail, |frame| {
        if let SegmentFrame::Predecessor(record) = decode_frame(frame, &mut last_seq)? {
            predecessor = Some(record);
        }
        Ok(())
    })?;
    check_segment_header(&path, log.header, segment)?;
    let records_count = log.frames_count - u64::from(predecessor.is_some());
    Ok(SegmentSummary {
        segment,
        records_count,
        last_seq: last_seq.filter(|_| records_count > 0),
        predecessor,
        log,
    })
}

/// Verifies every segment of `dir` numbered `first_live` or above, in
/// number order: only the newest may end torn, each segment's records
/// must follow the previous segment's (after a damaged segment the order
/// check starts afresh), and a segment whose successor's predecessor
/// record names it must end where the record says (else its verdict is a
/// corruption at its end). Fails only when `dir` cannot be listed. A
/// segment listed but gone when read (deleted as obsolete meanwhile) is
/// left out.
pub fn verify_segments(
    fs: &dyn seer_core::FileSystem,
    dir: &Path,
    first_live: u64,
) -> Result<Vec<SegmentVerdict>> {
    let live: Vec<u64> = list_segments(fs, dir)?
        .into_iter()
        .filter(|&number| number >= first_live)
        .collect();
    let mut verdicts = Vec::with_capacity(live.len());
    let mut last_seq = None;
    for (index, &segment) in live.iter().enumerate() {
        let tail = if index + 1 == live.len() {
            TailRule::MayBeTorn
        } else {
            TailRule::MustBeWhole
        };
        let result = verify_segment(fs, dir, segment, tail, last_seq);
        if is_not_found(&result) {
            continue;
        }
        last_seq = match &result {
            Ok(summary) => summary.last_seq.or(last_seq),
            Err(_) => None,
        };
        if let (Ok(summary), Some(previous)) = (&result, verdicts.last_mut()) {
            check_predecessor(summary, previous);
        }
        verdicts.push(SegmentVerdict {
            segment,
            path: segment_path(dir, segment),
            result,
        });
    }
    Ok(verdicts)
}

/// Turns `previous`'s verdict into a corruption at its end when
/// `summary`'s predecessor record names it and says it ended elsewhere or
/// held a later sequence number (its tail was lost).
fn check_predecessor(summary: &SegmentSummary, previous: &mut SegmentVerdict) {
    let (Some(predecessor), Ok(read)) = (summary.predecessor, &previous.result) else {
        return;
    };
    let end_bytes = read.frames_end_bytes();
    if predecessor.segment != previous.segment {
        return;
    }
    let Some(detail) = lost_tail(summary.segment, predecessor, end_bytes, read.last_seq) else {
        return;
    };
    previous.result = Err(WalError::corruption(&previous.path, end_bytes, detail));
}

fn is_not_found(result: &Result<SegmentSummary>) -> bool {
    matches!(result, Err(WalError::Log(LogError::Io(io)))
        if io.source.kind() == std::io::ErrorKind::NotFound)
}

#[cfg(all(test, not(loom)))]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use bytes::Bytes;
    use seer_core::fault::FaultFileSystem;
    use seer_core::{Corruption, FileSystem};
    use seer_log::frame::{FRAME_HEADER_BYTES, LOG_HEADER_BYTES};
    use seer_log::{LogHeader, LogWriter};

    use super::*;
    use crate::record::{Record, WriteOp, WriteRecord};

    const DIR: &str = "/db";

    /// Writes segment `number` holding one put per sequence number of
    /// `seqs`; returns each frame's offset.
    pub(crate) fn write_segment(fs: &FaultFileSystem, number: u64, seqs: &[SeqNo]) -> Vec<u64> {
        fs.create_dir_all(Path::new(DIR)).unwrap();
        let header = LogHeader {
            kind: LogKind::Wal,
            file_number: number,
        };
        let path = segment_path(Path::new(DIR), number);
        let mut writer = LogWriter::create(fs, &path, header).unwrap();
        let mut offsets = Vec::new();
        for &seq in seqs {
            let write = WriteRecord::Single(WriteOp::Put {
                key: Bytes::from(format!("key{seq}")),
                value: Bytes::from_static(b"value"),
            });
            let mut payload = Vec::new();
            Record::from_write(write, seq).encode(&mut payload);
            offsets.push(writer.len_bytes());
            writer.add_frame(&payload).unwrap();
        }
        writer.sync().unwrap();
        offsets
    }

    fn overwrite(fs: &FaultFileSystem, path: &Path, bytes: &[u8]) {
        let mut file = fs.create(path).unwrap();
        file.append(bytes).unwrap();
        file.sync_all().unwrap();
    }

    fn corruption(result: &Result<SegmentSummary>) -> (&Path, u64) {
        match result {
            Err(WalError::Log(LogError::Corruption(Corruption { file, offset, .. }))) => {
                (file.as_path(), *offset)
            }
            other => panic!("expected a corruption, got {other:?}"),
        }
    }

    #[test]
    fn verify_counts_the_records_of_intact_segments_in_sequence_order() {
        let fs = FaultFileSystem::new();
        write_segment(&fs, 3, &[1, 2, 3]);
        write_segment(&fs, 4, &[4, 5]);
        write_segment(&fs, 2, &[]);
        let verdicts = verify_segments(&fs, Path::new(DIR), 3).unwrap();
        let counts: Vec<(u64, u64, Option<SeqNo>)> = verdicts
            .iter()
            .map(|v| {
                let summary = v.result.as_ref().unwrap();
                (v.segment, summary.records_count, summary.last_seq)
            })
            .collect();
        assert_eq!(counts, [(3, 3, Some(3)), (4, 2, Some(5))]);
    }

    #[test]
    fn a_flipped_byte_in_a_segment_is_corruption_naming_it_and_the_record_offset() {
        let fs = FaultFileSystem::new();
        let dir = Path::new(DIR);
        write_segment(&fs, 3, &[1, 2, 3]);
        let offsets = write_segment(&fs, 4, &[4, 5, 6]);
        let path = segment_path(dir, 4);
        let intact = fs.file_content(&path).unwrap();
        for (index, &offset) in offsets.iter().enumerate() {
            let mut damaged = intact.clone();
            damaged[offset as usize + FRAME_HEADER_BYTES + 1] ^= 0x04;
            overwrite(&fs, &path, &damaged);
            let verdicts = verify_segments(&fs, dir, 0).unwrap();
            assert!(verdicts[0].result.is_ok());
            assert_eq!(
                corruption(&verdicts[1].result),
                (path.as_path(), offset),
                "record {index}"
            );
        }
        overwrite(&fs, &path, &intact);
        assert!(verify_segments(&fs, dir, 0)
            .unwrap()
            .iter()
            .all(|v| v.result.is_ok()));
    }

    #[test]
    fn only_the_newest_segment_may_end_torn() {
        let fs = FaultFileSystem::new();
        let dir = Path::new(DIR);
        let offsets = write_segment(&fs, 3, &[1, 2, 3]);
        let path = segment_path(dir, 3);
        let intact = fs.file_content(&path).unwrap();
        overwrite(&fs, &path, &intact[..intact.len() - 3]);
        let verdicts = verify_segments(&fs, dir, 0).unwrap();
        let summary = verdicts[0].result.as_ref().unwrap();
        assert_eq!(summary.records_count, 2);
        assert_eq!(
            summary.log.torn_tail_bytes,
            intact.len() as u64 - 3 - offsets[2]
        );
        write_segment(&fs, 4, &[4]);
        let verdicts = verify_segments(&fs, dir, 0).unwrap();
        assert_eq!(
            corruption(&verdicts[0].result),
            (path.as_path(), offsets[2])
        );
        assert!(verdicts[1].result.is_ok());
    }

    /// Segment 4 starts with a predecessor record saying segment 3 ended
    /// after its third record; segment 3 as read ends after its second (a
    /// tail lost before the roll): segment 3's verdict is a corruption at
    /// its end, segment 4's is intact.
    #[test]
    fn a_segment_that_ends_before_its_successors_predecessor_record_says_is_corruption() {
        let fs = FaultFileSystem::new();
        let dir = Path::new(DIR);
        let offsets = write_segment(&fs, 3, &[1, 2, 3]);
        let path = segment_path(dir, 3);
        let intact = fs.file_content(&path).unwrap();
        let header = LogHeader {
            kind: LogKind::Wal,
            file_number: 4,
        };
        let mut writer = LogWriter::create(&fs, &segment_path(dir, 4), header).unwrap();
        let mut payload = Vec::new();
        PredecessorRecord {
            segment: 3,
            length_bytes: intact.len() as u64,
            last_seq: 3,
        }
        .encode(&mut payload);
        writer.add_frame(&payload).unwrap();
        writer.sync().unwrap();
        let verdicts = verify_segments(&fs, dir, 0).unwrap();
        assert!(verdicts.iter().all(|v| v.result.is_ok()), "{verdicts:?}");
        let summary = verdicts[1].result.as_ref().unwrap();
        assert_eq!((summary.records_count, summary.last_seq), (0, None));
        overwrite(&fs, &path, &intact[..offsets[2] as usize]);
        let verdicts = verify_segments(&fs, dir, 0).unwrap();
        assert_eq!(
            corruption(&verdicts[0].result),
            (path.as_path(), offsets[2])
        );
        assert!(verdicts[1].result.is_ok());
    }

    #[test]
    fn records_out_of_sequence_order_and_a_misnamed_header_are_corruption() {
        let fs = FaultFileSystem::new();
        let dir = Path::new(DIR);
        write_segment(&fs, 3, &[5, 6]);
        let offsets = write_segment(&fs, 4, &[6, 7]);
        let verdicts = verify_segments(&fs, dir, 0).unwrap();
        let path = segment_path(dir, 4);
        assert_eq!(
            corruption(&verdicts[1].result),
            (path.as_path(), offsets[0])
        );
        assert_eq!(offsets[0], LOG_HEADER_BYTES as u64);
        let renamed = segment_path(dir, 9);
        fs.rename(&path, &renamed).unwrap();
        let result = verify_segment(&fs, dir, 9, TailRule::MayBeTorn, None);
        assert_eq!(corruption(&result), (renamed.as_path(), 0));
    }
}
