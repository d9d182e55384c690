//! The typed errors of the log framing.
//!
//! [`LogError`] is `Clone` so that a [`LogWriter`](crate::LogWriter) can
//! keep its first failure and hand it out again (I/O errors are shared
//! behind an `Arc`).

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong while writing or reading a log file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// A file operation failed.
    #[error("I/O error on {}: {source}", file.display())]
    Io {
        /// The file (or directory) being accessed.
        file: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Bytes of a log file are damaged.
    #[error("corruption in {} at byte {offset}: {detail}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first damaged frame (or header) in the file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
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
        Self::Io {
            file: file.into(),
            source: Arc::new(source),
        }
    }

    /// A corruption of `file` at `offset`.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        Self::Corruption {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }
}

/// The result type of the log framing.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
