//! Replaying WAL segments after a restart.
//!
//! [`WalRecovery`] reads the live segments in number order and yields their
//! records in sequence order (WAL order is sequence order, and recovery
//! checks it). The [`WalRecoveryReport`] tells the owner where the log ended:
//! the last sequence number (so the pipeline continues after it), a torn
//! tail to truncate, a point-in-time stop, or skipped ranges.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use seer_core::{FileSystem, SeqNo};
use seer_log::frame::LOG_HEADER_BYTES;
use seer_log::{LogEnd, LogHeader, LogKind, LogReader, SkippedRange};

use crate::error::{Result, WalError};
use crate::record::Record;
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

/// Reads the records of one segment, checking sequence order.
#[derive(Debug)]
pub struct SegmentReader {
    reader: LogReader,
}

impl SegmentReader {
    /// Wraps a reader of one WAL segment.
    pub fn new(reader: LogReader) -> Self {
        Self { reader }
    }

    /// Reads the WAL segment at `path` (a [`LogKind::Wal`] log) under `mode`.
    pub fn open(fs: &dyn FileSystem, path: &Path, mode: WalRecoveryMode) -> Result<Self> {
        Ok(Self::new(LogReader::open(fs, path, LogKind::Wal, mode)?))
    }

    /// The next record whose first sequence number is above `*last_seq`
    /// (which it then advances), or `None` at the segment's end.
    pub fn next_record(&mut self, last_seq: &mut Option<SeqNo>) -> Result<Option<Record>> {
        while let Some(frame) = self.reader.next_frame()? {
            match next_in_sequence(&frame.payload, last_seq) {
                Ok(record) => return Ok(Some(record)),
                Err(problem) => self.reader.reject_frame(frame.offset, problem)?,
            }
        }
        Ok(None)
    }

    /// The underlying frame reader.
    pub fn log(&self) -> &LogReader {
        &self.reader
    }
}

/// Decodes the record in `payload` and checks that it follows `*last_seq`
/// (which it then advances); `Err` says what is wrong with the frame.
pub(crate) fn next_in_sequence(
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

/// Replays the WAL segments of a directory; an iterator of records.
#[derive(Debug)]
pub struct WalRecovery<'fs> {
    fs: &'fs dyn FileSystem,
    dir: PathBuf,
    mode: WalRecoveryMode,
    pending: VecDeque<u64>,
    current: Option<(u64, SegmentReader)>,
    report: WalRecoveryReport,
    failed: bool,
}

impl<'fs> WalRecovery<'fs> {
    /// Prepares to replay the segments of `dir` numbered `first_live` or
    /// above (older ones are already in tables).
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
        let segment = SegmentReader::open(self.fs, &path, self.mode)?;
        check_segment_header(&path, segment.log().header(), number)?;
        self.report.segments.push(number);
        self.current = Some((number, segment));
        Ok(())
    }

    fn close_segment(&mut self) -> Result<()> {
        let Some((number, segment)) = self.current.take() else {
            return Ok(());
        };
        let log = segment.log();
        self.report.skipped.extend_from_slice(log.skipped());
        let newest = self.pending.is_empty();
        match log.end() {
            Some(LogEnd::TornTail { offset }) if newest => {
                self.report.torn_tail = Some(TornTail {
                    segment: number,
                    file: log.path().to_owned(),
                    offset: *offset,
                });
            }
            Some(LogEnd::TornTail { offset }) if self.mode == WalRecoveryMode::SkipCorrupted => {
                self.report.skipped.push(SkippedRange {
                    file: log.path().to_owned(),
                    start: *offset,
                    end: log.len_bytes(),
                    detail: "torn record in a segment that is not the newest".to_owned(),
                });
            }
            Some(LogEnd::TornTail { offset }) if self.mode == WalRecoveryMode::PointInTime => {
                self.stop(
                    log.path(),
                    *offset,
                    "torn record in a segment that is not the newest".to_owned(),
                );
            }
            Some(LogEnd::TornTail { offset }) => {
                return Err(WalError::corruption(
                    log.path(),
                    *offset,
                    "torn record in a segment that is not the newest",
                ));
            }
            Some(LogEnd::Stopped { offset, detail }) => {
                self.stop(log.path(), *offset, detail.clone())
            }
            Some(LogEnd::Clean | LogEnd::Reserved { .. }) | None => {}
        }
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
