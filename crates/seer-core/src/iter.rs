//! The cursor every layer exposes over its internal entries, so that the
//! compaction merge and the DB's read path can combine memtables and tables
//! without knowing which is which.

use bytes::Bytes;

/// A cursor over internal entries in internal-key order
/// ([`crate::compare_internal_keys`]).
///
/// A fresh cursor is not positioned; call one of the seeks first. After an
/// error the cursor is invalid and the error is returned by the call that met
/// it.
pub trait InternalIterator {
    /// The error of a failed move (a corrupt block, a failed read).
    type Error;

    /// Whether the cursor is on an entry.
    fn valid(&self) -> bool;
    /// The encoded internal key of the current entry; only while `valid()`.
    fn key(&self) -> &[u8];
    /// The value (or merge operand) of the current entry; only while `valid()`.
    fn value(&self) -> &Bytes;
    /// Moves to the first entry.
    fn seek_to_first(&mut self) -> Result<(), Self::Error>;
    /// Moves to the last entry.
    fn seek_to_last(&mut self) -> Result<(), Self::Error>;
    /// Moves to the first entry whose key is `>= target` (an encoded internal key).
    fn seek(&mut self, target: &[u8]) -> Result<(), Self::Error>;
    /// Moves to the last entry whose key is `<= target` (an encoded internal key).
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Self::Error>;
    /// Moves to the next entry; only while `valid()`.
    fn next(&mut self) -> Result<(), Self::Error>;
    /// Moves to the previous entry; only while `valid()`.
    fn prev(&mut self) -> Result<(), Self::Error>;
}
