//! The block format shared by data and index blocks: entries with
//! shared-prefix compression, a restart point every `restart_interval`
//! entries, and the restart array at the end.
//!
//! ```text
//! entry*       shared: varint32 | unshared: varint32 | value_len: varint32
//!              | key[shared..] (unshared bytes) | value (value_len bytes)
//! restarts     restart_count x u32 LE: offset of each restart entry
//! restart_count u32 LE
//! ```
//!
//! A restart entry has `shared == 0`. Keys are encoded internal keys and the
//! decoder orders them with [`compare_internal_keys`]. The decoder checks
//! every length and offset against the block, so any byte string gives
//! entries or a [`LocalCorruption`], never a panic.

use std::cmp::Ordering;

use bytes::Bytes;
use seer_core::compare_internal_keys;
use seer_core::varint::{get_varint32, put_varint64};

use crate::error::{CorruptionReason, LocalCorruption};
use crate::key_buf::KeyBuf;

const U32_BYTES: usize = 4;

/// A block decode result: a corruption's offset is within the block.
pub type BlockResult<T> = Result<T, LocalCorruption>;

/// Builds one block from keys added in order.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buffer: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    entries_since_restart: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// An empty block with a restart point every `restart_interval` entries.
    pub(crate) fn new(restart_interval: usize) -> Self {
        Self {
            buffer: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            entries_since_restart: 0,
            last_key: Vec::new(),
        }
    }

    /// Appends an entry; `key` must sort after the previous key.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(
            self.restarts.is_empty()
                || compare_internal_keys(&self.last_key, key) == Ordering::Less
        );
        let shared =
            if self.restarts.is_empty() || self.entries_since_restart >= self.restart_interval {
                self.restarts.push(self.buffer.len() as u32);
                self.entries_since_restart = 0;
                0
            } else {
                common_prefix_len(&self.last_key, key)
            };
        put_varint64(&mut self.buffer, shared as u64);
        put_varint64(&mut self.buffer, (key.len() - shared) as u64);
        put_varint64(&mut self.buffer, value.len() as u64);
        self.buffer.extend_from_slice(&key[shared..]);
        self.buffer.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.entries_since_restart += 1;
    }

    /// Whether no entry was added since the last reset.
    pub(crate) fn is_empty(&self) -> bool {
        self.restarts.is_empty()
    }

    /// The size of the finished block if it were finished now.
    pub(crate) fn size_estimate_bytes(&self) -> usize {
        self.buffer.len() + (self.restarts.len() + 1) * U32_BYTES
    }

    /// Appends the restart array and returns the finished block; call
    /// [`Self::reset`] before adding again.
    pub(crate) fn finish(&mut self) -> &[u8] {
        for restart in &self.restarts {
            self.buffer.extend_from_slice(&restart.to_le_bytes());
        }
        self.buffer
            .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        &self.buffer
    }

    /// Empties the builder, keeping its allocations.
    pub(crate) fn reset(&mut self) {
        self.buffer.clear();
        self.restarts.clear();
        self.entries_since_restart = 0;
        self.last_key.clear();
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The header of one entry.
struct EntryHeader {
    shared: usize,
    unshared: usize,
    value_len: usize,
    header_len: usize,
}

/// One entry of a [`RegionCache`]: where it lies and where its full key
/// starts in the cache's key bytes.
#[derive(Debug, Clone, Copy)]
struct CachedEntry {
    offset: usize,
    value_start: usize,
    value_end: usize,
    key_start: usize,
}

/// The entries of one restart region before the cursor, decoded by a
/// backward step, so that the steps back through the region pop one each
/// instead of parsing the region from its restart point again (RocksDB's
/// block iterator keeps such a cache for `Prev`). An entry is used only if
/// it ends where the current entry starts, so the cache is never wrong,
/// only unused; its buffers move from block to block with the cursor.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegionCache {
    /// The restart region the entries lie in.
    restart_index: usize,
    /// Entries in block order.
    entries: Vec<CachedEntry>,
    /// Their full keys, one after another.
    keys: Vec<u8>,
}

impl RegionCache {
    fn clear(&mut self) {
        self.entries.clear();
        self.keys.clear();
    }
}

/// A cursor over the entries of one block (public only with the
/// `block-api` feature, for the block fuzz harness in seer-testkit).
#[derive(Debug, Clone)]
pub struct BlockIter {
    block: Bytes,
    /// Where the restart array starts, which is where the entries end.
    restarts_offset: usize,
    restart_count: usize,
    /// Offset of the current entry; `restarts_offset` when not valid.
    current: usize,
    next_offset: usize,
    /// The restart region holding the current entry.
    restart_index: usize,
    /// The current key, assembled without allocating when it is short.
    key: KeyBuf,
    value_start: usize,
    value_end: usize,
    /// The entries before the cursor in its restart region (backward).
    region: RegionCache,
}

impl BlockIter {
    /// Parses the restart array of `block`; the cursor starts unpositioned.
    pub fn new(block: Bytes) -> BlockResult<Self> {
        let len = block.len();
        let count_offset = len.checked_sub(U32_BYTES).ok_or_else(|| {
            LocalCorruption::new(0, CorruptionReason::Truncated { what: "block" })
        })?;
        let restart_count = read_u32(&block, count_offset) as usize;
        let restarts_offset = restart_count
            .checked_mul(U32_BYTES)
            .and_then(|bytes| count_offset.checked_sub(bytes))
            .ok_or_else(|| {
                LocalCorruption::new(
                    count_offset,
                    CorruptionReason::malformed(
                        "block restart array",
                        format!("{restart_count} restarts do not fit a {len}-byte block"),
                    ),
                )
            })?;
        if restart_count == 0 || restarts_offset == 0 {
            return Err(LocalCorruption::new(
                count_offset,
                CorruptionReason::malformed("block", "no entries"),
            ));
        }
        check_restarts(&block, restarts_offset, restart_count)?;
        Ok(Self {
            block,
            restarts_offset,
            restart_count,
            current: restarts_offset,
            next_offset: restarts_offset,
            restart_index: 0,
            key: KeyBuf::new(),
            value_start: 0,
            value_end: 0,
            region: RegionCache::default(),
        })
    }

    /// Takes over the backward cache's buffers of a cursor over another
    /// block (emptied), so that stepping back across blocks does not
    /// allocate them again.
    pub(crate) fn reuse_region_cache(&mut self, mut region: RegionCache) {
        region.clear();
        self.region = region;
    }

    /// The backward cache, for [`Self::reuse_region_cache`].
    pub(crate) fn into_region_cache(self) -> RegionCache {
        self.region
    }

    /// Whether the cursor is on an entry.
    #[inline]
    pub fn valid(&self) -> bool {
        self.current < self.restarts_offset
    }

    /// The current encoded internal key.
    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current value as a zero-copy slice of the block.
    #[inline]
    pub fn value(&self) -> Bytes {
        self.block.slice(self.value_start..self.value_end)
    }

    /// The offset of the current entry in the block.
    pub(crate) fn entry_offset(&self) -> usize {
        self.current
    }

    /// The current value, borrowed.
    #[inline]
    pub fn value_slice(&self) -> &[u8] {
        &self.block[self.value_start..self.value_end]
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) -> BlockResult<()> {
        let result = self.seek_to_restart(0).and_then(|()| self.parse_next());
        self.invalidate_on_error(result.map(|_| ()))
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) -> BlockResult<()> {
        let result = self.seek_to_last_inner();
        self.invalidate_on_error(result)
    }

    /// Moves to the first entry whose key is `>= target`, or becomes
    /// invalid when every key is smaller.
    pub fn seek(&mut self, target: &[u8]) -> BlockResult<()> {
        let result = self.seek_inner(target);
        self.invalidate_on_error(result)
    }

    /// Moves to the next entry, or becomes invalid after the last.
    // A cursor step that can fail, not an `Iterator`: the name matches the
    // crate's other cursors.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> BlockResult<()> {
        let result = self.parse_next().map(|_| ());
        self.invalidate_on_error(result)
    }

    /// Moves to the previous entry, or becomes invalid before the first.
    pub fn prev(&mut self) -> BlockResult<()> {
        let result = self.prev_inner();
        self.invalidate_on_error(result)
    }

    fn invalidate_on_error(&mut self, result: BlockResult<()>) -> BlockResult<()> {
        if result.is_err() {
            self.invalidate();
        }
        result
    }

    fn invalidate(&mut self) {
        self.current = self.restarts_offset;
        self.next_offset = self.restarts_offset;
    }

    fn seek_to_last_inner(&mut self) -> BlockResult<()> {
        self.seek_to_restart(self.restart_count - 1)?;
        while self.parse_next()? {
            if self.next_offset >= self.restarts_offset {
                return Ok(());
            }
        }
        Ok(())
    }

    fn seek_inner(&mut self, target: &[u8]) -> BlockResult<()> {
        // The last restart whose key is < target; the answer lies after it.
        let mut left = 0;
        let mut right = self.restart_count - 1;
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            if compare_internal_keys(self.restart_key(mid)?, target) == Ordering::Less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.seek_to_restart(left)?;
        while self.parse_next()? {
            if compare_internal_keys(&self.key, target) != Ordering::Less {
                break;
            }
        }
        Ok(())
    }

    fn prev_inner(&mut self) -> BlockResult<()> {
        let original = self.current;
        if self.pop_cached_before(original) {
            return Ok(());
        }
        self.region.clear();
        while self.restart_point(self.restart_index)? >= original {
            if self.restart_index == 0 {
                self.invalidate();
                return Ok(());
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart(self.restart_index)?;
        self.region.restart_index = self.restart_index;
        loop {
            if !self.parse_next()? {
                return Err(self.misaligned(original));
            }
            if self.next_offset >= original {
                break;
            }
            self.region.entries.push(CachedEntry {
                offset: self.current,
                value_start: self.value_start,
                value_end: self.value_end,
                key_start: self.region.keys.len(),
            });
            self.region.keys.extend_from_slice(&self.key);
        }
        if self.next_offset == original {
            Ok(())
        } else {
            Err(self.misaligned(original))
        }
    }

    /// Moves to the cached entry that ends at `original`, if there is one.
    fn pop_cached_before(&mut self, original: usize) -> bool {
        let Some(entry) = self.region.entries.last().copied() else {
            return false;
        };
        if entry.value_end != original {
            return false;
        }
        self.region.entries.pop();
        self.key
            .replace_tail(0, &self.region.keys[entry.key_start..]);
        self.region.keys.truncate(entry.key_start);
        self.current = entry.offset;
        self.value_start = entry.value_start;
        self.value_end = entry.value_end;
        self.next_offset = entry.value_end;
        self.restart_index = self.region.restart_index;
        true
    }

    fn misaligned(&self, original: usize) -> LocalCorruption {
        LocalCorruption::new(
            original,
            CorruptionReason::malformed("block", "restart point not on an entry boundary"),
        )
    }

    /// Positions before the entry at restart `index`.
    fn seek_to_restart(&mut self, index: usize) -> BlockResult<()> {
        self.key.clear();
        self.restart_index = index;
        self.next_offset = self.restart_point(index)?;
        Ok(())
    }

    fn restart_point(&self, index: usize) -> BlockResult<usize> {
        let at = self.restarts_offset + index * U32_BYTES;
        let point = read_u32(&self.block, at) as usize;
        if point >= self.restarts_offset {
            return Err(LocalCorruption::new(
                at,
                CorruptionReason::malformed(
                    "block restart array",
                    format!("restart {point} lies outside the entries"),
                ),
            ));
        }
        Ok(point)
    }

    /// The full key stored at restart `index`.
    fn restart_key(&self, index: usize) -> BlockResult<&[u8]> {
        let offset = self.restart_point(index)?;
        let header = self.entry_header(offset)?;
        if header.shared != 0 {
            return Err(LocalCorruption::new(
                offset,
                CorruptionReason::malformed("block", "restart entry shares a prefix"),
            ));
        }
        let start = offset + header.header_len;
        Ok(&self.block[start..start + header.unshared])
    }

    fn entry_header(&self, offset: usize) -> BlockResult<EntryHeader> {
        let entries = &self.block[..self.restarts_offset];
        let corrupt = |reason: CorruptionReason| LocalCorruption::new(offset, reason);
        let mut at = offset;
        let mut field = || -> BlockResult<usize> {
            let (value, used) = get_varint32(entries.get(at..).unwrap_or_default())
                .map_err(|e| corrupt(e.into()))?;
            at += used;
            Ok(value as usize)
        };
        let shared = field()?;
        let unshared = field()?;
        let value_len = field()?;
        let header_len = at - offset;
        let end = at
            .checked_add(unshared)
            .and_then(|end| end.checked_add(value_len));
        if end.is_none_or(|end| end > self.restarts_offset) {
            return Err(corrupt(CorruptionReason::Truncated {
                what: "block entry",
            }));
        }
        Ok(EntryHeader {
            shared,
            unshared,
            value_len,
            header_len,
        })
    }

    /// Decodes the entry at `next_offset`; `false` (and invalid) at the end.
    fn parse_next(&mut self) -> BlockResult<bool> {
        let offset = self.next_offset;
        if offset >= self.restarts_offset {
            self.invalidate();
            return Ok(false);
        }
        let header = self.entry_header(offset)?;
        if header.shared > self.key.len() {
            return Err(LocalCorruption::new(
                offset,
                CorruptionReason::malformed(
                    "block entry",
                    format!(
                        "shares {} bytes of a {}-byte previous key",
                        header.shared,
                        self.key.len()
                    ),
                ),
            ));
        }
        let key_start = offset + header.header_len;
        let value_start = key_start + header.unshared;
        self.key
            .replace_tail(header.shared, &self.block[key_start..value_start]);
        self.current = offset;
        self.value_start = value_start;
        self.value_end = value_start + header.value_len;
        self.next_offset = self.value_end;
        while self.restart_index + 1 < self.restart_count
            && self.restart_point(self.restart_index + 1)? <= offset
        {
            self.restart_index += 1;
        }
        Ok(true)
    }
}

/// The restart array must start at entry 0 and increase strictly, so that
/// walking forward and backward visit the same entries.
fn check_restarts(block: &[u8], restarts_offset: usize, restart_count: usize) -> BlockResult<()> {
    let mut previous = None;
    for index in 0..restart_count {
        let at = restarts_offset + index * U32_BYTES;
        let point = read_u32(block, at) as usize;
        let in_order = match previous {
            None => point == 0,
            Some(previous) => point > previous && point < restarts_offset,
        };
        if !in_order {
            return Err(LocalCorruption::new(
                at,
                CorruptionReason::malformed(
                    "block restart array",
                    format!("restart {index} at {point} is out of order"),
                ),
            ));
        }
        previous = Some(point);
    }
    Ok(())
}

/// Reads a u32 LE at `at`; the caller has checked the bounds.
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; U32_BYTES];
    word.copy_from_slice(&bytes[at..at + U32_BYTES]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_core::{InternalKey, ValueKind};

    fn key(i: u32) -> Vec<u8> {
        InternalKey::new(format!("key{i:05}").into_bytes(), 7, ValueKind::Put).encode()
    }

    fn build(count: u32, restart_interval: usize) -> Bytes {
        let mut builder = BlockBuilder::new(restart_interval);
        for i in 0..count {
            builder.add(&key(i * 2), format!("v{i}").as_bytes());
        }
        Bytes::copy_from_slice(builder.finish())
    }

    #[test]
    fn forward_backward_and_seek() {
        for interval in [1, 3, 16] {
            let mut iter = BlockIter::new(build(50, interval)).unwrap();
            iter.seek_to_first().unwrap();
            let mut count = 0;
            while iter.valid() {
                assert_eq!(iter.key(), key(count * 2));
                assert_eq!(iter.value_slice(), format!("v{count}").as_bytes());
                iter.next().unwrap();
                count += 1;
            }
            assert_eq!(count, 50);
            iter.seek_to_last().unwrap();
            for i in (0..50).rev() {
                assert_eq!(iter.key(), key(i * 2));
                iter.prev().unwrap();
            }
            assert!(!iter.valid());
            iter.seek(&key(31)).unwrap();
            assert_eq!(iter.key(), key(32));
            iter.seek(&key(0)).unwrap();
            assert_eq!(iter.key(), key(0));
            iter.seek(&key(99)).unwrap();
            assert!(!iter.valid());
        }
    }

    #[test]
    fn backward_steps_from_the_region_cache_agree_with_forward_ones_after_any_move() {
        for interval in [1, 4, 16] {
            let mut iter = BlockIter::new(build(50, interval)).unwrap();
            // Zig-zag: a few steps back (filling the cache), one forward, a
            // seek, then back again; each position checked against its index.
            for start in [49u32, 30, 17, 3] {
                iter.seek(&key(start * 2)).unwrap();
                let mut at = start;
                for step in 0..12u32 {
                    if step % 5 == 4 && at < 49 {
                        iter.next().unwrap();
                        at += 1;
                    } else if at > 0 {
                        iter.prev().unwrap();
                        at -= 1;
                    }
                    assert_eq!(iter.key(), key(at * 2), "interval {interval} start {start}");
                    assert_eq!(iter.value_slice(), format!("v{at}").as_bytes());
                }
            }
            // A cache handed to another block is emptied first.
            let mut other = BlockIter::new(build(10, interval)).unwrap();
            other.reuse_region_cache(iter.into_region_cache());
            other.seek_to_last().unwrap();
            for i in (0..10).rev() {
                assert_eq!(other.key(), key(i * 2));
                other.prev().unwrap();
            }
            assert!(!other.valid());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(BlockIter::new(Bytes::from_static(b"ab")).is_err());
        assert!(BlockIter::new(Bytes::from_static(&[0, 0, 0, 0])).is_err());
        assert!(BlockIter::new(Bytes::from_static(&[5, 5, 5, 1, 0, 0, 0, 1, 0, 0, 0])).is_err());
        let bad = Bytes::from_static(&[5, 5, 5, 0, 0, 0, 0, 1, 0, 0, 0]);
        let mut iter = BlockIter::new(bad).unwrap();
        assert!(iter.seek_to_first().is_err());
        assert!(!iter.valid());
    }
}
