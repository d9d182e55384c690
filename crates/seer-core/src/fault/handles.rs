//! The handles the fault-injecting file system hands out: writable and
//! readable files and locks. Each remembers the epoch it was opened in and
//! refuses to work once a simulated crash or power loss has ended that epoch.

use std::io;
use std::path::PathBuf;

use super::tree::InodeId;
use super::SharedState;
use crate::fs::{FileLock, RandomAccessFile, WritableFile};

/// A file opened by `create` or `open_append`.
#[derive(Debug)]
pub(super) struct FaultWritableFile {
    pub(super) state: SharedState,
    pub(super) path: PathBuf,
    pub(super) inode: InodeId,
    pub(super) epoch: u64,
    pub(super) len_bytes: u64,
}

impl WritableFile for FaultWritableFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut state = super::lock(&self.state);
        state.check_epoch(self.epoch, &self.path)?;
        let (written_bytes, outcome) = state.append(self.inode, &self.path, bytes);
        self.len_bytes += written_bytes as u64;
        outcome
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = super::lock(&self.state);
        state.check_epoch(self.epoch, &self.path)?;
        state.sync(self.inode, &self.path)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn len(&self) -> u64 {
        self.len_bytes
    }
}

impl Drop for FaultWritableFile {
    fn drop(&mut self) {
        super::lock(&self.state).close_handle(self.inode, self.epoch);
    }
}

/// A file opened by `open_read`; it reads the file's current content.
#[derive(Debug)]
pub(super) struct FaultRandomAccessFile {
    pub(super) state: SharedState,
    pub(super) path: PathBuf,
    pub(super) inode: InodeId,
    pub(super) epoch: u64,
    pub(super) len_bytes: u64,
}

impl RandomAccessFile for FaultRandomAccessFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let state = super::lock(&self.state);
        state.check_epoch(self.epoch, &self.path)?;
        let content = state.tree.content(self.inode);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(buf.len());
        let source = content.get(start..end).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at offset {offset} past the end of {} ({} bytes)",
                    buf.len(),
                    self.path.display(),
                    content.len()
                ),
            )
        })?;
        buf.copy_from_slice(source);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len_bytes
    }
}

impl Drop for FaultRandomAccessFile {
    fn drop(&mut self) {
        super::lock(&self.state).close_handle(self.inode, self.epoch);
    }
}

/// An exclusive lock taken by `lock`, released on drop.
#[derive(Debug)]
pub(super) struct FaultFileLock {
    pub(super) state: SharedState,
    pub(super) path: PathBuf,
    pub(super) epoch: u64,
}

impl FileLock for FaultFileLock {}

impl Drop for FaultFileLock {
    fn drop(&mut self) {
        super::lock(&self.state).release_lock(&self.path, self.epoch);
    }
}
