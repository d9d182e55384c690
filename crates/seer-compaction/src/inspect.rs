//! [`ManifestInspector`]: a read-only walk over one manifest file for tools
//! (`seer manifest`), which lists every version edit with its offset and
//! reports, instead of failing on, what is wrong.
//!
//! Replay ([`manifest::replay`](crate::manifest::replay)) and
//! [`manifest::verify`](crate::manifest::verify) stop at the first damaged
//! edit; the inspector reads under `RecoveryMode::SkipCorrupted`, so a bad
//! frame or an edit that does not decode is reported as a damaged range and
//! reading goes on after it; a torn final edit ends the walk as
//! [`LogEnd::TornTail`](seer_log::LogEnd::TornTail). Edits are decoded, not applied: whether they fit
//! the version before them is replay's question. It writes nothing and
//! takes no lock.

use std::path::Path;

use seer_core::FileSystem;
use seer_log::{LogKind, LogReader, RecoveryMode, SkippedRange};

use crate::edit::VersionEdit;
use crate::error::{Error, Result};

/// One version edit of a manifest, as [`ManifestInspector::next_edit`]
/// reads it.
#[derive(Debug, Clone)]
pub struct InspectedEdit {
    /// Byte offset of the edit's frame in the file.
    pub offset: u64,
    /// The decoded edit.
    pub edit: VersionEdit,
}

/// Reads the version edits of one manifest file, reporting damage instead
/// of failing on it (see the module documentation).
#[derive(Debug)]
pub struct ManifestInspector {
    reader: LogReader,
}

impl ManifestInspector {
    /// Opens the manifest at `path`. Fails when the file cannot be read or
    /// holds another kind of log (a WAL segment, say); any other damage is
    /// reported by [`Self::damage`] once the edits are read.
    pub fn open(fs: &dyn FileSystem, path: &Path) -> Result<Self> {
        let bytes = fs.read(path).map_err(|e| Error::io(path, e))?;
        let reader = LogReader::from_bytes(
            path.to_owned(),
            bytes.into(),
            LogKind::Manifest,
            RecoveryMode::SkipCorrupted,
        )?;
        Ok(Self { reader })
    }

    /// The next edit that decodes, or `None` at the end of the file (see
    /// [`Self::log`]).
    pub fn next_edit(&mut self) -> Result<Option<InspectedEdit>> {
        while let Some(frame) = self.reader.next_frame()? {
            match VersionEdit::decode(&frame.payload) {
                Ok(edit) => {
                    return Ok(Some(InspectedEdit {
                        offset: frame.offset,
                        edit,
                    }))
                }
                Err(error) => self
                    .reader
                    .reject_frame(frame.offset, format!("bad version edit: {error}"))?,
            }
        }
        Ok(None)
    }

    /// The underlying frame reader: the file's header and length, and,
    /// once [`Self::next_edit`] returned `None`, how the file ended (a clean
    /// end, the zeros of a preallocated reservation, or a torn tail).
    pub fn log(&self) -> &LogReader {
        &self.reader
    }

    /// Every damaged range found so far, in file order.
    pub fn damage(&self) -> &[SkippedRange] {
        self.reader.skipped()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;

    use seer_core::fault::FaultFileSystem;
    use seer_log::frame::{FRAME_HEADER_BYTES, LOG_HEADER_BYTES};
    use seer_log::LogEnd;

    use super::*;
    use crate::manifest::ManifestWriter;

    /// A manifest of three edits setting `last_seq` to 1, 2 and 3; its path
    /// and each frame's offset.
    fn write_manifest(fs: &FaultFileSystem) -> (PathBuf, Vec<u64>) {
        fs.create_dir_all(Path::new("/db")).unwrap();
        let edit = |last_seq| {
            let mut edit = VersionEdit::new();
            edit.last_seq = Some(last_seq);
            edit
        };
        let mut offsets = vec![LOG_HEADER_BYTES as u64];
        let mut writer = ManifestWriter::create(fs, Path::new("/db"), 4, &edit(1)).unwrap();
        for last_seq in 2..=3 {
            offsets.push(writer.len_bytes());
            writer.append(&edit(last_seq)).unwrap();
        }
        (PathBuf::from("/db/MANIFEST-00000000000000000004"), offsets)
    }

    fn read_all(fs: &FaultFileSystem, path: &Path) -> (Vec<(u64, u64)>, ManifestInspector) {
        let mut inspector = ManifestInspector::open(fs, path).unwrap();
        let mut edits = Vec::new();
        while let Some(read) = inspector.next_edit().unwrap() {
            edits.push((read.offset, read.edit.last_seq.unwrap()));
        }
        (edits, inspector)
    }

    #[test]
    fn inspecting_a_manifest_lists_every_edit_and_reads_past_a_damaged_one() {
        let fs = FaultFileSystem::new();
        let (path, offsets) = write_manifest(&fs);
        let (edits, inspector) = read_all(&fs, &path);
        assert_eq!(edits, [(offsets[0], 1), (offsets[1], 2), (offsets[2], 3)]);
        assert_eq!(inspector.log().end(), Some(&LogEnd::Clean));
        assert_eq!(inspector.log().header().unwrap().file_number, 4);

        let intact = fs.file_content(&path).unwrap();
        let mut damaged = intact.clone();
        damaged[offsets[1] as usize + FRAME_HEADER_BYTES] ^= 0x40;
        let mut file = fs.create(&path).unwrap();
        file.append(&damaged).unwrap();
        let (edits, inspector) = read_all(&fs, &path);
        assert_eq!(edits, [(offsets[0], 1), (offsets[2], 3)]);
        let damage = inspector.damage();
        assert_eq!((damage.len(), damage[0].start), (1, offsets[1]));

        let mut file = fs.create(&path).unwrap();
        file.append(&intact[..intact.len() - 1]).unwrap();
        let (edits, inspector) = read_all(&fs, &path);
        assert_eq!(edits.len(), 2);
        assert_eq!(
            inspector.log().end(),
            Some(&LogEnd::TornTail { offset: offsets[2] })
        );
    }
}
