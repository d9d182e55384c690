//! [`TableBuilder`]: writes a table from internal entries added in order.
//!
//! Data blocks are closed once they reach `block_size_bytes`; each closed
//! block gets an index entry whose key is a short separator between its last
//! key and the next block's first key. `finish` appends the range tombstone,
//! filter, properties and index blocks and the footer, then fsyncs the file.
//! A table's key and sequence ranges (its properties and [`TableMeta`])
//! cover its range tombstones as well as its entries.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use seer_core::filename::parse_file_name;
use seer_core::{
    compare_internal_keys, FileSystem, FragmentedTombstones, InternalKey, ParsedInternalKey, SeqNo,
    ValueKind, WritableFile, TRAILER_BYTES,
};

use crate::block::BlockBuilder;
use crate::error::{Error, Result};
use crate::filter::{build_filter, filter_hash};
use crate::footer::{Footer, FORMAT_VERSION};
use crate::format::{
    block_trailer, compress_zstd, BlockHandle, COMPRESSION_NONE, COMPRESSION_ZSTD,
};
use crate::index::separator;
use crate::meta::TableMeta;
use crate::options::{Compression, TableOptions};
use crate::properties::TableProperties;
use crate::range_del;

/// The longest key or value a table accepts.
pub const MAX_ENTRY_PART_BYTES: usize = 1 << 30;
/// Bytes buffered before they are handed to the file.
const WRITE_BUFFER_BYTES: usize = 256 << 10;

/// Writes one table file.
///
/// After an error the table is unusable: call [`TableBuilder::abandon`].
/// Dropping a builder without `finish` or `abandon` leaves a partial file.
#[derive(Debug)]
pub struct TableBuilder {
    fs: Arc<dyn FileSystem>,
    file_number: u64,
    options: TableOptions,
    sink: BlockSink,
    compressor: Option<ZstdCompressor>,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    /// The last closed data block, waiting for the next key to pick its
    /// separator.
    pending_handle: Option<BlockHandle>,
    filter_hashes: Vec<u64>,
    last_key: Vec<u8>,
    smallest: Option<InternalKey>,
    counts: EntryCounts,
    /// The range tombstones of the range tombstone block.
    range_tombstones: FragmentedTombstones,
    data_block_count: u64,
    /// Bytes of the closed data blocks before compression.
    raw_block_bytes: u64,
}

/// A zstd compressor (its context is reused across blocks).
struct ZstdCompressor(zstd::bulk::Compressor<'static>);

impl std::fmt::Debug for ZstdCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZstdCompressor")
    }
}

/// The expiry an expiring put's value starts with (`None` when it is too
/// short to hold one: the reader refuses such an entry).
fn expiry_of(value: &[u8]) -> Option<u64> {
    let bytes: [u8; seer_core::expiry::EXPIRY_BYTES] = value
        .get(..seer_core::expiry::EXPIRY_BYTES)?
        .try_into()
        .ok()?;
    Some(u64::from_le_bytes(bytes))
}

#[derive(Debug, Default)]
struct EntryCounts {
    entry_count: u64,
    tombstone_count: u64,
    merge_count: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    smallest_seq: SeqNo,
    largest_seq: SeqNo,
    /// The earliest expiry of the expiring puts (those whose value holds
    /// one).
    earliest_expiry_unix_ms: Option<u64>,
}

impl EntryCounts {
    fn add(&mut self, key: &ParsedInternalKey<'_>, key_len: usize, value: &[u8]) {
        let value_len = value.len();
        if key.kind == ValueKind::ExpiringPut {
            if let Some(expiry) = expiry_of(value) {
                self.earliest_expiry_unix_ms = Some(
                    self.earliest_expiry_unix_ms
                        .map_or(expiry, |earliest| earliest.min(expiry)),
                );
            }
        }
        if self.entry_count == 0 {
            self.smallest_seq = key.seq;
            self.largest_seq = key.seq;
        }
        self.entry_count += 1;
        self.tombstone_count += u64::from(key.kind == ValueKind::Delete);
        self.merge_count += u64::from(key.kind == ValueKind::Merge);
        self.raw_key_bytes += key_len as u64;
        self.raw_value_bytes += value_len as u64;
        self.smallest_seq = self.smallest_seq.min(key.seq);
        self.largest_seq = self.largest_seq.max(key.seq);
    }
}

impl TableBuilder {
    /// Creates (or truncates) the table file at `path`, whose name must
    /// carry a file number (`NNNNNNNNNNNNNNNNNNNN.sst` or `.tmp`).
    pub fn new(fs: Arc<dyn FileSystem>, path: &Path, options: TableOptions) -> Result<Self> {
        options.validate()?;
        let file_number = path
            .file_name()
            .and_then(|name| parse_file_name(&name.to_string_lossy()))
            .map(|(_, number)| number)
            .ok_or_else(|| Error::UnnumberedFile {
                file: path.to_path_buf(),
            })?;
        let compressor = match options.compression {
            Compression::None => None,
            Compression::Zstd { level } => Some(ZstdCompressor(
                zstd::bulk::Compressor::new(level).map_err(|e| Error::io(path, e))?,
            )),
        };
        let file = fs.create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            fs,
            file_number,
            data_block: BlockBuilder::new(options.restart_interval),
            index_block: BlockBuilder::new(1),
            options,
            sink: BlockSink::new(path.to_path_buf(), file),
            compressor,
            pending_handle: None,
            filter_hashes: Vec::new(),
            last_key: Vec::new(),
            smallest: None,
            counts: EntryCounts::default(),
            range_tombstones: FragmentedTombstones::default(),
            data_block_count: 0,
            raw_block_bytes: 0,
        })
    }

    /// The table file's path.
    pub fn path(&self) -> &Path {
        &self.sink.path
    }

    /// Entries added so far.
    pub fn entry_count(&self) -> u64 {
        self.counts.entry_count
    }

    /// About how long the file would be if finished now, for cutting
    /// compaction outputs at a target size. The open data block counts at
    /// the compression ratio of the blocks written so far.
    pub fn estimated_file_size(&self) -> u64 {
        let filter_bytes =
            self.filter_hashes.len() as u64 * u64::from(self.options.bloom_bits_per_key) / 8;
        let open_block_bytes = self.data_block.size_estimate_bytes() as f64;
        let open_block_stored = match self.raw_block_bytes {
            0 => open_block_bytes,
            raw => open_block_bytes * self.sink.offset as f64 / raw as f64,
        };
        self.sink.offset
            + open_block_stored as u64
            + self.index_block.size_estimate_bytes() as u64
            + filter_bytes
    }

    /// Adds an entry; `encoded_internal_key` must sort strictly after the
    /// previous one.
    pub fn add(&mut self, encoded_internal_key: &[u8], value: &[u8]) -> Result<()> {
        let parsed = self.check_entry(encoded_internal_key, value)?;
        if let Some(handle) = self.pending_handle.take() {
            self.add_index_entry(&separator(&self.last_key, encoded_internal_key), handle);
        }
        let user_key = parsed.user_key;
        if self.counts.entry_count == 0 || self.last_user_key() != user_key {
            self.filter_hashes.push(filter_hash(user_key));
        }
        if self.smallest.is_none() {
            self.smallest = Some(parsed.to_owned_key());
        }
        self.counts.add(&parsed, encoded_internal_key.len(), value);
        self.data_block.add(encoded_internal_key, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(encoded_internal_key);
        if self.data_block.size_estimate_bytes() >= self.options.block_size_bytes {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Sets the table's range tombstones (replacing any set before); the
    /// caller has cut them to the key range the table stands for.
    pub fn set_range_tombstones(&mut self, tombstones: FragmentedTombstones) -> Result<()> {
        let longest = tombstones
            .fragments()
            .iter()
            .map(|f| f.start().len().max(f.end().len()))
            .max()
            .unwrap_or(0);
        if longest > MAX_ENTRY_PART_BYTES {
            return Err(Error::EntryTooLarge {
                file: self.sink.path.clone(),
                len_bytes: longest,
                limit_bytes: MAX_ENTRY_PART_BYTES,
            });
        }
        self.range_tombstones = tombstones;
        Ok(())
    }

    /// Writes the meta blocks and footer, fsyncs the file and returns the
    /// table's meta. A table needs at least one entry or range tombstone.
    pub fn finish(mut self) -> Result<TableMeta> {
        if self.smallest.is_none() && self.range_tombstones.is_empty() {
            return Err(Error::Empty {
                file: self.sink.path.clone(),
            });
        }
        if !self.data_block.is_empty() {
            self.flush_data_block()?;
        }
        if let Some(handle) = self.pending_handle.take() {
            let last_key = std::mem::take(&mut self.last_key);
            self.add_index_entry(&last_key, handle);
            self.last_key = last_key;
        }
        let properties = self.properties()?;
        let footer = self.write_meta_blocks(&properties)?;
        self.sink.write_raw(&footer.encode())?;
        self.sink.flush()?;
        self.sink.sync()?;
        Ok(TableMeta::from_properties(
            self.file_number,
            self.sink.offset,
            &properties,
        ))
    }

    /// Stops building and removes the partial file.
    pub fn abandon(self) -> Result<()> {
        let path = self.sink.path.clone();
        drop(self.sink);
        self.fs.remove_file(&path).map_err(|e| Error::io(&path, e))
    }

    fn check_entry<'k>(&self, key: &'k [u8], value: &[u8]) -> Result<ParsedInternalKey<'k>> {
        let parsed = ParsedInternalKey::parse(key).map_err(|source| Error::InvalidKey {
            file: self.sink.path.clone(),
            source,
        })?;
        let longest = key.len().max(value.len());
        if longest > MAX_ENTRY_PART_BYTES {
            return Err(Error::EntryTooLarge {
                file: self.sink.path.clone(),
                len_bytes: longest,
                limit_bytes: MAX_ENTRY_PART_BYTES,
            });
        }
        if self.counts.entry_count > 0
            && compare_internal_keys(&self.last_key, key) != Ordering::Less
        {
            return Err(Error::OutOfOrder {
                file: self.sink.path.clone(),
                previous: self.last_key.clone(),
                key: key.to_vec(),
            });
        }
        Ok(parsed)
    }

    fn last_user_key(&self) -> &[u8] {
        &self.last_key[..self.last_key.len() - TRAILER_BYTES]
    }

    fn add_index_entry(&mut self, separator: &[u8], handle: BlockHandle) {
        let mut value = Vec::with_capacity(20);
        handle.encode_varint_into(&mut value);
        self.index_block.add(separator, &value);
    }

    fn flush_data_block(&mut self) -> Result<()> {
        let compressor = self.compressor.as_mut().map(|c| &mut c.0);
        let contents = self.data_block.finish();
        self.raw_block_bytes += contents.len() as u64;
        let handle = self.sink.write_block(contents, compressor)?;
        self.data_block.reset();
        self.pending_handle = Some(handle);
        self.data_block_count += 1;
        Ok(())
    }

    fn properties(&self) -> Result<TableProperties> {
        let points = match &self.smallest {
            None => None,
            Some(smallest) => {
                let largest = ParsedInternalKey::parse(&self.last_key)
                    .map_err(|source| Error::InvalidKey {
                        file: self.sink.path.clone(),
                        source,
                    })?
                    .to_owned_key();
                Some((
                    smallest.clone(),
                    largest,
                    self.counts.smallest_seq,
                    self.counts.largest_seq,
                ))
            }
        };
        let (smallest, largest, smallest_seq, largest_seq) =
            widen_to_tombstones(points, &self.range_tombstones).ok_or_else(|| Error::Empty {
                file: self.sink.path.clone(),
            })?;
        let counts = &self.counts;
        Ok(TableProperties {
            entry_count: counts.entry_count,
            tombstone_count: counts.tombstone_count,
            merge_count: counts.merge_count,
            raw_key_bytes: counts.raw_key_bytes,
            raw_value_bytes: counts.raw_value_bytes,
            smallest,
            largest,
            smallest_seq,
            largest_seq,
            data_block_count: self.data_block_count,
            data_bytes: self.sink.offset,
            filter_key_count: self.filter_hashes.len() as u64,
            bloom_bits_per_key: self.options.bloom_bits_per_key,
            compression: self.options.compression,
            creation_level: self.options.creation_level,
            creation_policy: self.options.creation_policy.clone(),
            earliest_expiry_unix_ms: counts.earliest_expiry_unix_ms,
        })
    }

    fn write_meta_blocks(&mut self, properties: &TableProperties) -> Result<Footer> {
        let range_del = range_del::encode(&self.range_tombstones);
        let range_del = self.sink.write_block(&range_del, None)?;
        let filter = build_filter(
            &self.filter_hashes,
            self.options.bloom_bits_per_key,
            self.sink.offset,
        );
        let filter = self.sink.write_block(&filter, None)?;
        let properties = self.sink.write_block(&properties.encode(), None)?;
        let index = self.sink.write_block(self.index_block.finish(), None)?;
        Ok(Footer {
            version: FORMAT_VERSION,
            range_del: Some(range_del),
            filter,
            properties,
            index,
        })
    }
}

/// Key and sequence bounds `(smallest, largest, smallest_seq, largest_seq)`
/// of the point entries, widened to cover `tombstones`: a tombstone's
/// bounds are `start` at its newest sequence number and the fragments' upper
/// key bound at the oldest, both as tombstone keys. `None` when both are
/// empty.
fn widen_to_tombstones(
    points: Option<(InternalKey, InternalKey, SeqNo, SeqNo)>,
    tombstones: &FragmentedTombstones,
) -> Option<(InternalKey, InternalKey, SeqNo, SeqNo)> {
    let (Some((low_key, high_key)), Some((low_seq, high_seq))) =
        (tombstones.user_key_bounds(), tombstones.seq_bounds())
    else {
        return points;
    };
    let fragments = tombstones.fragments();
    let first_seq = fragments.first().and_then(|f| f.seqs().first()).copied();
    let last_seq = fragments.last().and_then(|f| f.seqs().last()).copied();
    let low = InternalKey::new(
        bytes::Bytes::copy_from_slice(low_key),
        first_seq.unwrap_or(high_seq),
        ValueKind::Delete,
    );
    let high = InternalKey::new(
        bytes::Bytes::copy_from_slice(high_key),
        last_seq.unwrap_or(low_seq),
        ValueKind::Delete,
    );
    Some(match points {
        None => (low, high, low_seq, high_seq),
        Some((smallest, largest, smallest_seq, largest_seq)) => (
            smallest.min(low),
            largest.max(high),
            smallest_seq.min(low_seq),
            largest_seq.max(high_seq),
        ),
    })
}

/// The file being written, with a write buffer and the running offset.
#[derive(Debug)]
struct BlockSink {
    path: PathBuf,
    file: Box<dyn WritableFile>,
    buffer: Vec<u8>,
    /// Bytes written or buffered so far.
    offset: u64,
}

impl BlockSink {
    fn new(path: PathBuf, file: Box<dyn WritableFile>) -> Self {
        Self {
            path,
            file,
            buffer: Vec::with_capacity(WRITE_BUFFER_BYTES),
            offset: 0,
        }
    }

    /// Writes a block and its trailer, zstd-compressed when a compressor is
    /// given and compression pays.
    fn write_block(
        &mut self,
        contents: &[u8],
        compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    ) -> Result<BlockHandle> {
        let compressed = compressor.and_then(|c| compress_zstd(c, contents));
        let (stored, compression) = match &compressed {
            Some(stored) => (stored.as_slice(), COMPRESSION_ZSTD),
            None => (contents, COMPRESSION_NONE),
        };
        let handle = BlockHandle {
            offset: self.offset,
            size_bytes: stored.len() as u64,
        };
        self.write_raw(stored)?;
        self.write_raw(&block_trailer(stored, compression))?;
        Ok(handle)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.offset += bytes.len() as u64;
        if self.buffer.len() + bytes.len() > WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        if bytes.len() >= WRITE_BUFFER_BYTES {
            return self
                .file
                .append(bytes)
                .map_err(|e| Error::io(&self.path, e));
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = self.file.append(&self.buffer);
        self.buffer.clear();
        result.map_err(|e| Error::io(&self.path, e))
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}
