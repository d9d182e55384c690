//! The crate's error type.
//!
//! I/O failures and corruption are seer-core's shared [`IoError`] and
//! [`Corruption`] (the file, and the byte offset of the bad bytes); an edit
//! that does not fit the version is an [`EditError`]; a version that breaks
//! the tree's invariants is an [`InvariantViolation`].

use std::path::{Path, PathBuf};

use seer_core::{Corruption, IoError, MergeError};
use seer_log::LogError;

use crate::version::{EditError, InvariantViolation};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while keeping or compacting the tree.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A manifest or `CURRENT` holds bytes that do not decode.
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// `file` (`CURRENT`) is not a seerdb `CURRENT`, or names a manifest
    /// that does not exist: the directory holds no whole seerdb database.
    #[error("{} is not a seerdb database pointer: {reason}", file.display())]
    NotADatabase {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The manifest log failed (I/O or damaged frames).
    #[error(transparent)]
    Log(#[from] LogError),
    /// A table could not be written or read.
    #[error(transparent)]
    Table(#[from] seer_sstable::Error),
    /// An edit does not fit the current version.
    #[error("invalid version edit: {0}")]
    Edit(#[from] EditError),
    /// A version (or a compaction's output) breaks the tree's invariants;
    /// the version was not installed. A bug, never bad input.
    #[error("tree invariant violated: {0}")]
    Invariant(#[from] InvariantViolation),
    /// The merge operator refused a key's operands.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// An earlier manifest write failed; the version set accepts no more
    /// edits (the manifest's tail is unknown).
    #[error("the manifest is unusable after an earlier failure: {0}")]
    Poisoned(String),
    /// The owner cancelled the flush or compaction
    /// ([`ExecutorContext::cancel`](crate::ExecutorContext)); its outputs
    /// were removed.
    #[error("cancelled")]
    Cancelled,
    /// A compaction input yielded bytes that are not an internal key.
    #[error("compaction input holds an invalid internal key: {0}")]
    InputKey(seer_core::DecodeError),
    /// A compaction input holds an expiring put whose value is too short
    /// for its expiry.
    #[error("compaction input holds an invalid expiring value: {0}")]
    InputValue(seer_core::DecodeError),
}

impl Error {
    /// An I/O error on `file`.
    pub fn io(file: &Path, source: std::io::Error) -> Self {
        Self::Io(IoError::new(file, source))
    }

    /// Corruption in `file` at `offset`.
    pub fn corruption(file: &Path, offset: u64, detail: impl Into<String>) -> Self {
        Self::Corruption(Corruption::new(file, offset, detail))
    }

    /// The file the error names, when it names one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::Io(IoError { file, .. })
            | Self::Corruption(Corruption { file, .. })
            | Self::NotADatabase { file, .. }
            | Self::Log(LogError::Io(IoError { file, .. }))
            | Self::Log(LogError::Corruption(Corruption { file, .. })) => Some(file),
            _ => None,
        }
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
