//! The facade's typed error, [`Error`], and the conversions from each
//! layer's error into it (I/O and corruption keep the file and offset).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use seer_core::MergeError;
use seer_log::LogError;
use seer_wal::WalError;

/// The result type of seer-db.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a database operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("I/O error on {}: {source}", file.display())]
    Io {
        /// The file or directory being accessed.
        file: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Bytes on disk are damaged.
    #[error("corruption in {} at byte {offset}: {detail}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage in the file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// An argument or option is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Another handle (in this or another process) holds the directory.
    #[error("database {} is locked by another handle", path.display())]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The directory holds something that is not a seerdb database.
    #[error("{} is not a seerdb database: {reason}", path.display())]
    NotADatabase {
        /// The directory.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// Writes stayed stopped for longer than `write_stall_timeout`.
    #[error("write stalled for {waited:?}: {reason}")]
    WriteStall {
        /// How long the write waited.
        waited: Duration,
        /// Why writes were stopped.
        reason: String,
    },
    /// The database refuses writes after a background or fsync failure.
    #[error("database is read-only after an earlier failure: {cause}")]
    ReadOnly {
        /// The failure that made it read-only.
        cause: Arc<Error>,
    },
    /// A transaction read or wrote a key that another writer committed
    /// after the transaction began.
    #[error("transaction conflict on key {key:?}")]
    TransactionConflict {
        /// The conflicting user key.
        key: bytes::Bytes,
    },
    /// The database was closed.
    #[error("database is closed")]
    Closed,
    /// The merge operator failed (or none is configured).
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// A background job failed; the database is read-only from then on.
    #[error("background {job} failed: {reason}")]
    Background {
        /// `flush` or `compaction`.
        job: &'static str,
        /// The failure.
        reason: String,
    },
}

impl Error {
    /// An I/O error on `file`.
    pub(crate) fn io(file: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            file: file.into(),
            source: Arc::new(source),
        }
    }

    /// An [`Error::InvalidArgument`].
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidArgument(reason.into())
    }

    /// Whether this is a [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Self::Corruption { .. })
    }
}

impl From<WalError> for Error {
    fn from(error: WalError) -> Self {
        match error {
            WalError::Log(error) => error.into(),
            WalError::Poisoned { cause } => Self::ReadOnly {
                cause: Arc::new(Self::from(*cause)),
            },
            WalError::InvalidWrite { reason } => Self::InvalidArgument(reason.to_owned()),
            other => Self::Background {
                job: "commit",
                reason: other.to_string(),
            },
        }
    }
}

impl From<LogError> for Error {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Io { file, source } => Self::Io { file, source },
            LogError::Corruption {
                file,
                offset,
                detail,
            } => Self::Corruption {
                file,
                offset,
                detail,
            },
            LogError::Poisoned { cause } => Self::ReadOnly {
                cause: Arc::new(Self::from(*cause)),
            },
        }
    }
}

impl From<seer_sstable::Error> for Error {
    fn from(error: seer_sstable::Error) -> Self {
        match error {
            seer_sstable::Error::Io { file, source } => Self::Io {
                file,
                source: Arc::new(source),
            },
            seer_sstable::Error::Corruption {
                file,
                offset,
                reason,
            } => Self::Corruption {
                file,
                offset,
                detail: reason.to_string(),
            },
            seer_sstable::Error::InvalidOptions { reason } => {
                Self::InvalidArgument(reason.to_owned())
            }
            other => Self::Background {
                job: "table",
                reason: other.to_string(),
            },
        }
    }
}

impl From<seer_compaction::Error> for Error {
    fn from(error: seer_compaction::Error) -> Self {
        match error {
            seer_compaction::Error::Io { file, source } => Self::Io {
                file,
                source: Arc::new(source),
            },
            seer_compaction::Error::Corruption {
                file,
                offset,
                detail,
            } => Self::Corruption {
                file,
                offset,
                detail,
            },
            seer_compaction::Error::Log(error) => error.into(),
            seer_compaction::Error::Table(error) => error.into(),
            seer_compaction::Error::Merge(error) => Self::Merge(error),
            seer_compaction::Error::NotADatabase { file, reason } => Self::NotADatabase {
                path: file.parent().map(PathBuf::from).unwrap_or_default(),
                reason: format!("{}: {reason}", file.display()),
            },
            // Only a closing database cancels its compactions.
            seer_compaction::Error::Cancelled => Self::Closed,
            other => Self::Background {
                job: "version set",
                reason: other.to_string(),
            },
        }
    }
}
