//! What one source (a memtable or a table) knows about a user key at a
//! snapshot. The caller walks sources from newest to oldest and resolves merge
//! operands with the `MergeOperator` once it reaches a base.

use bytes::Bytes;

use crate::expiry::live_value;
use crate::DecodeError;

/// The newest entry of a key visible at a snapshot, as one source sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The source holds no visible entry for the key: search older sources.
    NotFound,
    /// The newest visible entry is a put of this value.
    Value(Bytes),
    /// The newest visible entry is an expiring put of this stored value
    /// (`expiry | value`, [`crate::expiry`]): the reader decides with its
    /// clock whether it is a value or deleted.
    Expiring(Bytes),
    /// The newest visible entry is a tombstone.
    Deleted,
    /// The newest visible entries are merge operands.
    Merge {
        /// Operands, newest first.
        operands: Vec<Bytes>,
        /// The put or tombstone below the operands in the same source, or
        /// `None` when the caller must keep searching older sources.
        base: Option<MergeBase>,
    },
}

impl Lookup {
    /// This answer as a reader sees it at the time `now_unix_ms` gives
    /// (called only when the answer holds an expiring put): an expiring put
    /// (as the entry or as the operands' base) is its value before its
    /// expiry and a tombstone from it on. Fails on a stored value too short
    /// for its expiry.
    pub fn at_time(self, now_unix_ms: impl FnOnce() -> u64) -> Result<Self, DecodeError> {
        Ok(match self {
            Self::Expiring(stored) => match live_value(&stored, now_unix_ms())? {
                Some(value) => Self::Value(value),
                None => Self::Deleted,
            },
            Self::Merge {
                operands,
                base: Some(MergeBase::Expiring(stored)),
            } => Self::Merge {
                operands,
                base: Some(match live_value(&stored, now_unix_ms())? {
                    Some(value) => MergeBase::Value(value),
                    None => MergeBase::Deleted,
                }),
            },
            other => other,
        })
    }
}

/// What lies below a run of merge operands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeBase {
    /// A put of this value.
    Value(Bytes),
    /// An expiring put of this stored value (`expiry | value`): no value
    /// once expired.
    Expiring(Bytes),
    /// A tombstone: the operands apply to no value.
    Deleted,
}
