//! The memtable's error type.

use seer_core::SeqNo;

/// Why an insert was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemtableError {
    /// The memtable is frozen (immutable) and takes no more inserts.
    #[error("memtable is frozen and refuses inserts")]
    Frozen,
    /// The sequence number does not fit in 56 bits.
    #[error("sequence number {seq} exceeds the 56-bit maximum")]
    SeqTooLarge {
        /// The offending sequence number.
        seq: SeqNo,
    },
    /// The user key is longer than [`crate::MAX_USER_KEY_BYTES`].
    #[error("user key of {key_bytes} bytes exceeds the memtable's maximum")]
    KeyTooLarge {
        /// The offending key's length.
        key_bytes: usize,
    },
}
