//! Sequential reads of a table's data blocks with positional reads into a
//! read-ahead buffer, for compactions.
//!
//! A compaction reads each input table once, front to back. Read through
//! the table's memory map, every page it touches stays mapped in the
//! process (and counts in its resident set) until the input table is
//! deleted and its last reader drops it: a merge into a large level maps
//! the whole level. Read with `pread` into a buffer of
//! [`ReadAhead::chunk_bytes`], the pages stay in the kernel's page cache
//! only, shared and reclaimable, and the process holds one buffer per
//! input (RocksDB's compactions read the same way, with
//! `compaction_readahead_size`). Blocks read so are always verified (they
//! are fresh from the file, not the pages a reader checked) and never
//! enter the block cache, so a compaction does not evict what readers use.

use std::path::Path;

use bytes::Bytes;
use seer_core::RandomAccessFile;

use crate::error::{Error, LocalCorruption, Result};
use crate::format::{BlockHandle, RawBlock};

/// A table file's reader for one forward pass.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    file: Box<dyn RandomAccessFile>,
    /// The buffer's bytes, read from `chunk_offset` of the file.
    chunk: Bytes,
    chunk_offset: u64,
    /// How much one read takes at least (a larger block is read whole).
    chunk_bytes: usize,
    /// Where reads stop: the end of the data blocks.
    data_end: u64,
}

impl ReadAhead {
    /// Reads `file`'s data blocks (which end at `data_end`) in reads of at
    /// least `chunk_bytes`.
    pub(crate) fn new(file: Box<dyn RandomAccessFile>, chunk_bytes: usize, data_end: u64) -> Self {
        Self {
            file,
            chunk: Bytes::new(),
            chunk_offset: 0,
            chunk_bytes: chunk_bytes.max(1),
            data_end,
        }
    }

    /// The block at `handle` (its stored bytes and trailer), from the
    /// buffer when it holds the block, else from a new read starting at
    /// the block. `path` names the file in errors.
    pub(crate) fn block(&mut self, path: &Path, handle: BlockHandle) -> Result<RawBlock> {
        let end = handle.end_with_trailer();
        let corrupt = |e: LocalCorruption| e.into_error(path, handle.offset);
        let buffered_end = self.chunk_offset + self.chunk.len() as u64;
        if handle.offset < self.chunk_offset || end > buffered_end {
            self.fill(path, handle.offset, end)?;
        }
        let local = BlockHandle {
            offset: handle.offset - self.chunk_offset,
            size_bytes: handle.size_bytes,
        };
        RawBlock::slice(&self.chunk, local).map_err(corrupt)
    }

    /// Reads from `offset` at least to `end` (past the data blocks only
    /// when a block claims to end there: the read then fails or finds the
    /// bytes, and the block's checksum decides).
    fn fill(&mut self, path: &Path, offset: u64, end: u64) -> Result<()> {
        let ahead_end = offset
            .saturating_add(self.chunk_bytes as u64)
            .min(self.data_end);
        let read_end = ahead_end.max(end).min(self.file.len());
        let length = usize::try_from(read_end.saturating_sub(offset)).unwrap_or(usize::MAX);
        // An empty or short read leaves the buffer short of the block, and
        // `RawBlock::slice` reports the truncation.
        let mut buffer = vec![0u8; length];
        if !buffer.is_empty() {
            self.file
                .read_exact_at(&mut buffer, offset)
                .map_err(|e| Error::io(path, e))?;
        }
        self.chunk = Bytes::from(buffer);
        self.chunk_offset = offset;
        Ok(())
    }
}
