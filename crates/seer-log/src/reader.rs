//! [`LogReader`]: iterates the frames of one log file (written by
//! [`LogWriter`](crate::LogWriter) after a [`LogHeader`]) and decides, per
//! [`RecoveryMode`], what a damaged region means.
//!
//! Nothing here knows what the payloads are: the WAL reads its records and
//! the manifest its version edits through the same reader.
//!
//! A damaged region starts at the first byte that is not a whole, correctly
//! checksummed frame (or at byte 0 when the file header is bad). It is a
//! *torn tail* (a write cut short by a crash) only when no valid frame
//! starts anywhere after it and either
//!
//! - the damaged unit is incomplete: the file header or the frame header is
//!   cut (a file header whose start is followed only by zeros to the end
//!   of a longer file counts as cut: its write was cut short after the
//!   writer reserved the space), or the frame's declared `len` runs past
//!   the end of the file (and
//!   the frame is not a whole final frame whose `len` field alone is
//!   damaged, which its checksum tells: see
//!   `frame::is_whole_final_frame_with_damaged_len`); or
//! - every byte from its start to the end of the file is zero (a file system
//!   extended the file after a power loss but never wrote the data).
//!
//! A *preallocated* log (header flag [`LOG_FLAG_PREALLOCATED`]: its writer
//! reserved zeroed space ahead of its frames) has two more rules, for the
//! zeros its reservation leaves:
//!
//! - zeros from a frame boundary to the end of the file are the unused
//!   reservation, a clean end ([`LogEnd::Reserved`]) under every mode;
//! - a damaged final frame whose bytes are zero from some byte inside it to
//!   the end of the file is a torn tail: a crash (or a short write) kept
//!   the start of its write, and the reservation's zeros follow. The price:
//!   a final frame damaged after it was written whose last bytes happen to
//!   be zero reads as torn too, where a log without preallocation calls it
//!   corruption.
//!
//! Anything else is *corruption* at that offset, even in the final frame: a
//! whole frame whose checksum fails was written completely and then
//! damaged, so dropping it would silently lose an acknowledged record.
//!
//! Looking for a valid frame after the damage hashes, at each later offset,
//! as many bytes as the length read there claims, which on a large damaged
//! region whose bytes look like lengths is quadratic. The search is
//! therefore bounded: a reader hashes at most
//! [`RESYNC_HASH_BYTES_PER_FILE_BYTE`] bytes per byte of its file plus
//! [`RESYNC_HASH_FLOOR_BYTES`] while looking for valid frames after damage
//! (and for the checksum of a whole final frame with a damaged `len`). A
//! candidate that would exceed what is left is not hashed. When such an
//! unchecked candidate leaves the question open, the damage is never taken
//! for a torn tail: it is corruption, whose detail says the search stopped
//! (reopen with [`RecoveryMode::PointInTime`] to drop it), so a limit
//! never drops an acknowledged record silently.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use seer_core::FileSystem;

use crate::error::{LogError, Result};
use crate::frame::{
    check_frame, declared_frame_end, frame_covered_bytes, frame_extent,
    is_whole_final_frame_with_damaged_len, FrameExtent, LogHeader, LogKind, LOG_FLAG_PREALLOCATED,
    LOG_HEADER_BYTES,
};
use crate::mode::RecoveryMode;

/// Bytes the search for valid frames after damage may hash per byte of the
/// file (see the module documentation).
pub const RESYNC_HASH_BYTES_PER_FILE_BYTE: u64 = 16;
/// Bytes the search for valid frames after damage may always hash, however
/// small the file.
pub const RESYNC_HASH_FLOOR_BYTES: u64 = 256 << 20;

/// One frame read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Byte offset of the frame's header in the file.
    pub offset: u64,
    /// The payload, a zero-copy slice of the file's bytes.
    pub payload: Bytes,
}

/// How reading one log file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// Every byte was a valid frame.
    Clean,
    /// The frames of a preallocated log end at `offset`; the bytes after it
    /// are zeros of its unused reservation (a clean end, not damage).
    Reserved {
        /// Where the frames end.
        offset: u64,
    },
    /// Bytes from `offset` on are a torn write: an incomplete final frame
    /// (or file header), or bytes that are all zero.
    TornTail {
        /// Where the valid prefix ends.
        offset: u64,
    },
    /// [`RecoveryMode::PointInTime`] stopped at damage that is not a torn
    /// tail.
    Stopped {
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        detail: String,
    },
}

/// A damaged byte range that [`RecoveryMode::SkipCorrupted`] skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRange {
    /// The file.
    pub file: PathBuf,
    /// First skipped byte.
    pub start: u64,
    /// First byte after the skipped range.
    pub end: u64,
    /// What was wrong.
    pub detail: String,
}

/// Iterates the frames of one log file under a recovery mode.
#[derive(Debug)]
pub struct LogReader {
    path: PathBuf,
    bytes: Bytes,
    pos: usize,
    mode: RecoveryMode,
    header: Option<LogHeader>,
    /// Whether the header has [`LOG_FLAG_PREALLOCATED`].
    preallocated: bool,
    end: Option<LogEnd>,
    skipped: Vec<SkippedRange>,
    /// Where the bytes that are zero up to the end of the file begin.
    zero_tail_start: usize,
    /// Bytes hashed so far while looking past damage.
    resync_hashed_bytes: u64,
}

/// What the search for a valid frame after damage found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resync {
    /// The first valid frame after the damage, if one was found.
    next: Option<usize>,
    /// The first candidate before `next` (or before the end) that was not
    /// hashed because the search had reached its limit.
    unchecked: Option<usize>,
}

impl LogReader {
    /// Reads the whole of `path` and checks its header against `kind`.
    pub fn open(
        fs: &dyn FileSystem,
        path: &Path,
        kind: LogKind,
        mode: RecoveryMode,
    ) -> Result<Self> {
        let bytes = fs.read(path).map_err(|e| LogError::io(path, e))?;
        Self::from_bytes(path.to_owned(), Bytes::from(bytes), kind, mode)
    }

    /// A reader over a log's bytes; `path` names it in errors.
    pub fn from_bytes(
        path: PathBuf,
        bytes: Bytes,
        kind: LogKind,
        mode: RecoveryMode,
    ) -> Result<Self> {
        let zero_tail_start = bytes
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        let mut reader = Self {
            path,
            bytes,
            pos: 0,
            mode,
            header: None,
            preallocated: false,
            end: None,
            skipped: Vec::new(),
            zero_tail_start,
            resync_hashed_bytes: 0,
        };
        match LogHeader::decode_with_flags(&reader.bytes) {
            Ok((header, flags)) if header.kind == kind => {
                reader.header = Some(header);
                reader.preallocated = flags & LOG_FLAG_PREALLOCATED != 0;
                reader.pos = LOG_HEADER_BYTES;
            }
            Ok((header, _)) => {
                let detail = format!("expected a {kind:?} log, found {:?}", header.kind);
                return Err(LogError::corruption(&reader.path, 0, detail));
            }
            Err(detail) => {
                reader.damaged(0, detail, reader.header_looks_torn())?;
            }
        }
        Ok(reader)
    }

    /// The next valid frame, `None` at the end (see [`Self::end`]), or the
    /// corruption the mode does not tolerate.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if self.end.is_some() {
                return Ok(None);
            }
            if self.pos == self.bytes.len() {
                self.end = Some(LogEnd::Clean);
                return Ok(None);
            }
            if let Some(range) = check_frame(&self.bytes, self.pos) {
                let frame = Frame {
                    offset: self.pos as u64,
                    payload: self.bytes.slice(range.clone()),
                };
                self.pos = range.end;
                return Ok(Some(frame));
            }
            if self.preallocated && self.is_zero_from(self.pos) {
                self.end = Some(LogEnd::Reserved {
                    offset: self.pos as u64,
                });
                return Ok(None);
            }
            let (detail, looks_torn) = self.inspect_bad_frame();
            self.damaged(self.pos, detail, looks_torn)?;
        }
    }

    /// Reports that the owner could not use the valid frame at
    /// `frame_offset` (for example, its payload does not decode). The frame
    /// cannot be a torn write, so this is corruption: skipped under
    /// `SkipCorrupted`, the stop point under `PointInTime`, an error otherwise.
    pub fn reject_frame(&mut self, frame_offset: u64, detail: impl Into<String>) -> Result<()> {
        let detail = detail.into();
        match self.mode {
            RecoveryMode::SkipCorrupted => {
                let end = self.pos as u64;
                self.skip(frame_offset, end, detail);
                Ok(())
            }
            RecoveryMode::PointInTime => {
                self.end = Some(LogEnd::Stopped {
                    offset: frame_offset,
                    detail,
                });
                Ok(())
            }
            _ => Err(LogError::corruption(&self.path, frame_offset, detail)),
        }
    }

    /// The file's header, when it was intact.
    pub fn header(&self) -> Option<LogHeader> {
        self.header
    }

    /// How reading ended, once [`Self::next_frame`] returned `None`.
    pub fn end(&self) -> Option<&LogEnd> {
        self.end.as_ref()
    }

    /// Ranges skipped under [`RecoveryMode::SkipCorrupted`].
    pub fn skipped(&self) -> &[SkippedRange] {
        &self.skipped
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Bytes hashed so far while looking past damage: the work the bounded
    /// search did, at most [`Self::resync_limit_bytes`].
    pub fn resync_hashed_bytes(&self) -> u64 {
        self.resync_hashed_bytes
    }

    /// The most bytes this reader hashes while looking past damage.
    pub fn resync_limit_bytes(&self) -> u64 {
        (self.bytes.len() as u64)
            .saturating_mul(RESYNC_HASH_BYTES_PER_FILE_BYTE)
            .saturating_add(RESYNC_HASH_FLOOR_BYTES)
    }

    /// Takes `bytes` from the search's allowance; `false` (and nothing
    /// taken) when too little is left.
    fn charge_resync(&mut self, bytes: usize) -> bool {
        let total = self.resync_hashed_bytes.saturating_add(bytes as u64);
        let allowed = total <= self.resync_limit_bytes();
        if allowed {
            self.resync_hashed_bytes = total;
        }
        allowed
    }

    /// Looks for the first valid frame after the damage at `offset`, within
    /// the allowance. A candidate whose `len` runs past the end of the file
    /// costs nothing (it cannot be whole); any other is charged the bytes
    /// its checksum covers before it is hashed, or left unchecked.
    fn resync(&mut self, offset: usize) -> Resync {
        let mut unchecked = None;
        // Every candidate in the zero tail is the same all-zero frame, which
        // is never valid: looking at its first is enough.
        let candidates_end = self.bytes.len().min(self.zero_tail_start + 1);
        for candidate in offset + 1..candidates_end {
            if frame_extent(&self.bytes, candidate) != FrameExtent::Inside {
                continue;
            }
            let covered_bytes = frame_covered_bytes(&self.bytes, candidate);
            if !self.charge_resync(covered_bytes) {
                unchecked.get_or_insert(candidate);
                continue;
            }
            if check_frame(&self.bytes, candidate).is_some() {
                return Resync {
                    next: Some(candidate),
                    unchecked,
                };
            }
        }
        Resync {
            next: None,
            unchecked,
        }
    }

    /// Decides what the damage at `offset` means under the mode; it is a
    /// torn tail when `looks_torn` (the damaged unit is incomplete or
    /// zero-filled) and the bounded search proves no valid frame follows.
    fn damaged(&mut self, offset: usize, detail: String, looks_torn: bool) -> Result<()> {
        let resync = self.resync(offset);
        let nothing_follows = Resync {
            next: None,
            unchecked: None,
        };
        if looks_torn && resync == nothing_follows {
            return self.torn_tail(offset, detail);
        }
        let detail = format!("{detail}; {}", self.describe(resync));
        match self.mode {
            RecoveryMode::SkipCorrupted => {
                let next = resync.next.unwrap_or(self.bytes.len());
                self.skip(offset as u64, next as u64, detail);
                self.pos = next;
                Ok(())
            }
            RecoveryMode::PointInTime => {
                self.end = Some(LogEnd::Stopped {
                    offset: offset as u64,
                    detail,
                });
                Ok(())
            }
            RecoveryMode::TolerateCorruptedTail | RecoveryMode::AbsoluteConsistency => {
                Err(LogError::corruption(&self.path, offset as u64, detail))
            }
        }
    }

    /// What the search after damage found, for a corruption's detail.
    fn describe(&self, resync: Resync) -> String {
        match (resync.next, resync.unchecked) {
            (Some(next), None) => format!("a valid frame follows at byte {next}"),
            (Some(next), Some(candidate)) => format!(
                "a valid frame follows at byte {next} (candidates from byte {candidate} on \
                 were not hashed: the search had reached its limit)"
            ),
            (None, None) => "nothing valid follows, but the damaged bytes are whole and not \
                             all zero, so not a torn write"
                .to_owned(),
            (None, Some(candidate)) => format!(
                "the search for a valid frame after it reached its limit of {} hashed bytes \
                 at byte {candidate}, so it is not taken for a torn write",
                self.resync_limit_bytes()
            ),
        }
    }

    /// Ends the log at the torn tail from `offset`, or refuses it under
    /// [`RecoveryMode::AbsoluteConsistency`].
    fn torn_tail(&mut self, offset: usize, detail: String) -> Result<()> {
        if self.mode == RecoveryMode::AbsoluteConsistency {
            let detail = format!("{detail} (a torn tail)");
            return Err(LogError::corruption(&self.path, offset as u64, detail));
        }
        self.end = Some(LogEnd::TornTail {
            offset: offset as u64,
        });
        Ok(())
    }

    fn skip(&mut self, start: u64, end: u64, detail: String) {
        tracing::warn!(file = %self.path.display(), start, end, %detail, "skipping corrupted log bytes");
        self.skipped.push(SkippedRange {
            file: self.path.clone(),
            start,
            end,
            detail,
        });
    }

    /// What is wrong with the frame at the read position, and whether it
    /// has the shape of a torn write (incomplete, or zero to the end).
    fn inspect_bad_frame(&mut self) -> (String, bool) {
        match frame_extent(&self.bytes, self.pos) {
            FrameExtent::HeaderCut { remaining_bytes } => (
                format!("incomplete frame header ({remaining_bytes} bytes)"),
                true,
            ),
            FrameExtent::PastEnd { declared_bytes }
                if !self.charge_resync(self.bytes.len() - self.pos) =>
            {
                let detail = format!(
                    "frame of {declared_bytes} bytes runs past the end of the file; checking \
                     whether only its length is damaged would pass the limit of {} hashed \
                     bytes, so it is not taken for a torn write",
                    self.resync_limit_bytes()
                );
                (detail, false)
            }
            FrameExtent::PastEnd { declared_bytes }
                if is_whole_final_frame_with_damaged_len(&self.bytes, self.pos) =>
            {
                let detail = format!(
                    "damaged frame length: {declared_bytes} bytes declared, past the end \
                     of the file, but the checksum matches the frame that ends there"
                );
                (detail, false)
            }
            FrameExtent::PastEnd { declared_bytes } => (
                format!("frame of {declared_bytes} bytes runs past the end of the file"),
                true,
            ),
            FrameExtent::Inside if self.is_zero_from(self.pos) => (
                "zero-filled bytes up to the end of the file".to_owned(),
                true,
            ),
            FrameExtent::Inside
                if self.preallocated
                    && self.zero_tail_start < declared_frame_end(&self.bytes, self.pos) =>
            {
                let detail = format!(
                    "frame cut short in preallocated space: zero from byte {} to the end of \
                     the file",
                    self.zero_tail_start
                );
                (detail, true)
            }
            FrameExtent::Inside => ("frame checksum mismatch".to_owned(), false),
        }
    }

    /// Whether every byte from `offset` to the end of the file is zero.
    /// Whether a bad file header is a torn write: cut short (the file ends
    /// inside it), all zero, or a start of it followed by nothing but zeros
    /// up to the end of a longer file (the creation's write of the header
    /// was cut by a power loss, and the space the writer reserved before
    /// it reads as zeros).
    fn header_looks_torn(&self) -> bool {
        self.bytes.len() < LOG_HEADER_BYTES
            || self.is_zero_from(0)
            || (self.bytes.len() > LOG_HEADER_BYTES && self.zero_tail_start < LOG_HEADER_BYTES)
    }

    fn is_zero_from(&self, offset: usize) -> bool {
        offset >= self.zero_tail_start
    }
}

#[cfg(test)]
mod tests {
    use seer_core::fault::FaultFileSystem;

    use super::*;
    use crate::frame::FRAME_HEADER_BYTES;
    use crate::writer::LogWriter;

    fn write_log(fs: &FaultFileSystem, payloads: &[&[u8]]) -> Vec<u8> {
        let path = Path::new("/db/log");
        fs.create_dir_all(Path::new("/db")).unwrap();
        let mut writer = LogWriter::create(
            fs,
            path,
            LogHeader {
                kind: LogKind::Manifest,
                file_number: 3,
            },
        )
        .unwrap();
        for payload in payloads {
            writer.add_frame(payload).unwrap();
        }
        writer.sync().unwrap();
        fs.read(path).unwrap()
    }

    fn read_all(bytes: Vec<u8>, mode: RecoveryMode) -> Result<(Vec<Vec<u8>>, LogReader)> {
        let mut reader =
            LogReader::from_bytes("log".into(), Bytes::from(bytes), LogKind::Manifest, mode)?;
        let mut payloads = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            payloads.push(frame.payload.to_vec());
        }
        Ok((payloads, reader))
    }

    #[test]
    fn frames_round_trip_with_header() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"one", b"", b"three"]);
        let (payloads, reader) = read_all(bytes, RecoveryMode::default()).unwrap();
        assert_eq!(payloads, [b"one".to_vec(), vec![], b"three".to_vec()]);
        assert_eq!(reader.end(), Some(&LogEnd::Clean));
        assert_eq!(reader.header().unwrap().file_number, 3);
    }

    #[test]
    fn wrong_kind_is_corruption() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"x"]);
        let err = LogReader::from_bytes(
            "log".into(),
            Bytes::from(bytes),
            LogKind::Wal,
            RecoveryMode::SkipCorrupted,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                LogError::Corruption(seer_core::Corruption { offset: 0, .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn damage_in_the_middle_per_mode() {
        let fs = FaultFileSystem::new();
        let mut bytes = write_log(&fs, &[b"aaaa", b"bbbb", b"cccc"]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        bytes[second + FRAME_HEADER_BYTES] ^= 0x01;
        for mode in [
            RecoveryMode::TolerateCorruptedTail,
            RecoveryMode::AbsoluteConsistency,
        ] {
            let err = read_all(bytes.clone(), mode).unwrap_err();
            assert!(
                matches!(&err, LogError::Corruption(seer_core::Corruption { offset, .. }) if *offset == second as u64),
                "{mode:?}: {err}"
            );
        }
        let (payloads, reader) = read_all(bytes.clone(), RecoveryMode::PointInTime).unwrap();
        assert_eq!(payloads, [b"aaaa".to_vec()]);
        assert!(
            matches!(reader.end(), Some(LogEnd::Stopped { offset, .. }) if *offset == second as u64)
        );
        let (payloads, reader) = read_all(bytes, RecoveryMode::SkipCorrupted).unwrap();
        assert_eq!(payloads, [b"aaaa".to_vec(), b"cccc".to_vec()]);
        assert_eq!(reader.skipped().len(), 1);
        assert_eq!(reader.skipped()[0].start, second as u64);
    }

    /// The modes that drop a torn tail.
    const TOLERANT_MODES: [RecoveryMode; 3] = [
        RecoveryMode::TolerateCorruptedTail,
        RecoveryMode::PointInTime,
        RecoveryMode::SkipCorrupted,
    ];

    /// Checks that `bytes` read as `payloads` then a torn tail at `offset`
    /// under every mode but `AbsoluteConsistency`, which refuses it.
    fn assert_torn(bytes: &[u8], payloads: &[&[u8]], offset: u64) {
        for mode in TOLERANT_MODES {
            let (read, reader) = read_all(bytes.to_vec(), mode).unwrap();
            assert_eq!(read, payloads, "{mode:?}");
            assert_eq!(reader.end(), Some(&LogEnd::TornTail { offset }), "{mode:?}");
            assert!(reader.skipped().is_empty());
        }
        let err = read_all(bytes.to_vec(), RecoveryMode::AbsoluteConsistency).unwrap_err();
        assert!(
            matches!(&err, LogError::Corruption(seer_core::Corruption { offset: at, .. }) if *at == offset),
            "{err}"
        );
    }

    /// Checks that `bytes` read as `payloads` then a damaged (not torn)
    /// frame at `offset` that runs to the end of the file, under every mode.
    fn assert_damaged_final_frame(bytes: &[u8], payloads: &[&[u8]], offset: u64) {
        for mode in [
            RecoveryMode::TolerateCorruptedTail,
            RecoveryMode::AbsoluteConsistency,
        ] {
            let err = read_all(bytes.to_vec(), mode).unwrap_err();
            assert!(
                matches!(&err, LogError::Corruption(seer_core::Corruption { file, offset: at, .. })
                    if file == Path::new("log") && *at == offset),
                "{mode:?}: {err}"
            );
        }
        let (read, reader) = read_all(bytes.to_vec(), RecoveryMode::PointInTime).unwrap();
        assert_eq!(read, payloads);
        assert!(
            matches!(reader.end(), Some(LogEnd::Stopped { offset: at, .. }) if *at == offset),
            "{:?}",
            reader.end()
        );
        let (read, reader) = read_all(bytes.to_vec(), RecoveryMode::SkipCorrupted).unwrap();
        assert_eq!(read, payloads);
        assert_eq!(reader.end(), Some(&LogEnd::Clean));
        let skipped = reader.skipped();
        assert_eq!(skipped.len(), 1);
        assert_eq!(
            (skipped[0].start, skipped[0].end),
            (offset, bytes.len() as u64)
        );
    }

    #[test]
    fn incomplete_final_frame_is_a_torn_tail() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"aaaa", b"bbbb"]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        for cut in [
            second + 1,
            second + FRAME_HEADER_BYTES - 1,
            second + FRAME_HEADER_BYTES,
            bytes.len() - 2,
            bytes.len() - 1,
        ] {
            assert_torn(&bytes[..cut], &[b"aaaa"], second as u64);
        }
        for cut in [0, 10, LOG_HEADER_BYTES - 1] {
            assert_torn(&bytes[..cut], &[], 0);
        }
    }

    #[test]
    fn damaged_complete_final_frame_is_corruption() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"aaaa", b"bbbb"]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        for position in second..bytes.len() {
            for flip in [0x01, 0x10, 0x80] {
                let mut damaged = bytes.clone();
                damaged[position] ^= flip;
                assert_damaged_final_frame(&damaged, &[b"aaaa"], second as u64);
            }
        }
    }

    #[test]
    fn damaged_length_running_past_the_end_is_told_from_a_torn_frame() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"aaaa", b"bbbbbbbb"]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        let mut damaged = bytes.clone();
        damaged[second + 3] ^= 0x01;
        assert!(is_whole_final_frame_with_damaged_len(&damaged, second));
        assert!(!is_whole_final_frame_with_damaged_len(
            &bytes[..bytes.len() - 3],
            second
        ));
        assert_damaged_final_frame(&damaged, &[b"aaaa"], second as u64);
        // The same header with its payload cut short is a torn write.
        assert_torn(&bytes[..bytes.len() - 3], &[b"aaaa"], second as u64);
    }

    #[test]
    fn zero_filled_tail_is_a_torn_tail() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"aaaa", b"bbbb"]);
        for zeros_bytes in [1, FRAME_HEADER_BYTES - 1, FRAME_HEADER_BYTES, 100, 4096] {
            let mut padded = bytes.clone();
            padded.resize(bytes.len() + zeros_bytes, 0);
            assert_torn(&padded, &[b"aaaa", b"bbbb"], bytes.len() as u64);
        }
        for zeros_bytes in [LOG_HEADER_BYTES, 4096] {
            assert_torn(&vec![0; zeros_bytes], &[], 0);
        }
    }

    #[test]
    fn partly_zeroed_final_frame_is_corruption() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[b"aaaa", &[b'x'; 64]]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        let mut damaged = bytes.clone();
        let half = bytes.len() - 32;
        damaged[half..].fill(0);
        assert_damaged_final_frame(&damaged, &[b"aaaa"], second as u64);
    }

    /// Found by `durability_io_errors` (seed 8253012344481326164): a WAL
    /// segment created with a reservation whose header write a power loss
    /// cut short read as corruption at byte 0, failing the reopen.
    #[test]
    fn a_header_cut_short_before_reserved_zeros_is_a_torn_tail() {
        let fs = FaultFileSystem::new();
        let header = write_log(&fs, &[]);
        for kept_bytes in 1..LOG_HEADER_BYTES {
            let mut torn = header[..kept_bytes].to_vec();
            torn.resize(4096, 0);
            assert_torn(&torn, &[], 0);
        }
    }

    #[test]
    fn damaged_whole_header_without_frames_is_corruption() {
        let fs = FaultFileSystem::new();
        let bytes = write_log(&fs, &[]);
        for position in 0..LOG_HEADER_BYTES {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x04;
            assert_damaged_final_frame(&damaged, &[], 0);
        }
    }

    /// 4 MiB whose every fourth 4-byte window reads as a length of 1 MiB and
    /// another as 4 KiB: at most offsets a frame that would fit in the file,
    /// the worst case for a search that hashes each one.
    fn length_like_bytes() -> Vec<u8> {
        [0x00, 0x00, 0x10, 0x00].repeat(1 << 20)
    }

    /// Reads `bytes` under `mode` and checks the search for valid frames
    /// after damage hashed no more than its linear limit.
    fn read_within_resync_limit(
        bytes: &[u8],
        mode: RecoveryMode,
    ) -> Result<(Vec<Vec<u8>>, LogReader)> {
        let result = read_all(bytes.to_vec(), mode);
        if let Ok((_, reader)) = &result {
            let limit =
                bytes.len() as u64 * RESYNC_HASH_BYTES_PER_FILE_BYTE + RESYNC_HASH_FLOOR_BYTES;
            assert_eq!(reader.resync_limit_bytes(), limit);
            assert!(reader.resync_hashed_bytes() <= limit, "{mode:?}");
        }
        result
    }

    #[test]
    fn damage_in_a_large_segment_of_length_like_bytes_is_corruption_found_in_linear_work() {
        let fs = FaultFileSystem::new();
        let big = length_like_bytes();
        let bytes = write_log(&fs, &[b"aaaa", &big, b"tail1", b"tail2"]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        let mut damaged = bytes.clone();
        damaged[second + FRAME_HEADER_BYTES + 1000] ^= 0x01;
        for mode in [
            RecoveryMode::TolerateCorruptedTail,
            RecoveryMode::AbsoluteConsistency,
        ] {
            let err = read_within_resync_limit(&damaged, mode).unwrap_err();
            assert!(
                matches!(&err, LogError::Corruption(seer_core::Corruption { offset, .. }) if *offset == second as u64),
                "{mode:?}: {err}"
            );
        }
        let (read, reader) = read_within_resync_limit(&damaged, RecoveryMode::PointInTime).unwrap();
        assert_eq!(read, [b"aaaa".to_vec()]);
        assert!(
            matches!(reader.end(), Some(LogEnd::Stopped { offset, .. }) if *offset == second as u64)
        );
        assert!(reader.resync_hashed_bytes() > 0);
        let (read, reader) =
            read_within_resync_limit(&damaged, RecoveryMode::SkipCorrupted).unwrap();
        assert_eq!(read[0], b"aaaa");
        assert!(
            read[1..].iter().all(|p| p == b"tail1" || p == b"tail2"),
            "{read:?}"
        );
        assert_eq!(reader.end(), Some(&LogEnd::Clean));
        assert_eq!(reader.skipped()[0].start, second as u64);
    }

    #[test]
    fn large_torn_tail_whose_lengths_run_past_the_end_is_a_torn_tail() {
        let fs = FaultFileSystem::new();
        let big = vec![0xff; 4 << 20];
        let bytes = write_log(&fs, &[b"aaaa", &big]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        let cut = &bytes[..bytes.len() - 10];
        assert_torn(cut, &[b"aaaa"], second as u64);
        let (_, reader) = read_within_resync_limit(cut, RecoveryMode::PointInTime).unwrap();
        // Only the check of the final frame's checksum hashed anything.
        assert!(reader.resync_hashed_bytes() <= cut.len() as u64);
    }

    #[test]
    fn torn_tail_of_16_kib_of_length_like_bytes_is_still_a_torn_tail() {
        let fs = FaultFileSystem::new();
        // Every fourth window claims 8 KiB, which fits in the file.
        let big = [0x00, 0x20, 0x00, 0x00].repeat(4096);
        let bytes = write_log(&fs, &[b"aaaa", &big]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        let cut = &bytes[..bytes.len() - 10];
        assert_torn(cut, &[b"aaaa"], second as u64);
        let (_, reader) = read_within_resync_limit(cut, RecoveryMode::PointInTime).unwrap();
        assert!(
            reader.resync_hashed_bytes() > 1 << 20,
            "the search hashed the candidates"
        );
    }

    #[test]
    fn large_torn_tail_of_length_like_bytes_past_the_search_limit_is_refused_not_dropped() {
        let fs = FaultFileSystem::new();
        let big = length_like_bytes();
        let bytes = write_log(&fs, &[b"aaaa", &big]);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        let cut = &bytes[..bytes.len() - 10];
        for mode in [
            RecoveryMode::TolerateCorruptedTail,
            RecoveryMode::AbsoluteConsistency,
        ] {
            let err = read_within_resync_limit(cut, mode).unwrap_err();
            assert!(
                matches!(&err, LogError::Corruption(seer_core::Corruption { offset, detail, .. })
                    if *offset == second as u64 && detail.contains("limit")),
                "{mode:?}: {err}"
            );
        }
        let (read, reader) = read_within_resync_limit(cut, RecoveryMode::PointInTime).unwrap();
        assert_eq!(read, [b"aaaa".to_vec()]);
        assert!(
            matches!(reader.end(), Some(LogEnd::Stopped { offset, .. }) if *offset == second as u64),
            "{:?}",
            reader.end()
        );
    }
}
