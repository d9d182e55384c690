//! The typed errors of the WAL layer.
//!
//! [`WalError`] is `Clone` so that one failure of a commit group can be
//! handed to every writer of the group (I/O errors are shared behind an
//! `Arc`).

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in the WAL layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
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
    /// The pipeline refused the write because an earlier write, sync or
    /// apply failed; the log may have lost data and is not retried.
    #[error("the write-ahead log is unusable after an earlier failure: {cause}")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: Box<WalError>,
    },
    /// The owner's apply callback failed after the group reached the log.
    #[error("applying a commit group failed: {reason}")]
    Apply {
        /// The callback's explanation.
        reason: String,
    },
    /// A write was refused before it reached the log.
    #[error("invalid write: {reason}")]
    InvalidWrite {
        /// Why.
        reason: &'static str,
    },
    /// Every sequence number up to `MAX_SEQ` has been used.
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
}

impl WalError {
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

/// The result type of the WAL layer.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
