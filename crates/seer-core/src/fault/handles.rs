//! The handles the fault-injecting file system hands out: writable and
//! readable files and locks. Each remembers the epoch it was opened in and
//! refuses to work once a simulated crash or power loss has ended that epoch.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

use super::tree::InodeId;
use super::{SharedState, State};
use crate::fs::{FileLock, RandomAccessFile, WritableFile};

/// What every open file handle holds: its file and the epoch that opened it.
/// Dropping it closes the file (if the epoch is still alive).
#[derive(Debug)]
pub(super) struct OpenHandle {
    state: SharedState,
    path: PathBuf,
    inode: InodeId,
    epoch: u64,
}

impl OpenHandle {
    /// Opens a handle on `inode` in the current epoch.
    pub(super) fn open(
        shared: &SharedState,
        state: &mut State,
        path: &Path,
        inode: InodeId,
    ) -> Self {
        state.tree.open_handle(inode);
        Self {
            state: Arc::clone(shared),
            path: path.to_path_buf(),
            inode,
            epoch: state.epoch,
        }
    }

    /// The locked state, or an error if a crash has killed this handle.
    fn live_state(&self) -> io::Result<MutexGuard<'_, State>> {
        let state = super::lock(&self.state);
        state.check_epoch(self.epoch, &self.path)?;
        Ok(state)
    }
}

impl Drop for OpenHandle {
    fn drop(&mut self) {
        super::lock(&self.state).close_handle(self.inode, self.epoch);
    }
}

/// A file opened by `create` or `open_append`.
#[derive(Debug)]
pub(super) struct FaultWritableFile {
    pub(super) handle: OpenHandle,
    pub(super) len_bytes: u64,
}

impl WritableFile for FaultWritableFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let handle = &self.handle;
        let mut state = handle.live_state()?;
        let (written_bytes, outcome) = state.append(handle.inode, &handle.path, bytes);
        self.len_bytes += written_bytes as u64;
        outcome
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let handle = &self.handle;
        handle.live_state()?.sync(handle.inode, &handle.path)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn preallocate(&mut self, len_bytes: u64) -> io::Result<()> {
        let handle = &self.handle;
        let mut state = handle.live_state()?;
        state.preallocate(handle.inode, &handle.path, len_bytes)
    }

    fn len(&self) -> u64 {
        self.len_bytes
    }
}

/// A file opened by `open_read`; it reads the file's current content.
#[derive(Debug)]
pub(super) struct FaultRandomAccessFile {
    pub(super) handle: OpenHandle,
    pub(super) len_bytes: u64,
}

impl RandomAccessFile for FaultRandomAccessFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let state = self.handle.live_state()?;
        let inode = self.handle.inode;
        let size = state.tree.size(inode);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(buf.len());
        if end > size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at offset {offset} past the end of {} ({size} bytes)",
                    buf.len(),
                    self.handle.path.display(),
                ),
            ));
        }
        // Bytes past the content are reserved zeros.
        let content = state.tree.content(inode);
        let copied = content.len().clamp(start, end) - start;
        buf[..copied].copy_from_slice(&content[start..start + copied]);
        buf[copied..].fill(0);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len_bytes
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
