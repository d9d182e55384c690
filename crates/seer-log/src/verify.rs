//! [`verify_log`]: reads one log file back and checks every frame (the
//! file header, each frame's checksum, the torn-tail rule), handing each
//! payload to the owner's check, and counts what it read.
//!
//! A verify is strict: damage is never skipped or taken as a stop point,
//! and a torn tail is accepted only where the caller says a crash may have
//! left one ([`TailRule::MayBeTorn`]: the newest log of its owner).

use std::path::{Path, PathBuf};

use seer_core::FileSystem;

use crate::error::Result;
use crate::frame::{LogHeader, LogKind};
use crate::mode::RecoveryMode;
use crate::reader::{Frame, LogEnd, LogReader};

/// Whether a verified log may end in a torn write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailRule {
    /// A torn final frame (or zero-filled tail) is allowed and counted in
    /// [`LogSummary::torn_tail_bytes`]: the log was being appended to.
    MayBeTorn,
    /// Every byte must be a whole frame: the log was complete.
    MustBeWhole,
}

impl TailRule {
    fn mode(self) -> RecoveryMode {
        match self {
            Self::MayBeTorn => RecoveryMode::TolerateCorruptedTail,
            Self::MustBeWhole => RecoveryMode::AbsoluteConsistency,
        }
    }
}

/// What [`verify_log`] read from an intact log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// The file.
    pub path: PathBuf,
    /// Its header (`None` only when the whole file is a torn header).
    pub header: Option<LogHeader>,
    /// Frames read, each checked by the owner.
    pub frames_count: u64,
    /// Bytes of their payloads.
    pub payload_bytes: u64,
    /// The file's length.
    pub file_bytes: u64,
    /// Bytes of a torn tail after the last whole frame (0 when none).
    pub torn_tail_bytes: u64,
}

/// Reads log `path` of `kind` and checks every frame; `check_payload`
/// checks each payload in order (its `Err` is a description of what is
/// wrong, reported as corruption at that frame's offset).
///
/// Any damage is an error naming the file and the offset of the first
/// damaged byte ([`LogError::Corruption`](crate::LogError::Corruption));
/// a torn tail is damage too unless `tail` is [`TailRule::MayBeTorn`].
pub fn verify_log(
    fs: &dyn FileSystem,
    path: &Path,
    kind: LogKind,
    tail: TailRule,
    mut check_payload: impl FnMut(&Frame) -> Result<(), String>,
) -> Result<LogSummary> {
    let mut reader = LogReader::open(fs, path, kind, tail.mode())?;
    let mut frames_count = 0;
    let mut payload_bytes = 0;
    while let Some(frame) = reader.next_frame()? {
        if let Err(detail) = check_payload(&frame) {
            // Strict modes make a rejected frame an error.
            reader.reject_frame(frame.offset, detail)?;
        }
        frames_count += 1;
        payload_bytes += frame.payload.len() as u64;
    }
    let file_bytes = reader.len_bytes();
    let torn_tail_bytes = match reader.end() {
        Some(LogEnd::TornTail { offset }) => file_bytes.saturating_sub(*offset),
        _ => 0,
    };
    Ok(LogSummary {
        path: path.to_owned(),
        header: reader.header(),
        frames_count,
        payload_bytes,
        file_bytes,
        torn_tail_bytes,
    })
}

#[cfg(test)]
mod tests {
    use seer_core::fault::FaultFileSystem;
    use seer_core::Corruption;

    use super::*;
    use crate::frame::{FRAME_HEADER_BYTES, LOG_HEADER_BYTES};
    use crate::writer::LogWriter;
    use crate::LogError;

    const PATH: &str = "/db/000007.log";

    fn write_log(fs: &FaultFileSystem, payloads: &[&[u8]]) {
        fs.create_dir_all(Path::new("/db")).unwrap();
        let header = LogHeader {
            kind: LogKind::Wal,
            file_number: 7,
        };
        let mut writer = LogWriter::create(fs, Path::new(PATH), header).unwrap();
        for payload in payloads {
            writer.add_frame(payload).unwrap();
        }
        writer.sync().unwrap();
    }

    fn overwrite(fs: &FaultFileSystem, bytes: &[u8]) {
        let mut file = fs.create(Path::new(PATH)).unwrap();
        file.append(bytes).unwrap();
        file.sync_all().unwrap();
    }

    fn accept_all(_: &Frame) -> Result<(), String> {
        Ok(())
    }

    fn verify(fs: &FaultFileSystem, tail: TailRule) -> Result<LogSummary> {
        verify_log(fs, Path::new(PATH), LogKind::Wal, tail, accept_all)
    }

    /// The corruption's file and offset, or a panic naming what came back.
    fn corruption_at(result: Result<LogSummary>) -> (PathBuf, u64) {
        match result {
            Err(LogError::Corruption(Corruption { file, offset, .. })) => (file, offset),
            other => panic!("expected a corruption, got {other:?}"),
        }
    }

    #[test]
    fn verify_counts_the_frames_and_payload_bytes_of_an_intact_log() {
        let fs = FaultFileSystem::new();
        write_log(&fs, &[b"one", b"", b"three"]);
        let summary = verify(&fs, TailRule::MustBeWhole).unwrap();
        assert_eq!(summary.frames_count, 3);
        assert_eq!(summary.payload_bytes, 8);
        assert_eq!(summary.torn_tail_bytes, 0);
        assert_eq!(summary.header.unwrap().file_number, 7);
        let expected_bytes = LOG_HEADER_BYTES + 3 * FRAME_HEADER_BYTES + 8;
        assert_eq!(summary.file_bytes, expected_bytes as u64);
    }

    #[test]
    fn a_flipped_byte_in_any_frame_is_corruption_naming_the_file_and_the_frame_offset() {
        let payloads: [&[u8]; 3] = [b"aaaa", b"bbbb", b"cccc"];
        let fs = FaultFileSystem::new();
        write_log(&fs, &payloads);
        let intact = fs.read(Path::new(PATH)).unwrap();
        for (index, _) in payloads.iter().enumerate() {
            let frame_offset = LOG_HEADER_BYTES + index * (FRAME_HEADER_BYTES + 4);
            for byte in [frame_offset, frame_offset + FRAME_HEADER_BYTES + 2] {
                let mut damaged = intact.clone();
                damaged[byte] ^= 0x10;
                overwrite(&fs, &damaged);
                for tail in [TailRule::MayBeTorn, TailRule::MustBeWhole] {
                    let (file, offset) = corruption_at(verify(&fs, tail));
                    assert_eq!(file, Path::new(PATH));
                    assert_eq!(offset, frame_offset as u64, "byte {byte}, {tail:?}");
                }
            }
        }
        let mut bad_header = intact;
        bad_header[3] ^= 0x01;
        overwrite(&fs, &bad_header);
        assert_eq!(corruption_at(verify(&fs, TailRule::MayBeTorn)).1, 0);
    }

    #[test]
    fn a_torn_tail_is_counted_where_allowed_and_corruption_where_the_log_must_be_whole() {
        let fs = FaultFileSystem::new();
        write_log(&fs, &[b"aaaa", b"bbbb"]);
        let intact = fs.read(Path::new(PATH)).unwrap();
        let cut = intact.len() - 2;
        overwrite(&fs, &intact[..cut]);
        let summary = verify(&fs, TailRule::MayBeTorn).unwrap();
        assert_eq!(summary.frames_count, 1);
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        assert_eq!(summary.torn_tail_bytes, (cut - second) as u64);
        let (file, offset) = corruption_at(verify(&fs, TailRule::MustBeWhole));
        assert_eq!((file.as_path(), offset), (Path::new(PATH), second as u64));
    }

    #[test]
    fn a_payload_the_owner_rejects_is_corruption_at_its_frame() {
        let fs = FaultFileSystem::new();
        write_log(&fs, &[b"good", b"bad!", b"good"]);
        let result = verify_log(
            &fs,
            Path::new(PATH),
            LogKind::Wal,
            TailRule::MayBeTorn,
            |frame| match &frame.payload[..] {
                b"bad!" => Err("not a record".to_owned()),
                _ => Ok(()),
            },
        );
        let second = LOG_HEADER_BYTES + FRAME_HEADER_BYTES + 4;
        assert_eq!(corruption_at(result).1, second as u64);
        assert!(matches!(
            verify_log(
                &fs,
                Path::new(PATH),
                LogKind::Manifest,
                TailRule::MayBeTorn,
                accept_all
            ),
            Err(LogError::Corruption(Corruption { offset: 0, .. }))
        ));
    }
}
