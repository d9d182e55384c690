//! The fixed-size footer at the end of every table.
//!
//! ```text
//! filter handle      offset u64 LE | size u64 LE
//! properties handle  offset u64 LE | size u64 LE
//! index handle       offset u64 LE | size u64 LE
//! checksum           u64 LE: xxh3 of the 48 handle bytes and the 4 version bytes
//! format version     u32 LE
//! magic              u64 LE
//! ```
//!
//! The reader checks the magic first, then the version (a future version
//! may lay out the rest differently), then the checksum.

use seer_core::Checksummer;

use crate::error::{CorruptionReason, LocalCorruption};
use crate::format::BlockHandle;

/// Bytes of the footer.
pub const FOOTER_BYTES: usize = 68;
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The last eight bytes of every table ("seerSST1" read as u64 LE).
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"seerSST1");

const HANDLES_BYTES: usize = 48;
const CHECKSUM_AT: usize = HANDLES_BYTES;
const VERSION_AT: usize = CHECKSUM_AT + 8;
const MAGIC_AT: usize = VERSION_AT + 4;

/// The handles of a table's meta blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    pub(crate) filter: BlockHandle,
    pub(crate) properties: BlockHandle,
    pub(crate) index: BlockHandle,
}

impl Footer {
    /// The footer's bytes.
    pub(crate) fn encode(&self) -> [u8; FOOTER_BYTES] {
        let mut out = [0u8; FOOTER_BYTES];
        let handles = [self.filter, self.properties, self.index];
        for (i, handle) in handles.iter().enumerate() {
            out[i * 16..i * 16 + 8].copy_from_slice(&handle.offset.to_le_bytes());
            out[i * 16 + 8..i * 16 + 16].copy_from_slice(&handle.size_bytes.to_le_bytes());
        }
        out[VERSION_AT..MAGIC_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let checksum = footer_checksum(&out);
        out[CHECKSUM_AT..VERSION_AT].copy_from_slice(&checksum.to_le_bytes());
        out[MAGIC_AT..].copy_from_slice(&TABLE_MAGIC.to_le_bytes());
        out
    }

    /// Decodes the last [`FOOTER_BYTES`] of a file; error offsets are
    /// relative to the footer's start.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, LocalCorruption> {
        if bytes.len() != FOOTER_BYTES {
            return Err(LocalCorruption::new(
                0,
                CorruptionReason::Truncated { what: "footer" },
            ));
        }
        let magic = read_u64(bytes, MAGIC_AT);
        if magic != TABLE_MAGIC {
            return Err(LocalCorruption::new(
                MAGIC_AT,
                CorruptionReason::WrongMagic { found: magic },
            ));
        }
        let version = u32::from_le_bytes([
            bytes[VERSION_AT],
            bytes[VERSION_AT + 1],
            bytes[VERSION_AT + 2],
            bytes[VERSION_AT + 3],
        ]);
        if version != FORMAT_VERSION {
            return Err(LocalCorruption::new(
                VERSION_AT,
                CorruptionReason::UnknownVersion { found: version },
            ));
        }
        let stored = read_u64(bytes, CHECKSUM_AT);
        let computed = footer_checksum(bytes);
        if stored != computed {
            return Err(LocalCorruption::new(
                CHECKSUM_AT,
                CorruptionReason::BadChecksum {
                    what: "footer",
                    stored,
                    computed,
                },
            ));
        }
        let handle = |i: usize| BlockHandle {
            offset: read_u64(bytes, i * 16),
            size_bytes: read_u64(bytes, i * 16 + 8),
        };
        Ok(Self {
            filter: handle(0),
            properties: handle(1),
            index: handle(2),
        })
    }
}

fn footer_checksum(footer: &[u8]) -> u64 {
    Checksummer::new()
        .update(&footer[..HANDLES_BYTES])
        .update(&footer[VERSION_AT..MAGIC_AT])
        .finish()
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_typed_errors() {
        let footer = Footer {
            filter: BlockHandle {
                offset: 10,
                size_bytes: 20,
            },
            properties: BlockHandle {
                offset: 39,
                size_bytes: 5,
            },
            index: BlockHandle {
                offset: 53,
                size_bytes: 7,
            },
        };
        let bytes = footer.encode();
        assert_eq!(Footer::decode(&bytes), Ok(footer));
        let mut bad = bytes;
        bad[MAGIC_AT] ^= 1;
        assert!(matches!(
            Footer::decode(&bad).unwrap_err().reason,
            CorruptionReason::WrongMagic { .. }
        ));
        let mut bad = bytes;
        bad[VERSION_AT] = 9;
        assert!(matches!(
            Footer::decode(&bad).unwrap_err().reason,
            CorruptionReason::UnknownVersion { found: 9 }
        ));
        let mut bad = bytes;
        bad[3] ^= 1;
        assert!(matches!(
            Footer::decode(&bad).unwrap_err().reason,
            CorruptionReason::BadChecksum { .. }
        ));
        assert!(Footer::decode(&bytes[1..]).is_err());
    }
}
