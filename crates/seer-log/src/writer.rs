//! [`LogWriter`]: creates a log file with its [`LogHeader`] and appends
//! payloads to it as checksummed frames, optionally into space it reserves
//! ahead of them (a *preallocated* log, `docs/FORMATS.md`, "Preallocated
//! logs").

use std::path::{Path, PathBuf};

use seer_core::{FileSystem, WritableFile};

use crate::error::{LogError, Result};
use crate::frame::{FrameBuffer, LogHeader, LOG_FLAG_PREALLOCATED};

/// Appends frames to a new log file.
///
/// After any failed append or sync the writer refuses further work: the
/// file's tail is unknown and a failed sync is never retried.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: Box<dyn WritableFile>,
    scratch: FrameBuffer,
    failure: Option<LogError>,
    /// The file's reserved size (0 when nothing is reserved).
    reserved_bytes: u64,
    /// How far ahead the reservation grows; 0 once it no longer grows.
    reserve_step_bytes: u64,
}

impl LogWriter {
    /// Creates `path` (replacing it), writes `header`, syncs the file and its
    /// directory, so the log is durable and findable before its first frame.
    pub fn create(fs: &dyn FileSystem, path: &Path, header: LogHeader) -> Result<Self> {
        Self::create_preallocated(fs, path, header, 0)
    }

    /// Like [`Self::create`], and reserves the file's space `step_bytes` at
    /// a time ahead of its frames (`WritableFile::preallocate`), so a sync
    /// of appends inside the reservation commits no size change. The header
    /// then carries [`LOG_FLAG_PREALLOCATED`]. If the first reservation
    /// fails (a file system without it, or a full disk), the log is written
    /// without one; if a later one fails, the reservation stops growing.
    /// `step_bytes` 0 reserves nothing.
    pub fn create_preallocated(
        fs: &dyn FileSystem,
        path: &Path,
        header: LogHeader,
        step_bytes: u64,
    ) -> Result<Self> {
        let mut file = fs.create(path).map_err(|e| LogError::io(path, e))?;
        let reserved_bytes = match step_bytes {
            0 => 0,
            step => match file.preallocate(step) {
                Ok(()) => step,
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "log written without preallocation");
                    0
                }
            },
        };
        let flags = if reserved_bytes > 0 {
            LOG_FLAG_PREALLOCATED
        } else {
            0
        };
        let mut writer = Self {
            path: path.to_owned(),
            file,
            scratch: FrameBuffer::new(),
            failure: None,
            reserved_bytes,
            reserve_step_bytes: if reserved_bytes > 0 { step_bytes } else { 0 },
        };
        writer.append_raw(&header.encode_with_flags(flags))?;
        writer.sync()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        fs.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        Ok(writer)
    }

    /// Appends `payload` as one frame (not synced).
    pub fn add_frame(&mut self, payload: &[u8]) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.push_frame(payload);
        let result = self.append_raw(scratch.as_bytes());
        self.scratch = scratch;
        result
    }

    /// Appends every frame of `frames` in one write (not synced).
    pub fn append_frames(&mut self, frames: &FrameBuffer) -> Result<()> {
        self.append_raw(frames.as_bytes())
    }

    /// Makes everything appended so far durable (`fdatasync`).
    pub fn sync(&mut self) -> Result<()> {
        self.check_usable()?;
        let result = self.file.sync_data();
        self.record(result)
    }

    /// The file's length in bytes, header included.
    pub fn len_bytes(&self) -> u64 {
        self.file.len()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the log file to `to` (its open handle keeps writing to it);
    /// the new name is durable after a sync of its directory.
    pub fn rename(&mut self, fs: &dyn FileSystem, to: &Path) -> Result<()> {
        fs.rename(&self.path, to)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.path = to.to_owned();
        Ok(())
    }

    /// Cuts the unused reservation off (the file then ends at its last
    /// frame; the cut is durable when this returns), when the log is
    /// retired or closed. Does nothing when nothing is reserved past the
    /// frames, or after a failure (the file's tail is unknown then).
    pub fn trim_reservation(&mut self, fs: &dyn FileSystem) -> Result<()> {
        let len_bytes = self.file.len();
        if self.failure.is_some() || self.reserved_bytes <= len_bytes {
            return Ok(());
        }
        fs.truncate(&self.path, len_bytes)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.reserved_bytes = 0;
        self.reserve_step_bytes = 0;
        Ok(())
    }

    fn append_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_usable()?;
        self.grow_reservation(bytes.len() as u64);
        let result = self.file.append(bytes);
        self.record(result)
    }

    /// Grows the reservation (by whole steps) so `additional_bytes` more
    /// fit in it; a failure only stops the growth, as appends past the
    /// reservation are valid too (they extend the file as usual).
    fn grow_reservation(&mut self, additional_bytes: u64) {
        let needed_bytes = self.file.len() + additional_bytes;
        if self.reserve_step_bytes == 0 || needed_bytes <= self.reserved_bytes {
            return;
        }
        let target_bytes = needed_bytes.next_multiple_of(self.reserve_step_bytes);
        match self.file.preallocate(target_bytes) {
            Ok(()) => self.reserved_bytes = target_bytes,
            Err(error) => {
                tracing::warn!(file = %self.path.display(), %error, "log preallocation stopped");
                self.reserve_step_bytes = 0;
            }
        }
    }

    fn check_usable(&self) -> Result<()> {
        match &self.failure {
            Some(cause) => Err(LogError::Poisoned {
                cause: Box::new(cause.clone()),
            }),
            None => Ok(()),
        }
    }

    fn record(&mut self, result: std::io::Result<()>) -> Result<()> {
        result.map_err(|source| {
            let error = LogError::io(&self.path, source);
            self.failure = Some(error.clone());
            error
        })
    }
}

#[cfg(test)]
mod tests {
    use seer_core::fault::{Fault, FaultFileSystem};

    use super::*;
    use crate::frame::LogKind;

    #[test]
    fn failed_append_poisons_the_writer() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let mut writer = LogWriter::create(
            &fs,
            Path::new("/db/log"),
            LogHeader {
                kind: LogKind::Wal,
                file_number: 1,
            },
        )
        .unwrap();
        fs.arm(Fault::FailWrite { nth: 1 });
        assert!(matches!(writer.add_frame(b"x"), Err(LogError::Io(_))));
        assert!(matches!(
            writer.add_frame(b"x"),
            Err(LogError::Poisoned { .. })
        ));
        assert!(matches!(writer.sync(), Err(LogError::Poisoned { .. })));
    }
}
