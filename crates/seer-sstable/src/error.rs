//! The table layer's error type.
//!
//! Every error names the table file. Corruption carries the byte offset in
//! the file where the bad bytes were found and a typed [`CorruptionReason`];
//! readers never panic on bad bytes and never return wrong data. I/O
//! failures are seer-core's shared [`IoError`]; corruption keeps its own
//! typed reason here (seer-db turns it into a [`seer_core::Corruption`]
//! with the reason's text as the detail).

use std::path::{Path, PathBuf};

use seer_core::{DecodeError, IoError};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with a table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file system failed (on the table file).
    #[error(transparent)]
    Io(#[from] IoError),
    /// The table's bytes are not a valid table.
    #[error("corrupt table {} at byte {offset}: {reason}", file.display())]
    Corruption {
        /// The table file.
        file: PathBuf,
        /// Byte offset in the file of the bad structure.
        offset: u64,
        /// What is wrong.
        reason: CorruptionReason,
    },
    /// `TableBuilder::add` got a key not strictly after the previous one.
    #[error(
        "{}: internal key {:?} is not after the previous key {:?}",
        file.display(),
        key.escape_ascii().to_string(),
        previous.escape_ascii().to_string()
    )]
    OutOfOrder {
        /// The table file.
        file: PathBuf,
        /// The previous encoded internal key.
        previous: Vec<u8>,
        /// The rejected encoded internal key.
        key: Vec<u8>,
    },
    /// `TableBuilder::add` got bytes that are not an encoded internal key.
    #[error("{}: invalid internal key: {source}", file.display())]
    InvalidKey {
        /// The table file.
        file: PathBuf,
        /// Why the key does not decode.
        #[source]
        source: DecodeError,
    },
    /// A key or value is longer than a table can hold.
    #[error("{}: entry of {len_bytes} bytes exceeds the limit of {limit_bytes}", file.display())]
    EntryTooLarge {
        /// The table file.
        file: PathBuf,
        /// Length of the key or value.
        len_bytes: usize,
        /// The largest allowed length.
        limit_bytes: usize,
    },
    /// `TableBuilder::finish` was called before any entry was added.
    #[error("{}: a table needs at least one entry", file.display())]
    Empty {
        /// The table file.
        file: PathBuf,
    },
    /// The table's file name carries no file number.
    #[error("{}: not a numbered table file name", file.display())]
    UnnumberedFile {
        /// The table file.
        file: PathBuf,
    },
    /// The options cannot build a table.
    #[error("invalid table options: {reason}")]
    InvalidOptions {
        /// Which option is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// Whether this is a [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Self::Corruption { .. })
    }

    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        Self::Io(IoError::new(file, source))
    }

    pub(crate) fn corruption(file: &Path, offset: u64, reason: CorruptionReason) -> Self {
        Self::Corruption {
            file: file.to_path_buf(),
            offset,
            reason,
        }
    }
}

/// Why a table's bytes are rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorruptionReason {
    /// The footer does not end with the table magic number.
    #[error("wrong magic number {found:#018x}")]
    WrongMagic {
        /// The eight bytes found where the magic belongs.
        found: u64,
    },
    /// The footer names a format version this reader does not know.
    #[error("unknown format version {found}")]
    UnknownVersion {
        /// The version found.
        found: u32,
    },
    /// A stored checksum does not match the bytes.
    #[error("bad checksum of {what}: stored {stored:#018x}, computed {computed:#018x}")]
    BadChecksum {
        /// The structure checked.
        what: &'static str,
        /// The checksum in the file.
        stored: u64,
        /// The checksum of the bytes.
        computed: u64,
    },
    /// The bytes end before the named structure is complete.
    #[error("truncated {what}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
    },
    /// The named structure holds a value that is not allowed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl CorruptionReason {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

impl From<DecodeError> for CorruptionReason {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::Truncated { what } => Self::Truncated { what },
            DecodeError::Invalid { what, detail } => Self::Malformed { what, detail },
        }
    }
}

/// A corruption found inside one structure (a block), at an offset relative
/// to that structure's start; the table adds the file and the base offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCorruption {
    pub(crate) offset: usize,
    pub(crate) reason: CorruptionReason,
}

impl LocalCorruption {
    pub(crate) fn new(offset: usize, reason: CorruptionReason) -> Self {
        Self { offset, reason }
    }

    pub(crate) fn into_error(self, file: &Path, base_offset: u64) -> Error {
        Error::corruption(file, base_offset + self.offset as u64, self.reason)
    }
}
