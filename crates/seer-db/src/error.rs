//! The facade's typed error, [`Error`], and the conversions from each
//! layer's error into it. I/O failures and corruption are seer-core's
//! [`IoError`] and [`Corruption`] at every layer, so they pass up unchanged
//! (file and offset included); [`Error::Background`] is made only by the
//! background threads, never by a conversion.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use seer_core::{Corruption, IoError, MergeError};
use seer_log::LogError;
use seer_wal::WalError;

/// The result type of seer-db.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a database operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed: match `Error::Io(IoError { file, .. })`.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Bytes on disk are damaged: match
    /// `Error::Corruption(Corruption { file, offset, .. })`.
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// An argument or option is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A [`TableWriter`](crate::TableWriter) was given a key that does not
    /// follow the previous one (keys must be strictly ascending).
    #[error("key {key:?} does not follow {previous:?}: a table's keys must be strictly ascending")]
    UnsortedKey {
        /// The refused key.
        key: Vec<u8>,
        /// The key added before it.
        previous: Vec<u8>,
    },
    /// [`DB::ingest`](crate::DB::ingest) refused a file: not a table of
    /// ours, damaged, unsorted or not written by a
    /// [`TableWriter`](crate::TableWriter). Nothing was ingested.
    #[error("cannot ingest {}: {reason}", file.display())]
    IngestRejected {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// [`DB::ingest`](crate::DB::ingest) was given files whose key ranges
    /// meet. Nothing was ingested.
    #[error("cannot ingest {}: its key range meets that of {}", file.display(), other.display())]
    IngestOverlap {
        /// The file.
        file: PathBuf,
        /// The file it overlaps.
        other: PathBuf,
    },
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
    /// A checkpoint or restore target already exists (it is never
    /// overwritten), or a leftover staging directory beside it holds files
    /// that are not seerdb's.
    #[error("{} already exists", path.display())]
    TargetExists {
        /// The existing path.
        path: PathBuf,
    },
    /// The directory is a checkpoint or restore that did not finish (a
    /// crash or power loss interrupted it): it is not opened, since files
    /// may be missing. Delete it and take the copy again.
    #[error("{} is an unfinished checkpoint or restore; delete it and start again", path.display())]
    IncompleteCopy {
        /// The directory.
        path: PathBuf,
    },
    /// No backup of this id in the backup directory.
    #[error("no backup {id} in {}", dir.display())]
    BackupNotFound {
        /// The backup id asked for.
        id: u64,
        /// The backup directory.
        dir: PathBuf,
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
    /// A write (put, delete, merge, batch, transaction commit, flush,
    /// compaction, persist) on a database opened read-only
    /// ([`DB::open_read_only`](crate::DB::open_read_only)); unlike
    /// [`Error::ReadOnly`], nothing failed: this handle never writes.
    #[error("the database was opened read-only and takes no writes")]
    OpenedReadOnly,
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
    /// Every sequence number up to the 56-bit maximum has been used: the
    /// write was refused before it reached the log.
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    /// A layer below broke one of its own rules (a table key out of order,
    /// a version edit that does not fit, a frozen memtable written to): a
    /// seerdb bug, never bad input or damaged bytes.
    #[error("internal error in the {layer}: {reason}")]
    Internal {
        /// The layer that failed: `table`, `version set`, `memtable`,
        /// `commit` or `read path`.
        layer: &'static str,
        /// The failure.
        reason: String,
    },
    /// A background job (a flush or a compaction) failed; the database is
    /// read-only from then on. Only work that ran on a background thread
    /// ends in this variant.
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
        Self::Io(IoError::new(file, source))
    }

    /// An [`Error::InvalidArgument`].
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidArgument(reason.into())
    }

    /// An [`Error::Internal`] of `layer`.
    pub(crate) fn internal(layer: &'static str, reason: impl ToString) -> Self {
        Self::Internal {
            layer,
            reason: reason.to_string(),
        }
    }

    /// Whether this is a [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Self::Corruption(_))
    }
}

impl From<WalError> for Error {
    fn from(error: WalError) -> Self {
        match error {
            WalError::Log(error) => error.into(),
            WalError::Poisoned { cause } => Self::ReadOnly {
                cause: Arc::new(Self::from(*cause)),
            },
            // The memtable applier's own error, handed back by the pipeline.
            WalError::Apply { source } => match source.downcast_ref::<Self>() {
                Some(own) => own.clone(),
                None => Self::internal("commit", source),
            },
            WalError::InvalidWrite { reason } => Self::InvalidArgument(reason.to_owned()),
            WalError::SequenceExhausted => Self::SequenceExhausted,
        }
    }
}

impl From<LogError> for Error {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Io(error) => Self::Io(error),
            LogError::Corruption(error) => Self::Corruption(error),
            LogError::Poisoned { cause } => Self::ReadOnly {
                cause: Arc::new(Self::from(*cause)),
            },
        }
    }
}

impl From<seer_sstable::Error> for Error {
    fn from(error: seer_sstable::Error) -> Self {
        match error {
            seer_sstable::Error::Io(error) => Self::Io(error),
            // The table's typed reason becomes the shared detail text.
            seer_sstable::Error::Corruption {
                file,
                offset,
                reason,
            } => Self::Corruption(Corruption::new(file, offset, reason.to_string())),
            seer_sstable::Error::InvalidOptions { reason } => {
                Self::InvalidArgument(reason.to_owned())
            }
            other => Self::internal("table", other),
        }
    }
}

impl From<seer_compaction::Error> for Error {
    fn from(error: seer_compaction::Error) -> Self {
        match error {
            seer_compaction::Error::Io(error) => Self::Io(error),
            seer_compaction::Error::Corruption(error) => Self::Corruption(error),
            seer_compaction::Error::Log(error) => error.into(),
            seer_compaction::Error::Table(error) => error.into(),
            seer_compaction::Error::Merge(error) => Self::Merge(error),
            seer_compaction::Error::NotADatabase { file, reason } => Self::NotADatabase {
                path: file.parent().map(PathBuf::from).unwrap_or_default(),
                reason: format!("{}: {reason}", file.display()),
            },
            // Only a closing database cancels its compactions.
            seer_compaction::Error::Cancelled => Self::Closed,
            other => Self::internal("version set", other),
        }
    }
}
