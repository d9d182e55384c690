//! The footer at the end of every table. Versions 2 and 3 (3 is written
//! today; it differs from 2 only in its filter block's layout, see
//! [`crate::filter`]):
//!
//! ```text
//! range tombstone handle  offset u64 LE | size u64 LE
//! filter handle           offset u64 LE | size u64 LE
//! properties handle       offset u64 LE | size u64 LE
//! index handle            offset u64 LE | size u64 LE
//! checksum                u64 LE: xxh3 of the handle bytes and the 4 version bytes
//! format version          u32 LE
//! magic                   u64 LE
//! ```
//!
//! Version 1 (still read) has no range tombstone handle: 68 bytes. The last
//! 20 bytes (checksum, version, magic) sit at the same place in both, so the
//! reader checks the magic first, then the version, which gives the
//! footer's length, then the checksum.

use seer_core::Checksummer;

use crate::error::{CorruptionReason, LocalCorruption};
use crate::format::BlockHandle;

/// Bytes of the footer this crate writes (format versions 2 and 3).
pub const FOOTER_BYTES: usize = 84;
/// The format version this crate writes; it also reads versions 1 and 2.
pub const FORMAT_VERSION: u32 = 3;
/// The last eight bytes of every table ("seerSST1" read as u64 LE).
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"seerSST1");

/// Bytes of a version 1 footer (no range tombstone handle).
const V1_FOOTER_BYTES: usize = 68;
/// Checksum, version and magic: the tail every version shares.
const TAIL_BYTES: usize = 20;
const HANDLE_BYTES: usize = 16;

/// The handles of a table's meta blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    /// The table's format version.
    pub(crate) version: u32,
    /// The range tombstone block; `None` in a version 1 table.
    pub(crate) range_del: Option<BlockHandle>,
    pub(crate) filter: BlockHandle,
    pub(crate) properties: BlockHandle,
    pub(crate) index: BlockHandle,
}

impl Footer {
    /// Where the data blocks end: the first meta block's offset.
    pub(crate) fn data_end(&self) -> u64 {
        self.range_del.unwrap_or(self.filter).offset
    }

    /// The meta block handles in file order.
    pub(crate) fn meta_blocks(&self) -> impl Iterator<Item = (&'static str, BlockHandle)> {
        let range_del = self.range_del.map(|h| ("range tombstone block", h));
        range_del.into_iter().chain([
            ("filter block", self.filter),
            ("properties block", self.properties),
            ("index block", self.index),
        ])
    }

    /// The footer's bytes (`version` 2 or 3, which share the layout; the
    /// range tombstone handle must be set).
    pub(crate) fn encode(&self) -> [u8; FOOTER_BYTES] {
        debug_assert!(self.version >= 2, "a version 1 footer is never written");
        let mut out = [0u8; FOOTER_BYTES];
        let handles = [
            self.range_del.unwrap_or_default(),
            self.filter,
            self.properties,
            self.index,
        ];
        for (i, handle) in handles.iter().enumerate() {
            let at = i * HANDLE_BYTES;
            out[at..at + 8].copy_from_slice(&handle.offset.to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&handle.size_bytes.to_le_bytes());
        }
        let version_at = FOOTER_BYTES - 12;
        out[version_at..version_at + 4].copy_from_slice(&self.version.to_le_bytes());
        let checksum = footer_checksum(&out);
        out[version_at - 8..version_at].copy_from_slice(&checksum.to_le_bytes());
        out[version_at + 4..].copy_from_slice(&TABLE_MAGIC.to_le_bytes());
        out
    }

    /// Decodes the footer at the end of `file`, returning it and its start
    /// offset; error offsets are from the start of `file`.
    pub(crate) fn decode_at_end(file: &[u8]) -> Result<(Self, usize), LocalCorruption> {
        let truncated = || LocalCorruption::new(0, CorruptionReason::Truncated { what: "footer" });
        if file.len() < V1_FOOTER_BYTES {
            return Err(truncated());
        }
        let tail_start = file.len() - TAIL_BYTES;
        let magic_at = file.len() - 8;
        let magic = read_u64(file, magic_at);
        if magic != TABLE_MAGIC {
            return Err(LocalCorruption::new(
                magic_at,
                CorruptionReason::WrongMagic { found: magic },
            ));
        }
        let version_at = magic_at - 4;
        let mut version_bytes = [0u8; 4];
        version_bytes.copy_from_slice(&file[version_at..magic_at]);
        let version = u32::from_le_bytes(version_bytes);
        let footer_bytes = match version {
            1 => V1_FOOTER_BYTES,
            2 | FORMAT_VERSION => FOOTER_BYTES,
            found => {
                return Err(LocalCorruption::new(
                    version_at,
                    CorruptionReason::UnknownVersion { found },
                ))
            }
        };
        let start = file.len().checked_sub(footer_bytes).ok_or_else(truncated)?;
        let footer = &file[start..];
        let stored = read_u64(file, tail_start);
        let computed = footer_checksum(footer);
        if stored != computed {
            return Err(LocalCorruption::new(
                tail_start,
                CorruptionReason::BadChecksum {
                    what: "footer",
                    stored,
                    computed,
                },
            ));
        }
        let handle = |i: usize| BlockHandle {
            offset: read_u64(footer, i * HANDLE_BYTES),
            size_bytes: read_u64(footer, i * HANDLE_BYTES + 8),
        };
        let first = usize::from(version != 1);
        Ok((
            Self {
                version,
                range_del: (version != 1).then(|| handle(0)),
                filter: handle(first),
                properties: handle(first + 1),
                index: handle(first + 2),
            },
            start,
        ))
    }
}

/// xxh3 of a footer's handle bytes and version bytes.
fn footer_checksum(footer: &[u8]) -> u64 {
    let checksum_at = footer.len() - TAIL_BYTES;
    Checksummer::new()
        .update(&footer[..checksum_at])
        .update(&footer[checksum_at + 8..checksum_at + 12])
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

    fn handle(offset: u64, size_bytes: u64) -> BlockHandle {
        BlockHandle { offset, size_bytes }
    }

    #[test]
    fn round_trip_and_typed_errors() {
        let version_two = Footer {
            version: 2,
            range_del: Some(handle(3, 1)),
            filter: handle(10, 20),
            properties: handle(39, 5),
            index: handle(53, 7),
        };
        assert_eq!(
            Footer::decode_at_end(&version_two.encode()),
            Ok((version_two, 0))
        );
        let footer = Footer {
            version: FORMAT_VERSION,
            range_del: Some(handle(3, 1)),
            filter: handle(10, 20),
            properties: handle(39, 5),
            index: handle(53, 7),
        };
        let mut file = vec![7u8; 5];
        file.extend_from_slice(&footer.encode());
        assert_eq!(Footer::decode_at_end(&file), Ok((footer, 5)));
        let reason = |bad: &[u8]| Footer::decode_at_end(bad).unwrap_err().reason;
        let mut bad = file.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(reason(&bad), CorruptionReason::WrongMagic { .. }));
        let mut bad = file.clone();
        let version_at = file.len() - 12;
        bad[version_at] = 9;
        assert!(matches!(
            reason(&bad),
            CorruptionReason::UnknownVersion { found: 9 }
        ));
        let mut bad = file.clone();
        bad[8] ^= 1;
        let error = Footer::decode_at_end(&bad).unwrap_err();
        assert!(matches!(error.reason, CorruptionReason::BadChecksum { .. }));
        assert_eq!(error.offset, file.len() - TAIL_BYTES);
        assert!(Footer::decode_at_end(&file[6..]).is_err());
        assert!(matches!(
            reason(&file[file.len() - 60..]),
            CorruptionReason::Truncated { .. }
        ));
    }

    /// A version 1 footer, laid out by hand as FORMATS.md describes it.
    #[test]
    fn version_one_footer_has_no_range_tombstone_handle() {
        let mut v1 = Vec::new();
        for (offset, size) in [(10u64, 20u64), (39, 5), (53, 7)] {
            v1.extend_from_slice(&offset.to_le_bytes());
            v1.extend_from_slice(&size.to_le_bytes());
        }
        let checksum = Checksummer::new()
            .update(&v1)
            .update(&1u32.to_le_bytes())
            .finish();
        v1.extend_from_slice(&checksum.to_le_bytes());
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        assert_eq!(v1.len(), V1_FOOTER_BYTES);
        let (footer, start) = Footer::decode_at_end(&v1).unwrap();
        assert_eq!(start, 0);
        assert_eq!(footer.range_del, None);
        assert_eq!(footer.filter, handle(10, 20));
        assert_eq!(footer.index, handle(53, 7));
        assert_eq!(footer.data_end(), 10);
    }
}
