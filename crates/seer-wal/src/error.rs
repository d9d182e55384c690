//! The typed errors of the WAL layer.
//!
//! [`WalError`] is `Clone` so that one failure of a commit group can be
//! handed to every writer of the group (I/O errors are shared behind an
//! `Arc`). I/O errors and damaged bytes are the framing's [`LogError`],
//! wrapped in [`WalError::Log`].

use std::path::PathBuf;
use std::sync::Arc;

use seer_log::LogError;

/// Everything that can go wrong in the WAL layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
    /// A file operation failed, or bytes of a segment are damaged: the
    /// framing's error, naming the file (and the damaged offset).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The pipeline refused the write because an earlier write, sync or
    /// apply failed; the log may have lost data and is not retried.
    #[error("the write-ahead log is unusable after an earlier failure: {cause}")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: Box<WalError>,
    },
    /// The owner's apply callback failed after the group reached the log.
    #[error("applying a commit group failed: {source}")]
    Apply {
        /// The callback's own error ([`Apply::Error`](crate::Apply::Error));
        /// the owner gets it back with `downcast_ref`.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
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
        Self::Log(LogError::io(file, source))
    }

    /// A corruption of `file` at `offset`.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        Self::Log(LogError::corruption(file, offset, detail))
    }
}

/// The result type of the WAL layer.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
