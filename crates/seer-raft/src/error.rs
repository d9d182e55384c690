//! [`Error`], what a storage call of the adapter can fail with, and its
//! mapping to openraft's [`StorageError`] (the seerdb error, when there is
//! one, is the source of the openraft error).

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};

/// A failure of the seerdb-backed log or state machine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// seerdb failed.
    #[error(transparent)]
    Db(#[from] seer_db::Error),
    /// A stored record (log entry, vote, log id, membership, snapshot
    /// metadata) does not decode.
    #[error("decoding the stored {record}: {source}")]
    Decode {
        /// What was being decoded.
        record: &'static str,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A record does not encode (never expected for the adapter's types).
    #[error("encoding the {record}: {source}")]
    Encode {
        /// What was being encoded.
        record: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Snapshot data ends inside a record.
    #[error("snapshot data truncated: a record at offset {offset_bytes} runs past its end")]
    SnapshotTruncated {
        /// Offset of the incomplete record in the snapshot data.
        offset_bytes: usize,
    },
    /// The blocking task running a seerdb call panicked or was cancelled.
    #[error("the blocking storage task failed: {0}")]
    Task(String),
}

impl Error {
    /// The openraft error for this failure while doing `verb` on
    /// `subject`; its source is the seerdb error itself when seerdb failed.
    pub fn into_storage_error(
        self,
        subject: ErrorSubject<u64>,
        verb: ErrorVerb,
    ) -> StorageError<u64> {
        let source = match &self {
            Error::Db(db) => AnyError::new(db),
            other => AnyError::new(other),
        };
        StorageIOError::new(subject, verb, source).into()
    }
}
