//! The error vocabulary shared by every layer: decoding errors of the core
//! codecs ([`DecodeError`]), and the two storage failures every layer
//! reports the same way, a failed file operation ([`IoError`]) and damaged
//! bytes on disk ([`Corruption`]).
//!
//! Layers wrap a [`DecodeError`] into their own typed corruption error, adding
//! the file name and byte offset where the bad bytes were found. Each layer's
//! error enum holds [`IoError`] and [`Corruption`] as variants
//! (`#[error(transparent)] Io(#[from] IoError)`), so an error passes from one
//! layer to the next without being taken apart.

use std::path::PathBuf;
use std::sync::Arc;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the named field was complete.
    #[error("truncated {what}")]
    Truncated {
        /// The field being decoded.
        what: &'static str,
    },
    /// The named field holds a value that is not allowed.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field being decoded.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

/// A file operation failed. `Clone` (the operating system's error is shared
/// behind an `Arc`), so one failure can be handed to several waiters.
#[derive(Debug, Clone, thiserror::Error)]
#[error("I/O error on {}: {source}", file.display())]
pub struct IoError {
    /// The file (or directory) being accessed.
    pub file: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: Arc<std::io::Error>,
}

impl IoError {
    /// An I/O error on `file`.
    pub fn new(file: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self {
            file: file.into(),
            source: Arc::new(source),
        }
    }
}

/// Bytes of a file are damaged: the file, the byte offset of the damage and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corruption in {} at byte {offset}: {detail}", file.display())]
pub struct Corruption {
    /// The damaged file.
    pub file: PathBuf,
    /// Byte offset of the damage (the first bad frame, record or block).
    pub offset: u64,
    /// What is wrong.
    pub detail: String,
}

impl Corruption {
    /// A corruption of `file` at `offset`.
    pub fn new(file: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }
}
