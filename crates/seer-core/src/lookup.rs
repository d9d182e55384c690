//! What one source (a memtable or a table) knows about a user key at a
//! snapshot. The caller walks sources from newest to oldest and resolves merge
//! operands with the `MergeOperator` once it reaches a base.

use bytes::Bytes;

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
