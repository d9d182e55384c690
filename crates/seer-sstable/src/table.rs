//! [`Table`]: an open, immutable table.
//!
//! `open` maps the file and checks the footer, then the filter, properties
//! and index blocks (checksums, layout, cross-references) before it returns.
//! Data blocks are checked when first read: an uncompressed block is sliced
//! zero-copy out of the map and its checksum verified once (a per-table
//! bitset remembers verified blocks); a zstd block is verified and
//! decompressed once into the shared [`BlockCache`].
//!
//! Submodules: `verify` (the whole-file checksum check) and `inspect` (the
//! read-only views of the layout, index and filter for tools).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{
    FileSystem, FragmentedTombstones, Lookup, MergeBase, ParsedInternalKey, SeqNo, ValueKind,
    MAX_SEQ,
};

use crate::block::BlockIter;
use crate::cache::{BlockCache, CacheKey};
use crate::error::{CorruptionReason, Error, LocalCorruption, Result};
use crate::filter::{BloomFilter, FilterLayout, HashedKey};
use crate::footer::Footer;
use crate::format::{BlockHandle, RawBlock, COMPRESSION_NONE};
use crate::index::{parse_index, BlockIndex};
use crate::iterator::{TableCursor, TableIterator, UserKeyBounds};
use crate::key_buf::KeyBuf;
use crate::meta::TableMeta;
use crate::properties::TableProperties;
use crate::range_del;
use crate::readahead::ReadAhead;

mod inspect;
mod verify;

pub use inspect::{FilterInfo, IndexEntry, TableLayout};

/// Kind byte of a seek key (as in `InternalKey::seek_key`): above every
/// stored kind, so the seek lands on the newest visible entry.
const SEEK_KIND: u64 = 0xff;

/// Counters of the filter's work in [`Table::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilterStats {
    /// Lookups that consulted the filter.
    pub check_count: u64,
    /// Lookups the filter answered "absent" (no block was read).
    pub useful_count: u64,
    /// Lookups the filter let through that found no entry of the key.
    pub false_positive_count: u64,
}

#[derive(Debug, Default)]
struct FilterCounters {
    check_count: AtomicU64,
    useful_count: AtomicU64,
    false_positive_count: AtomicU64,
}

/// An open table.
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    file_number: u64,
    table_id: u64,
    file: Bytes,
    index: BlockIndex,
    filter: BloomFilter,
    properties: TableProperties,
    /// The range tombstone block's fragments (empty in a version 1 table).
    range_tombstones: FragmentedTombstones,
    /// Where the footer starts (its length depends on the format version).
    footer_start: u64,
    /// One bit per data block: its checksum has been verified.
    verified_blocks: Box<[AtomicU64]>,
    cache: Option<Arc<BlockCache>>,
    filter_counters: FilterCounters,
}

impl Table {
    /// Maps and opens the table at `path`, checking its footer, filter,
    /// properties and index. `cache` holds decompressed zstd blocks; without
    /// one they are decompressed on every read.
    pub fn open(
        fs: &dyn FileSystem,
        path: &Path,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Self> {
        let file = fs.map(path).map_err(|e| Error::io(path, e))?;
        Self::open_bytes(path.to_path_buf(), file_number, file, cache)
    }

    /// Opens a table whose whole file is already in memory; `path` names it
    /// in errors.
    pub fn open_bytes(
        path: PathBuf,
        file_number: u64,
        file: Bytes,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Self> {
        let (footer, footer_start) =
            Footer::decode_at_end(&file).map_err(|e| e.into_error(&path, 0))?;
        check_meta_layout(&footer, footer_start as u64)
            .map_err(|e| e.into_error(&path, footer_start as u64))?;
        let read = |handle, what| read_meta_block(&path, &file, handle, what);
        let range_tombstones = match footer.range_del {
            None => FragmentedTombstones::default(),
            Some(handle) => range_del::decode(&read(handle, "range tombstone block")?)
                .map_err(|e| e.into_error(&path, handle.offset))?,
        };
        let filter_block = read(footer.filter, "filter block")?;
        let properties_block = read(footer.properties, "properties block")?;
        let index_block = read(footer.index, "index block")?;
        let filter = BloomFilter::parse(filter_block, FilterLayout::of_version(footer.version))
            .map_err(|reason| Error::corruption(&path, footer.filter.offset, reason))?;
        let properties = TableProperties::decode(&properties_block)
            .map_err(|e| Error::corruption(&path, footer.properties.offset, e.into()))?;
        let index = parse_index(index_block, footer.data_end())
            .map_err(|e| e.into_error(&path, footer.index.offset))?;
        check_properties(&properties, &index, &footer, &range_tombstones)
            .map_err(|reason| Error::corruption(&path, footer.properties.offset, reason))?;
        let verified_blocks = (0..index.len().div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        Ok(Self {
            table_id: cache.as_ref().map_or(0, |c| c.new_table_id()),
            path,
            file_number,
            file,
            index,
            filter,
            properties,
            range_tombstones,
            footer_start: footer_start as u64,
            verified_blocks,
            cache,
            filter_counters: FilterCounters::default(),
        })
    }

    /// The table file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table's file number.
    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    /// The table file's length.
    pub fn file_size_bytes(&self) -> u64 {
        self.file.len() as u64
    }

    /// The properties block.
    pub fn properties(&self) -> &TableProperties {
        &self.properties
    }

    /// The table's range tombstones, as sorted non-overlapping fragments
    /// (decoded and checked at open; empty in a version 1 table).
    pub fn range_tombstones(&self) -> &FragmentedTombstones {
        &self.range_tombstones
    }

    /// The table's meta, as the builder returned it.
    pub fn meta(&self) -> TableMeta {
        TableMeta::from_properties(self.file_number, self.file_size_bytes(), &self.properties)
    }

    /// Number of data blocks.
    pub fn data_block_count(&self) -> usize {
        self.index.len()
    }

    /// False when the bloom filter proves `user_key` absent. Not counted in
    /// [`Self::filter_stats`].
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.filter.may_contain(user_key)
    }

    /// The filter counters of [`Self::get`].
    pub fn filter_stats(&self) -> FilterStats {
        let counters = &self.filter_counters;
        FilterStats {
            check_count: counters.check_count.load(Ordering::Relaxed),
            useful_count: counters.useful_count.load(Ordering::Relaxed),
            false_positive_count: counters.false_positive_count.load(Ordering::Relaxed),
        }
    }

    /// The newest entry of `user_key` with `seq <= snapshot_seq`: filter
    /// first, then the index, then the block (and following blocks while
    /// merge operands continue). Allocates nothing but the operand list of
    /// a merge for user keys up to 56 bytes (the seek key and the block
    /// cursor's key are assembled inline).
    pub fn get(&self, user_key: &[u8], snapshot_seq: SeqNo) -> Result<Lookup> {
        self.get_hashed(&HashedKey::new(user_key), snapshot_seq)
    }

    /// [`Table::get`] of a key whose filter hash is already computed: a
    /// point read probing several tables hashes the key once.
    pub fn get_hashed(&self, key: &HashedKey<'_>, snapshot_seq: SeqNo) -> Result<Lookup> {
        let user_key = key.user_key();
        if !self.filter.is_absent() {
            self.filter_counters
                .check_count
                .fetch_add(1, Ordering::Relaxed);
            if !self.filter.may_contain_key(key) {
                self.filter_counters
                    .useful_count
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(Lookup::NotFound);
            }
        }
        let seek_key = KeyBuf::internal_key(user_key, (snapshot_seq.min(MAX_SEQ) << 8) | SEEK_KIND);
        let mut cursor = TableCursor::default();
        cursor.seek(self, &seek_key)?;
        let lookup = self.collect_lookup(&mut cursor, user_key)?;
        if lookup == Lookup::NotFound && !self.filter.is_absent() {
            self.filter_counters
                .false_positive_count
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(lookup)
    }

    /// An iterator over the whole table.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        TableIterator::new(Arc::clone(self), UserKeyBounds::default())
    }

    /// An iterator over the user keys within `bounds`.
    pub fn iter_with_bounds(self: &Arc<Self>, bounds: UserKeyBounds) -> TableIterator {
        TableIterator::new(Arc::clone(self), bounds)
    }

    fn collect_lookup(&self, cursor: &mut TableCursor, user_key: &[u8]) -> Result<Lookup> {
        let Some(first) = self.entry_of(cursor, user_key)? else {
            return Ok(Lookup::NotFound);
        };
        let mut operands = match first {
            ValueKind::Put => return Ok(Lookup::Value(cursor.value())),
            ValueKind::ExpiringPut => {
                cursor.check_expiry(self)?;
                return Ok(Lookup::Expiring(cursor.value()));
            }
            ValueKind::Delete => return Ok(Lookup::Deleted),
            ValueKind::Merge => vec![cursor.value()],
        };
        loop {
            cursor.next(self)?;
            let base = match self.entry_of(cursor, user_key)? {
                None => None,
                Some(ValueKind::Merge) => {
                    operands.push(cursor.value());
                    continue;
                }
                Some(ValueKind::Put) => Some(MergeBase::Value(cursor.value())),
                Some(ValueKind::ExpiringPut) => {
                    cursor.check_expiry(self)?;
                    Some(MergeBase::Expiring(cursor.value()))
                }
                Some(ValueKind::Delete) => Some(MergeBase::Deleted),
            };
            return Ok(Lookup::Merge { operands, base });
        }
    }

    /// The kind of the cursor's entry when it belongs to `user_key`.
    fn entry_of(&self, cursor: &TableCursor, user_key: &[u8]) -> Result<Option<ValueKind>> {
        if !cursor.valid() {
            return Ok(None);
        }
        let parsed = ParsedInternalKey::parse(cursor.key()).map_err(|e| {
            Error::corruption(
                &self.path,
                self.block_offset(cursor.block_index()),
                e.into(),
            )
        })?;
        Ok((parsed.user_key == user_key).then_some(parsed.kind))
    }

    /// The index position of the first block that may hold keys `>= target`,
    /// or the block count when every key is smaller.
    pub(crate) fn block_for(&self, target: &[u8]) -> usize {
        self.index.block_for(target)
    }

    pub(crate) fn block_offset(&self, block_index: usize) -> u64 {
        self.index
            .handle(block_index)
            .map_or(0, |handle| handle.offset)
    }

    /// A cursor over data block `block_index`, verified and decompressed.
    pub(crate) fn block_iter(&self, block_index: usize) -> Result<BlockIter> {
        let handle = self.index.handle(block_index).unwrap_or_default();
        let contents = self.block_contents(block_index, handle)?;
        BlockIter::new(contents).map_err(|e| e.into_error(&self.path, handle.offset))
    }

    /// Maps a block-level corruption of block `block_index` to an error.
    pub(crate) fn block_error(&self, block_index: usize, error: LocalCorruption) -> Error {
        error.into_error(&self.path, self.block_offset(block_index))
    }

    /// Data block `block_index` read through `readahead` (a compaction's
    /// forward pass): always verified, decompressed without the cache.
    pub(crate) fn block_iter_read(
        &self,
        block_index: usize,
        readahead: &mut ReadAhead,
    ) -> Result<BlockIter> {
        let handle = self.index.handle(block_index).unwrap_or_default();
        let to_error = |e: LocalCorruption| e.into_error(&self.path, handle.offset);
        let raw = readahead.block(&self.path, handle)?;
        raw.verify("data block").map_err(to_error)?;
        let contents = raw.contents().map_err(to_error)?;
        BlockIter::new(contents).map_err(to_error)
    }

    /// An iterator over every entry for one forward pass that reads the
    /// data blocks with positional reads of at least `readahead_bytes`
    /// instead of through the memory map, so the pages read do not stay
    /// mapped in the process (`readahead.rs`). For compactions: moves
    /// backwards work but read again.
    pub fn sequential_iter(
        self: &Arc<Self>,
        fs: &dyn FileSystem,
        readahead_bytes: usize,
    ) -> Result<TableIterator> {
        let file = fs
            .open_read(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        let data_end = (self.index.len().checked_sub(1))
            .and_then(|last| self.index.handle(last))
            .map_or(0, |handle| handle.end_with_trailer());
        Ok(TableIterator::with_readahead(
            Arc::clone(self),
            ReadAhead::new(file, readahead_bytes, data_end),
        ))
    }

    fn block_contents(&self, block_index: usize, handle: BlockHandle) -> Result<Bytes> {
        let to_error = |e: LocalCorruption| e.into_error(&self.path, handle.offset);
        let raw = RawBlock::slice(&self.file, handle).map_err(to_error)?;
        if raw.compression == COMPRESSION_NONE {
            self.verify_once(block_index, &raw).map_err(to_error)?;
            return Ok(raw.stored);
        }
        let key = CacheKey {
            table_id: self.table_id,
            block_offset: handle.offset,
        };
        if let Some(block) = self.cache.as_ref().and_then(|cache| cache.get(key)) {
            return Ok(block);
        }
        self.verify_once(block_index, &raw).map_err(to_error)?;
        let contents = raw.contents().map_err(to_error)?;
        if let Some(cache) = &self.cache {
            cache.insert(key, contents.clone());
        }
        Ok(contents)
    }

    fn verify_once(&self, block_index: usize, raw: &RawBlock) -> Result<(), LocalCorruption> {
        let word = &self.verified_blocks[block_index / 64];
        let bit = 1u64 << (block_index % 64);
        if word.load(Ordering::Relaxed) & bit != 0 {
            return Ok(());
        }
        raw.verify("data block")?;
        word.fetch_or(bit, Ordering::Relaxed);
        Ok(())
    }
}

/// The meta blocks must follow each other and end at the footer:
/// `data | range tombstones (version 2) | filter | properties | index | footer`.
fn check_meta_layout(footer: &Footer, footer_start: u64) -> Result<(), LocalCorruption> {
    let mut expected_offset = footer.data_end();
    for (_, handle) in footer.meta_blocks() {
        if handle.offset != expected_offset {
            return Err(meta_layout_error(footer, footer_start));
        }
        expected_offset = handle.end_with_trailer();
    }
    if expected_offset == footer_start {
        Ok(())
    } else {
        Err(meta_layout_error(footer, footer_start))
    }
}

fn meta_layout_error(footer: &Footer, footer_start: u64) -> LocalCorruption {
    LocalCorruption::new(
        0,
        CorruptionReason::malformed(
            "footer",
            format!("meta block handles {footer:?} do not end at {footer_start}"),
        ),
    )
}

fn read_meta_block(
    path: &Path,
    file: &Bytes,
    handle: BlockHandle,
    what: &'static str,
) -> Result<Bytes> {
    let to_error = |e: LocalCorruption| e.into_error(path, handle.offset);
    let raw = RawBlock::slice(file, handle).map_err(to_error)?;
    raw.verify(what).map_err(to_error)?;
    if raw.compression != COMPRESSION_NONE {
        return Err(Error::corruption(
            path,
            handle.offset,
            CorruptionReason::malformed(what, "meta blocks are never compressed"),
        ));
    }
    Ok(raw.stored)
}

fn check_properties(
    properties: &TableProperties,
    index: &BlockIndex,
    footer: &Footer,
    range_tombstones: &FragmentedTombstones,
) -> Result<(), CorruptionReason> {
    if properties.entry_count == 0 && range_tombstones.is_empty() {
        return Err(CorruptionReason::malformed(
            "properties block",
            "a table without entries or range tombstones",
        ));
    }
    if properties.data_block_count != index.len() as u64
        || properties.data_bytes != footer.data_end()
    {
        return Err(CorruptionReason::malformed(
            "properties block",
            format!(
                "{} data blocks of {} bytes, the index has {} ending at {}",
                properties.data_block_count,
                properties.data_bytes,
                index.len(),
                footer.data_end()
            ),
        ));
    }
    Ok(())
}
