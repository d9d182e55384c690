//! Replaying WAL segments after a restart.
//!
//! [`WalRecovery`] reads the live segments in number order and yields their
//! records in sequence order (WAL order is sequence order, and recovery
//! checks it). The [`WalRecoveryReport`] tells the owner where the log ended:
//! the last sequence number (so the pipeline continues after it), a torn
//! tail to truncate, a point-in-time stop, or skipped ranges.
//!
//! A segment a roll switched to starts with a [`PredecessorRecord`] saying
//! where the segment before it ended. When that segment ends earlier (its
//! unsynced tail lost to a power loss before the roll's background sync of
//! it), or when any segment but the newest ends torn, the
//! log ends at its last valid record: one rule for both, per mode in
//! [`WalRecovery::open`]'s doc. The owner must make the segments past that
//! point impossible to replay before it logs anew (seer-db moves its log
//! number past them and deletes them), or a later recovery would stop at
//! the same point and drop what was written after this one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use seer_core::{FileSystem, SeqNo};
use seer_log::frame::{FRAME_HEADER_BYTES, LOG_HEADER_BYTES};
use seer_log::{Frame, LogEnd, LogHeader, LogKind, LogReader, SkippedRange};

use crate::error::{Result, WalError};
use crate::record::{PredecessorRecord, Record};
use crate::segment::{list_segments, segment_path};
use crate::WalRecoveryMode;

/// A torn final record of the newest segment, dropped by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment's number.
    pub segment: u64,
    /// The segment's path.
    pub file: PathBuf,
    /// Length of the segment's valid prefix; bytes from here on are torn.
    pub offset: u64,
}

/// Where [`WalRecoveryMode::PointInTime`] stopped replaying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopPoint {
    /// The damaged file.
    pub file: PathBuf,
    /// The damaged offset.
    pub offset: u64,
    /// What was wrong.
    pub detail: String,
}

/// What replaying the WAL segments found (the manifest's replay is
/// seer-compaction's `ManifestRecoveryReport`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalRecoveryReport {
    /// Segments whose records were replayed (fully or up to a stop).
    pub segments: Vec<u64>,
    /// Segments after a point-in-time stop, not replayed.
    pub ignored_segments: Vec<u64>,
    /// Records replayed.
    pub records_count: u64,
    /// The last sequence number replayed, if any record was.
    pub last_seq: Option<SeqNo>,
    /// A torn tail of the newest segment that the owner should truncate
    /// (with [`truncate_torn_tail`]) before logging anew.
    pub torn_tail: Option<TornTail>,
    /// Where point-in-time recovery stopped.
    pub stopped_at: Option<StopPoint>,
    /// Ranges skipped under [`WalRecoveryMode::SkipCorrupted`].
    pub skipped: Vec<SkippedRange>,
}

/// Reads the records of one segment, checking sequence order, and the
/// [`PredecessorRecord`] it starts with when a roll switched to it.
#[derive(Debug)]
pub struct SegmentReader {
    reader: LogReader,
    /// The first frame, read ahead by [`Self::predecessor`] when it is not
    /// a predecessor record.
    read_ahead: Option<Frame>,
    first_frame_read: bool,
    predecessor: Option<PredecessorRecord>,
    /// Where the last valid frame read ends (the header's end before one).
    frames_end_bytes: u64,
}

impl SegmentReader {
    /// Wraps a reader of one WAL segment.
    pub fn new(reader: LogReader) -> Self {
        let frames_end_bytes = if reader.header().is_some() {
            LOG_HEADER_BYTES as u64
        } else {
            0
        };
        Self {
            reader,
            read_ahead: None,
            first_frame_read: false,
            predecessor: None,
            frames_end_bytes,
        }
    }

    /// Reads the WAL segment at `path` (a [`LogKind::Wal`] log) under `mode`.
    pub fn open(fs: &dyn FileSystem, path: &Path, mode: WalRecoveryMode) -> Result<Self> {
        Ok(Self::new(LogReader::open(fs, path, LogKind::Wal, mode)?))
    }

    /// The segment's predecessor record, if its first frame is one (a
    /// segment a roll switched to); reads that frame if no record was read
    /// yet. A predecessor record that does not decode is corruption, as
    /// for any record.
    pub fn predecessor(&mut self) -> Result<Option<PredecessorRecord>> {
        if !self.first_frame_read {
            self.first_frame_read = true;
            let first = self.next_frame()?;
            match first {
                Some(frame) if PredecessorRecord::is_predecessor(&frame.payload) => {
                    self.accept(frame, &mut None)?;
                }
                other => self.read_ahead = other,
            }
        }
        Ok(self.predecessor)
    }

    /// The next record whose first sequence number is above `*last_seq`
    /// (which it then advances), or `None` at the segment's end.
    pub fn next_record(&mut self, last_seq: &mut Option<SeqNo>) -> Result<Option<Record>> {
        self.predecessor()?;
        loop {
            let frame = match self.read_ahead.take() {
                Some(frame) => frame,
                None => match self.next_frame()? {
                    Some(frame) => frame,
                    None => return Ok(None),
                },
            };
            if let Some(record) = self.accept(frame, last_seq)? {
                return Ok(Some(record));
            }
        }
    }

    /// The underlying frame reader.
    pub fn log(&self) -> &LogReader {
        &self.reader
    }

    /// Where the segment's last valid frame read so far ends: once the
    /// records are read, the segment's length as recovery sees it (what a
    /// successor's [`PredecessorRecord::length_bytes`] is checked against).
    pub fn frames_end_bytes(&self) -> u64 {
        self.frames_end_bytes
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let frame = self.reader.next_frame()?;
        if let Some(frame) = &frame {
            self.frames_end_bytes =
                frame.offset + (FRAME_HEADER_BYTES + frame.payload.len()) as u64;
        }
        Ok(frame)
    }

    /// Decodes `frame`: its record, or `None` for the predecessor record
    /// (kept) or a frame the mode skips.
    fn accept(&mut self, frame: Frame, last_seq: &mut Option<SeqNo>) -> Result<Option<Record>> {
        match decode_frame(&frame, last_seq) {
            Ok(SegmentFrame::Record(record)) => Ok(Some(record)),
            Ok(SegmentFrame::Predecessor(predecessor)) => {
                self.predecessor = Some(predecessor);
                Ok(None)
            }
            Err(problem) => {
                self.reader.reject_frame(frame.offset, problem)?;
                Ok(None)
            }
        }
    }
}

/// What is wrong when segment `successor`'s `predecessor` record does not
/// match its predecessor as read, which ends at `end_bytes` with
/// `last_seq`: `None` when it ends where the record says and holds no
/// later sequence number.
pub(crate) fn lost_tail(
    successor: u64,
    predecessor: PredecessorRecord,
    end_bytes: u64,
    last_seq: Option<SeqNo>,
) -> Option<String> {
    let intact = end_bytes == predecessor.length_bytes
        && last_seq.is_none_or(|last| last <= predecessor.last_seq);
    (!intact).then(|| {
        format!(
            "segment {successor}'s predecessor record says this segment ended at byte {} \
             (last sequence {}); it ends at byte {end_bytes}",
            predecessor.length_bytes, predecessor.last_seq
        )
    })
}

/// One decoded frame of a segment.
pub(crate) enum SegmentFrame {
    /// A record.
    Record(Record),
    /// The predecessor record a segment a roll switched to starts with.
    Predecessor(PredecessorRecord),
}

/// Decodes `frame` of a segment: a predecessor record, which only the
/// segment's first frame may be, or a record that must follow `*last_seq`
/// (which it then advances); `Err` says what is wrong with the frame.
pub(crate) fn decode_frame(
    frame: &Frame,
    last_seq: &mut Option<SeqNo>,
) -> std::result::Result<SegmentFrame, String> {
    if !PredecessorRecord::is_predecessor(&frame.payload) {
        return next_in_sequence(&frame.payload, last_seq).map(SegmentFrame::Record);
    }
    if frame.offset != LOG_HEADER_BYTES as u64 {
        return Err("a predecessor record past the segment's first frame".to_owned());
    }
    PredecessorRecord::decode(&frame.payload)
        .map(SegmentFrame::Predecessor)
        .map_err(|error| format!("bad WAL predecessor record: {error}"))
}

/// Decodes the record in `payload` and checks that it follows `*last_seq`
/// (which it then advances); `Err` says what is wrong with the frame.
fn next_in_sequence(
    payload: &Bytes,
    last_seq: &mut Option<SeqNo>,
) -> std::result::Result<Record, String> {
    let record = Record::decode(payload).map_err(|error| format!("bad WAL record: {error}"))?;
    if let Some(last) = last_seq.filter(|&last| record.first_seq() <= last) {
        return Err(format!(
            "sequence {} does not follow {last}",
            record.first_seq()
        ));
    }
    *last_seq = Some(record.last_seq());
    Ok(record)
}

/// Checks that segment `number`'s header (when it has one) names it.
pub(crate) fn check_segment_header(
    path: &Path,
    header: Option<LogHeader>,
    number: u64,
) -> Result<()> {
    match header {
        Some(header) if header.file_number != number => {
            let detail = format!(
                "header names segment {}, file name says {number}",
                header.file_number
            );
            Err(WalError::corruption(path, 0, detail))
        }
        _ => Ok(()),
    }
}

/// Where a segment replayed ended, for its successor's predecessor check.
#[derive(Debug)]
struct SegmentEnd {
    number: u64,
    file: PathBuf,
    frames_end_bytes: u64,
    /// A torn tail of it was already reported as skipped.
    torn_skipped: bool,
}

/// Replays the WAL segments of a directory; an iterator of records.
#[derive(Debug)]
pub struct WalRecovery<'fs> {
    fs: &'fs dyn FileSystem,
    dir: PathBuf,
    mode: WalRecoveryMode,
    pending: VecDeque<u64>,
    current: Option<(u64, SegmentReader)>,
    /// The segment replayed last, once closed.
    previous: Option<SegmentEnd>,
    report: WalRecoveryReport,
    failed: bool,
}

impl<'fs> WalRecovery<'fs> {
    /// Prepares to replay the segments of `dir` numbered `first_live` or
    /// above (older ones are already in tables).
    ///
    /// Where the log's records end before the newest segment (a torn tail
    /// of an older segment, or a tail its successor's predecessor record
    /// shows was lost, see the module doc), `TolerateCorruptedTail` and
    /// `PointInTime` stop there (the report's `stopped_at` names the file
    /// and offset; the later segments are `ignored_segments`),
    /// `SkipCorrupted` skips the lost range and goes on, and
    /// `AbsoluteConsistency` fails with a corruption naming the file and
    /// offset. A predecessor record naming a segment not replayed (below
    /// `first_live`, or deleted as obsolete) is not checked.
    pub fn open(
        fs: &'fs dyn FileSystem,
        dir: &Path,
        first_live: u64,
        mode: WalRecoveryMode,
    ) -> Result<Self> {
        let pending = list_segments(fs, dir)?
            .into_iter()
            .filter(|&n| n >= first_live)
            .collect();
        Ok(Self {
            fs,
            dir: dir.to_owned(),
            mode,
            pending,
            current: None,
            previous: None,
            report: WalRecoveryReport::default(),
            failed: false,
        })
    }

    /// The next record in sequence order, `None` when replay is done.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if self.failed {
            return Ok(None);
        }
        let result = self.advance();
        self.failed = result.is_err();
        result
    }

    /// What recovery found; call after the last record.
    pub fn report(&self) -> &WalRecoveryReport {
        &self.report
    }

    /// Consumes the replay, returning its report.
    pub fn into_report(self) -> WalRecoveryReport {
        self.report
    }

    fn advance(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some((_, segment)) = &mut self.current {
                if let Some(record) = segment.next_record(&mut self.report.last_seq)? {
                    self.report.records_count += 1;
                    return Ok(Some(record));
                }
                self.close_segment()?;
            }
            let Some(number) = self.pending.pop_front() else {
                return Ok(None);
            };
            self.open_segment(number)?;
        }
    }

    fn open_segment(&mut self, number: u64) -> Result<()> {
        let path = segment_path(&self.dir, number);
        let mut segment = SegmentReader::open(self.fs, &path, self.mode)?;
        check_segment_header(&path, segment.log().header(), number)?;
        if let Some(predecessor) = segment.predecessor()? {
            if !self.follows_previous(number, predecessor)? {
                return Ok(());
            }
        }
        self.report.segments.push(number);
        self.current = Some((number, segment));
        Ok(())
    }

    /// Checks segment `number`'s predecessor record against the segment
    /// replayed before it. When that one ends elsewhere than the record says
    /// (a lost tail), the log ends at its last valid record, as at a torn
    /// tail of an older segment (see [`Self::end_before`]); returns whether
    /// replay goes on with `number`. A predecessor that was not replayed
    /// (below the first live segment, or deleted once its records were in
    /// tables) is not checked.
    fn follows_previous(&mut self, number: u64, predecessor: PredecessorRecord) -> Result<bool> {
        let Some(previous) = self
            .previous
            .as_ref()
            .filter(|previous| previous.number == predecessor.segment)
        else {
            return Ok(true);
        };
        if previous.torn_skipped {
            return Ok(true);
        }
        let (file, offset) = (previous.file.clone(), previous.frames_end_bytes);
        let Some(detail) = lost_tail(number, predecessor, offset, self.report.last_seq) else {
            return Ok(true);
        };
        let end = predecessor.length_bytes.max(offset);
        let stopped = self.end_before(&file, offset, end, detail)?;
        if stopped {
            self.report.ignored_segments.insert(0, number);
        }
        Ok(!stopped)
    }

    /// The log's records end at `offset` of `file`, a segment before the
    /// newest (a torn tail of an older segment, or a tail its successor's
    /// predecessor record shows was lost): under `TolerateCorruptedTail`
    /// and `PointInTime` replay stops there and the segments still pending
    /// are ignored (returns `true`); under `SkipCorrupted` the range up to
    /// `end` is skipped and replay goes on (`false`); under
    /// `AbsoluteConsistency` it is corruption.
    fn end_before(&mut self, file: &Path, offset: u64, end: u64, detail: String) -> Result<bool> {
        match self.mode {
            WalRecoveryMode::SkipCorrupted => {
                self.report.skipped.push(SkippedRange {
                    file: file.to_owned(),
                    start: offset,
                    end,
                    detail,
                });
                Ok(false)
            }
            WalRecoveryMode::TolerateCorruptedTail | WalRecoveryMode::PointInTime => {
                self.stop(file, offset, detail);
                Ok(true)
            }
            WalRecoveryMode::AbsoluteConsistency => Err(WalError::corruption(file, offset, detail)),
        }
    }

    fn close_segment(&mut self) -> Result<()> {
        let Some((number, segment)) = self.current.take() else {
            return Ok(());
        };
        let frames_end_bytes = segment.frames_end_bytes();
        let log = segment.log();
        let file = log.path().to_owned();
        self.report.skipped.extend_from_slice(log.skipped());
        let mut torn_skipped = false;
        match (log.end(), self.pending.is_empty()) {
            (Some(LogEnd::TornTail { offset }), true) => {
                self.report.torn_tail = Some(TornTail {
                    segment: number,
                    file: file.clone(),
                    offset: *offset,
                });
            }
            (Some(LogEnd::TornTail { offset }), false) => {
                let detail = "torn record in a segment that is not the newest".to_owned();
                let (offset, end) = (*offset, log.len_bytes());
                torn_skipped = !self.end_before(&file, offset, end, detail)?;
            }
            (Some(LogEnd::Stopped { offset, detail }), _) => {
                let (offset, detail) = (*offset, detail.clone());
                self.stop(&file, offset, detail);
            }
            (Some(LogEnd::Clean | LogEnd::Reserved { .. }) | None, _) => {}
        }
        self.previous = Some(SegmentEnd {
            number,
            file,
            frames_end_bytes,
            torn_skipped,
        });
        Ok(())
    }

    fn stop(&mut self, file: &Path, offset: u64, detail: String) {
        self.report.stopped_at = Some(StopPoint {
            file: file.to_owned(),
            offset,
            detail,
        });
        self.report.ignored_segments.extend(self.pending.drain(..));
    }
}

impl Iterator for WalRecovery<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Cuts a torn segment back to its valid prefix (removing it when not even
/// its header survived), so that it reads clean once newer segments exist.
pub fn truncate_torn_tail(fs: &dyn FileSystem, torn: &TornTail) -> Result<()> {
    let result = if torn.offset < LOG_HEADER_BYTES as u64 {
        fs.remove_file(&torn.file)
    } else {
        fs.truncate(&torn.file, torn.offset)
    };
    result.map_err(|e| WalError::io(&torn.file, e))
}

#[cfg(all(test, not(loom)))]
#[path = "recovery_tests.rs"]
mod tests;
