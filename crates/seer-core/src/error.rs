//! Decoding errors shared by every codec built on the core helpers.
//!
//! Layers wrap a [`DecodeError`] into their own typed corruption error, adding
//! the file name and byte offset where the bad bytes were found.

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
