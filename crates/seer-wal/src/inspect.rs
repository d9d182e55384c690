//! [`SegmentInspector`]: a read-only walk over one WAL segment file for
//! tools (`seer wal`), which lists every record with its offset and
//! sequence numbers and reports, instead of failing on, what is wrong.
//!
//! Unlike recovery and [`verify_segment`](crate::verify_segment), which stop
//! at the first damage, the inspector reads under
//! [`WalRecoveryMode::SkipCorrupted`]: damaged frames, payloads that do not
//! decode, records out of sequence order and a header that names another
//! segment are each reported as a damaged range and reading goes on after
//! them; a torn tail ends the walk as
//! [`LogEnd::TornTail`](seer_log::LogEnd::TornTail). It writes
//! nothing and takes no lock.

use std::path::Path;

use seer_core::filename::parse_file_name;
use seer_core::{FileKind, FileSystem, SeqNo};
use seer_log::frame::LOG_HEADER_BYTES;
use seer_log::{LogKind, LogReader, SkippedRange};

use crate::error::{Result, WalError};
use crate::record::{PredecessorRecord, Record};
use crate::recovery::{check_segment_header, decode_frame, SegmentFrame};
use crate::WalRecoveryMode;

/// One record of a segment, as [`SegmentInspector::next_record`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedRecord {
    /// Byte offset of the record's frame in the file.
    pub offset: u64,
    /// The record (its sequence numbers are
    /// [`Record::first_seq`]..=[`Record::last_seq`]).
    pub record: Record,
}

/// Reads the records of one WAL segment file, reporting damage instead of
/// failing on it (see the module documentation).
#[derive(Debug)]
pub struct SegmentInspector {
    reader: LogReader,
    last_seq: Option<SeqNo>,
    predecessor: Option<PredecessorRecord>,
    /// A header naming another segment than the file name does.
    header_damage: Option<SkippedRange>,
}

impl SegmentInspector {
    /// Opens the segment at `path`. Fails when the file cannot be read or
    /// holds another kind of log (a manifest, say); any other damage is
    /// reported by [`Self::damage`] once the records are read.
    pub fn open(fs: &dyn FileSystem, path: &Path) -> Result<Self> {
        let reader = LogReader::open(fs, path, LogKind::Wal, WalRecoveryMode::SkipCorrupted)?;
        let named = path
            .file_name()
            .and_then(|name| parse_file_name(&name.to_string_lossy()));
        let header_damage = match named {
            Some((FileKind::Wal, number)) => {
                match check_segment_header(path, reader.header(), number) {
                    Ok(()) => None,
                    Err(error) => Some(SkippedRange {
                        file: path.to_owned(),
                        start: 0,
                        end: LOG_HEADER_BYTES as u64,
                        detail: corruption_detail(error),
                    }),
                }
            }
            _ => None,
        };
        Ok(Self {
            reader,
            last_seq: None,
            predecessor: None,
            header_damage,
        })
    }

    /// The next intact record in sequence order, or `None` at the end of
    /// the file (see [`Self::log`]).
    pub fn next_record(&mut self) -> Result<Option<InspectedRecord>> {
        while let Some(frame) = self.reader.next_frame()? {
            match decode_frame(&frame, &mut self.last_seq) {
                Ok(SegmentFrame::Record(record)) => {
                    return Ok(Some(InspectedRecord {
                        offset: frame.offset,
                        record,
                    }))
                }
                Ok(SegmentFrame::Predecessor(predecessor)) => self.predecessor = Some(predecessor),
                Err(problem) => self.reader.reject_frame(frame.offset, problem)?,
            }
        }
        Ok(None)
    }

    /// The segment's predecessor record (its first frame, when a roll
    /// switched to it), once [`Self::next_record`] read past it.
    pub fn predecessor(&self) -> Option<PredecessorRecord> {
        self.predecessor
    }

    /// The underlying frame reader: the file's header and length, and,
    /// once [`Self::next_record`] returned `None`, how the file ended (a clean
    /// end, the zeros of a preallocated reservation, or a torn tail).
    pub fn log(&self) -> &LogReader {
        &self.reader
    }

    /// Every damaged range found so far, in file order: a header naming
    /// another segment, bad frames, records that do not decode or are out
    /// of sequence order.
    pub fn damage(&self) -> Vec<SkippedRange> {
        self.header_damage
            .iter()
            .chain(self.reader.skipped())
            .cloned()
            .collect()
    }
}

/// The detail of a corruption error, or the whole error's text otherwise.
fn corruption_detail(error: WalError) -> String {
    match error {
        WalError::Log(seer_log::LogError::Corruption(corruption)) => corruption.detail,
        other => other.to_string(),
    }
}

#[cfg(all(test, not(loom)))]
#[allow(clippy::unwrap_used)]
mod tests {
    use seer_core::fault::FaultFileSystem;
    use seer_log::frame::FRAME_HEADER_BYTES;
    use seer_log::LogEnd;

    use super::*;
    use crate::segment_path;

    /// Writes segment 5 of `/db` with one put per sequence number of
    /// `seqs` (verify's test helper); returns its path and each frame's
    /// offset.
    fn write_segment(fs: &FaultFileSystem, seqs: &[SeqNo]) -> (std::path::PathBuf, Vec<u64>) {
        let offsets = crate::verify::tests::write_segment(fs, 5, seqs);
        (segment_path(Path::new("/db"), 5), offsets)
    }

    fn read_all(fs: &FaultFileSystem, path: &Path) -> (Vec<(u64, SeqNo)>, SegmentInspector) {
        let mut inspector = SegmentInspector::open(fs, path).unwrap();
        let mut records = Vec::new();
        while let Some(read) = inspector.next_record().unwrap() {
            records.push((read.offset, read.record.first_seq()));
        }
        (records, inspector)
    }

    fn overwrite(fs: &FaultFileSystem, path: &Path, bytes: &[u8]) {
        let mut file = fs.create(path).unwrap();
        file.append(bytes).unwrap();
        file.sync_all().unwrap();
    }

    #[test]
    fn inspecting_lists_every_record_with_its_offset_and_reads_past_a_damaged_one() {
        let fs = FaultFileSystem::new();
        let (path, offsets) = write_segment(&fs, &[1, 2, 3]);
        let (records, inspector) = read_all(&fs, &path);
        assert_eq!(records, [(offsets[0], 1), (offsets[1], 2), (offsets[2], 3)]);
        assert_eq!(inspector.log().end(), Some(&LogEnd::Clean));
        assert!(inspector.damage().is_empty());

        let mut damaged = fs.file_content(&path).unwrap();
        damaged[offsets[1] as usize + FRAME_HEADER_BYTES + 1] ^= 0x10;
        overwrite(&fs, &path, &damaged);
        let (records, inspector) = read_all(&fs, &path);
        assert_eq!(records, [(offsets[0], 1), (offsets[2], 3)]);
        let damage = inspector.damage();
        assert_eq!(damage.len(), 1);
        assert_eq!((damage[0].start, damage[0].end), (offsets[1], offsets[2]));
    }

    #[test]
    fn inspecting_reports_a_torn_tail_and_a_header_naming_another_segment() {
        let fs = FaultFileSystem::new();
        let (path, offsets) = write_segment(&fs, &[7, 8]);
        let intact = fs.file_content(&path).unwrap();
        overwrite(&fs, &path, &intact[..intact.len() - 2]);
        let (records, inspector) = read_all(&fs, &path);
        assert_eq!(records, [(offsets[0], 7)]);
        assert_eq!(
            inspector.log().end(),
            Some(&LogEnd::TornTail { offset: offsets[1] })
        );

        let renamed = segment_path(Path::new("/db"), 9);
        overwrite(&fs, &renamed, &intact);
        let (records, inspector) = read_all(&fs, &renamed);
        assert_eq!(records.len(), 2);
        let damage = inspector.damage();
        assert_eq!(damage.len(), 1);
        assert!(damage[0].detail.contains("names segment 5"), "{damage:?}");
    }
}
