//! The typed errors of the log framing.
//!
//! [`LogError`] is `Clone` so that a [`LogWriter`](crate::LogWriter) can
//! keep its first failure and hand it out again (I/O errors are shared
//! behind an `Arc`). Its I/O and corruption variants hold seer-core's
//! [`IoError`] and [`Corruption`], the vocabulary every layer shares.

use std::path::PathBuf;

use seer_core::{Corruption, IoError};

/// Everything that can go wrong while writing or reading a log file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Bytes of a log file are damaged (the offset is the first damaged
    /// frame, or the header).
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// The writer refused the work because an earlier append or sync
    /// failed: the file's tail is unknown and a failed sync is not retried.
    #[error("the log is unusable after an earlier failure: {cause}")]
    Poisoned {
        /// The failure that poisoned the writer.
        cause: Box<LogError>,
    },
}

impl LogError {
    /// An I/O error on `file`.
    pub fn io(file: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io(IoError::new(file, source))
    }

    /// A corruption of `file` at `offset`.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        Self::Corruption(Corruption::new(file, offset, detail))
    }
}

/// The result type of the log framing.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
