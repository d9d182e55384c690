//! [`LogWriter`]: creates a log file with its [`LogHeader`] and appends
//! payloads to it as checksummed frames.

use std::path::{Path, PathBuf};

use seer_core::{FileSystem, WritableFile};

use crate::error::{LogError, Result};
use crate::frame::{FrameBuffer, LogHeader};

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
}

impl LogWriter {
    /// Creates `path` (replacing it), writes `header`, syncs the file and its
    /// directory, so the log is durable and findable before its first frame.
    pub fn create(fs: &dyn FileSystem, path: &Path, header: LogHeader) -> Result<Self> {
        let file = fs.create(path).map_err(|e| LogError::io(path, e))?;
        let mut writer = Self {
            path: path.to_owned(),
            file,
            scratch: FrameBuffer::new(),
            failure: None,
        };
        writer.append_raw(&header.encode())?;
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

    fn append_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.check_usable()?;
        let result = self.file.append(bytes);
        self.record(result)
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
