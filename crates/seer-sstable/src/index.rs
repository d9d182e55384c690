//! The index block: one entry per data block, keyed by a separator `s` with
//! `last key of the block <= s < first key of the next block`, whose value is
//! the block's handle (`offset: varint | size: varint`).
//!
//! The index is a block with a restart at every entry. The reader decodes it
//! whole at open, checks it, and keeps it in memory for binary search.

use std::cmp::Ordering;

use bytes::Bytes;
use seer_core::{compare_internal_keys, MAX_SEQ, TRAILER_BYTES};

use crate::block::BlockIter;
use crate::error::{CorruptionReason, LocalCorruption};
use crate::format::BlockHandle;

/// Trailer of a shortened separator: the largest sequence number with the
/// seek kind byte, so it sorts before every stored entry of its user key.
const SEPARATOR_TRAILER: u64 = (MAX_SEQ << 8) | 0xff;

/// A short internal key `s` with `last <= s < next` (both encoded internal
/// keys, `last < next`).
pub(crate) fn separator(last: &[u8], next: &[u8]) -> Vec<u8> {
    let last_user = &last[..last.len() - TRAILER_BYTES];
    let next_user = &next[..next.len() - TRAILER_BYTES];
    let prefix_len = last_user
        .iter()
        .zip(next_user)
        .take_while(|(a, b)| a == b)
        .count();
    let shortened = prefix_len + 1 < last_user.len()
        && prefix_len < next_user.len()
        && last_user[prefix_len]
            .checked_add(1)
            .is_some_and(|b| b < next_user[prefix_len]);
    if !shortened {
        return last.to_vec();
    }
    let mut out = Vec::with_capacity(prefix_len + 1 + TRAILER_BYTES);
    out.extend_from_slice(&last_user[..prefix_len]);
    out.push(last_user[prefix_len] + 1);
    out.extend_from_slice(&SEPARATOR_TRAILER.to_le_bytes());
    debug_assert_eq!(compare_internal_keys(last, &out), Ordering::Less);
    debug_assert_eq!(compare_internal_keys(&out, next), Ordering::Less);
    out
}

/// The decoded index: separators stored end to end in one buffer, so the
/// binary search of a lookup touches two compact arrays instead of chasing
/// one allocation per block.
#[derive(Debug, Default)]
pub(crate) struct BlockIndex {
    separators: Vec<u8>,
    /// `separator_ends[i]` is where separator `i` ends in `separators`.
    separator_ends: Vec<usize>,
    handles: Vec<BlockHandle>,
}

impl BlockIndex {
    /// Number of data blocks.
    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }

    /// The handle of data block `block_index`, if it exists.
    pub(crate) fn handle(&self, block_index: usize) -> Option<BlockHandle> {
        self.handles.get(block_index).copied()
    }

    /// The separator of data block `block_index` (which must exist).
    pub(crate) fn separator(&self, block_index: usize) -> &[u8] {
        let start = match block_index {
            0 => 0,
            i => self.separator_ends[i - 1],
        };
        &self.separators[start..self.separator_ends[block_index]]
    }

    /// The first block whose separator is `>= target`: the only block that
    /// can hold the first key `>= target`; `len()` when there is none.
    pub(crate) fn block_for(&self, target: &[u8]) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            if compare_internal_keys(self.separator(mid), target) == Ordering::Less {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    fn push(&mut self, separator: &[u8], handle: BlockHandle) {
        self.separators.extend_from_slice(separator);
        self.separator_ends.push(self.separators.len());
        self.handles.push(handle);
    }

    fn last_separator(&self) -> Option<&[u8]> {
        self.len().checked_sub(1).map(|last| self.separator(last))
    }
}

/// The index block of a table without data blocks (it holds only range
/// tombstones): no entry, a zero restart count.
const EMPTY_INDEX_BLOCK: [u8; 4] = [0; 4];

/// Decodes and checks an index block: separators strictly ascending and
/// internal-key shaped; data blocks contiguous from offset 0 up to
/// `data_end`. Offsets of errors are relative to the index block.
pub(crate) fn parse_index(block: Bytes, data_end: u64) -> Result<BlockIndex, LocalCorruption> {
    if block.as_ref() == EMPTY_INDEX_BLOCK && data_end == 0 {
        return Ok(BlockIndex::default());
    }
    let mut iter = BlockIter::new(block)?;
    let mut index = BlockIndex::default();
    let mut expected_offset = 0u64;
    iter.seek_to_first()?;
    while iter.valid() {
        let handle = BlockHandle::decode_varint(iter.value_slice())
            .map_err(|reason| LocalCorruption::new(0, reason))?;
        check_index_entry(index.last_separator(), iter.key(), handle, expected_offset)?;
        expected_offset = handle.end_with_trailer();
        index.push(iter.key(), handle);
        iter.next()?;
    }
    if expected_offset != data_end {
        return Err(malformed(format!(
            "data blocks end at {expected_offset}, meta blocks start at {data_end}"
        )));
    }
    Ok(index)
}

fn check_index_entry(
    previous: Option<&[u8]>,
    separator: &[u8],
    handle: BlockHandle,
    expected_offset: u64,
) -> Result<(), LocalCorruption> {
    if separator.len() < TRAILER_BYTES {
        return Err(malformed("separator shorter than a trailer".to_owned()));
    }
    if previous.is_some_and(|last| compare_internal_keys(last, separator) != Ordering::Less) {
        return Err(malformed("separators out of order".to_owned()));
    }
    if handle.offset != expected_offset || handle.size_bytes == 0 {
        return Err(malformed(format!(
            "data block at {} (size {}), expected one at {expected_offset}",
            handle.offset, handle.size_bytes
        )));
    }
    Ok(())
}

fn malformed(detail: String) -> LocalCorruption {
    LocalCorruption::new(0, CorruptionReason::malformed("index block", detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_core::{InternalKey, ValueKind};

    fn key(user: &str, seq: u64) -> Vec<u8> {
        InternalKey::new(user.as_bytes().to_vec(), seq, ValueKind::Put).encode()
    }

    #[test]
    fn separators_are_short_and_between() {
        let cases = [
            ("apple", "banana"),
            ("abcdef", "abzzz"),
            ("abc", "abd"),
            ("same", "same"),
            ("a\u{7f}x", "b"),
            ("ab", "abc"),
        ];
        for (last, next) in cases {
            let last = key(last, 9);
            let next = key(next, 3);
            let sep = separator(&last, &next);
            assert!(compare_internal_keys(&last, &sep) != Ordering::Greater);
            assert_eq!(compare_internal_keys(&sep, &next), Ordering::Less);
            assert!(sep.len() <= last.len());
        }
        assert_eq!(separator(&key("abcdef", 1), &key("abzzz", 1)).len(), 3 + 8);
    }
}
