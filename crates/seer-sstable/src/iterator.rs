//! Cursors over a table's entries.
//!
//! [`TableCursor`] walks the data blocks through the index (the two levels
//! of a table); [`TableIterator`] wraps it with an `Arc<Table>`, so it stays
//! valid on its own, and optional user-key bounds, and implements
//! [`InternalIterator`].

use std::sync::Arc;

use bytes::Bytes;
use seer_core::expiry::EXPIRY_BYTES;
use seer_core::{InternalIterator, InternalKey, ValueKind, MAX_SEQ, TRAILER_BYTES};

use crate::block::{BlockIter, RegionCache};
use crate::error::{Error, Result};
use crate::readahead::ReadAhead;
use crate::table::Table;

/// A position in a table: a data block and a cursor inside it. The table is
/// passed to every move, so the cursor borrows nothing.
#[derive(Debug, Default)]
pub(crate) struct TableCursor {
    block_index: usize,
    block: Option<BlockIter>,
    /// The backward cache's buffers while no block is loaded, handed to
    /// the next block loaded (so stepping back allocates them once).
    spare_region: RegionCache,
    /// Where blocks are read from when not through the table's memory
    /// map: a compaction's forward pass ([`Table::sequential_iter`]).
    readahead: Option<ReadAhead>,
}

impl TableCursor {
    pub(crate) fn valid(&self) -> bool {
        self.block.as_ref().is_some_and(BlockIter::valid)
    }

    pub(crate) fn key(&self) -> &[u8] {
        self.block.as_ref().map_or(&[], BlockIter::key)
    }

    pub(crate) fn value(&self) -> Bytes {
        self.block
            .as_ref()
            .map_or_else(Bytes::new, BlockIter::value)
    }

    pub(crate) fn block_index(&self) -> usize {
        self.block_index
    }

    /// Fails with a corruption naming the table file and the entry's
    /// offset when the current entry is an expiring put whose value is too
    /// short to hold its expiry (readers and compactions would otherwise
    /// misread it); every other entry, and no entry, passes.
    pub(crate) fn check_expiry(&self, table: &Table) -> Result<()> {
        let Some(block) = self.block.as_ref().filter(|block| block.valid()) else {
            return Ok(());
        };
        let key = block.key();
        let kind_byte = key.len().checked_sub(TRAILER_BYTES).map(|at| key[at]);
        let value_bytes = block.value_slice().len();
        if kind_byte != Some(ValueKind::ExpiringPut as u8) || value_bytes >= EXPIRY_BYTES {
            return Ok(());
        }
        Err(table.block_error(
            self.block_index,
            crate::error::LocalCorruption::new(
                block.entry_offset(),
                crate::error::CorruptionReason::malformed(
                    "expiring put",
                    format!(
                        "a {value_bytes}-byte value, shorter than its {EXPIRY_BYTES}-byte expiry"
                    ),
                ),
            ),
        ))
    }

    pub(crate) fn invalidate(&mut self) {
        if let Some(block) = self.block.take() {
            self.spare_region = block.into_region_cache();
        }
    }

    pub(crate) fn seek_to_first(&mut self, table: &Table) -> Result<()> {
        self.load_and(table, 0, BlockIter::seek_to_first)
    }

    pub(crate) fn seek_to_last(&mut self, table: &Table) -> Result<()> {
        match table.data_block_count().checked_sub(1) {
            Some(last) => self.load_and(table, last, BlockIter::seek_to_last),
            None => {
                self.invalidate();
                Ok(())
            }
        }
    }

    pub(crate) fn seek(&mut self, table: &Table, target: &[u8]) -> Result<()> {
        let block_index = table.block_for(target);
        self.load_and(table, block_index, |block| block.seek(target))?;
        if self.block.is_some() && !self.valid() {
            // Every key of the block is below target; the next block's first
            // key is the answer.
            return self.load_and(table, block_index + 1, BlockIter::seek_to_first);
        }
        Ok(())
    }

    pub(crate) fn seek_for_prev(&mut self, table: &Table, target: &[u8]) -> Result<()> {
        self.seek(table, target)?;
        if !self.valid() {
            return self.seek_to_last(table);
        }
        if self.key() != target {
            self.prev(table)?;
        }
        Ok(())
    }

    pub(crate) fn next(&mut self, table: &Table) -> Result<()> {
        self.step(table, BlockIter::next)?;
        if self.block.is_some() && !self.valid() {
            return self.load_and(table, self.block_index + 1, BlockIter::seek_to_first);
        }
        Ok(())
    }

    pub(crate) fn prev(&mut self, table: &Table) -> Result<()> {
        self.step(table, BlockIter::prev)?;
        if self.block.is_some() && !self.valid() {
            return match self.block_index.checked_sub(1) {
                Some(previous) => self.load_and(table, previous, BlockIter::seek_to_last),
                None => {
                    self.invalidate();
                    Ok(())
                }
            };
        }
        Ok(())
    }

    fn step(
        &mut self,
        table: &Table,
        step: impl FnOnce(&mut BlockIter) -> Result<(), crate::error::LocalCorruption>,
    ) -> Result<()> {
        let Some(block) = self.block.as_mut() else {
            return Ok(());
        };
        step(block).map_err(|e| {
            let error = table.block_error(self.block_index, e);
            self.block = None;
            error
        })
    }

    /// Loads block `block_index` (invalid past the last block) and positions
    /// in it with `position`.
    fn load_and(
        &mut self,
        table: &Table,
        block_index: usize,
        position: impl FnOnce(&mut BlockIter) -> Result<(), crate::error::LocalCorruption>,
    ) -> Result<()> {
        self.invalidate();
        if block_index >= table.data_block_count() {
            return Ok(());
        }
        let mut block = match self.readahead.as_mut() {
            Some(readahead) => table.block_iter_read(block_index, readahead)?,
            None => table.block_iter(block_index)?,
        };
        block.reuse_region_cache(std::mem::take(&mut self.spare_region));
        self.block_index = block_index;
        position(&mut block).map_err(|e| table.block_error(block_index, e))?;
        self.block = Some(block);
        Ok(())
    }
}

/// Bounds on the user keys an iterator visits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserKeyBounds {
    /// The smallest user key visited (inclusive).
    pub lower: Option<Bytes>,
    /// The user key where iteration stops (exclusive).
    pub upper: Option<Bytes>,
}

/// An iterator over a table's internal entries, within optional user-key
/// bounds. It holds its table, so it outlives the caller's handle.
#[derive(Debug)]
pub struct TableIterator {
    table: Arc<Table>,
    cursor: TableCursor,
    bounds: UserKeyBounds,
    value: Bytes,
}

impl TableIterator {
    /// An unpositioned iterator over `table` within `bounds`.
    pub fn new(table: Arc<Table>, bounds: UserKeyBounds) -> Self {
        Self {
            table,
            cursor: TableCursor::default(),
            bounds,
            value: Bytes::new(),
        }
    }

    /// An unpositioned iterator over all of `table` whose data blocks are
    /// read through `readahead`.
    pub(crate) fn with_readahead(table: Arc<Table>, readahead: ReadAhead) -> Self {
        let mut iterator = Self::new(table, UserKeyBounds::default());
        iterator.cursor.readahead = Some(readahead);
        iterator
    }

    /// The table iterated.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// Moves the iterator to `table` (same bounds), unpositioned, keeping
    /// its buffers: a run's cursor stepping from table to table reuses one
    /// iterator.
    pub fn retarget(&mut self, table: Arc<Table>) {
        self.table = table;
        // A read-ahead reads the old table's file.
        self.cursor.readahead = None;
        self.cursor.invalidate();
        self.value = Bytes::new();
    }

    fn below_lower(&self, user_key: &[u8]) -> bool {
        self.bounds
            .lower
            .as_ref()
            .is_some_and(|lower| user_key < &lower[..])
    }

    fn at_or_above_upper(&self, user_key: &[u8]) -> bool {
        self.bounds
            .upper
            .as_ref()
            .is_some_and(|upper| user_key >= &upper[..])
    }

    /// Moves to the last entry below the upper bound.
    fn seek_below_upper(&mut self, upper: Bytes) -> Result<()> {
        let target = InternalKey::seek_key(upper, MAX_SEQ).encode();
        self.cursor.seek(&self.table, &target)?;
        if self.cursor.valid() {
            self.cursor.prev(&self.table)
        } else {
            self.cursor.seek_to_last(&self.table)
        }
    }

    /// Checks the bounds after a move and caches the value.
    fn settle(&mut self, result: Result<()>) -> Result<()> {
        if let Err(error) = result {
            self.cursor.invalidate();
            self.value = Bytes::new();
            return Err(error);
        }
        if self.cursor.valid() {
            let user_key = user_key_of(self.cursor.key());
            if self.below_lower(user_key) || self.at_or_above_upper(user_key) {
                self.cursor.invalidate();
            }
        }
        if let Err(error) = self.cursor.check_expiry(&self.table) {
            self.cursor.invalidate();
            self.value = Bytes::new();
            return Err(error);
        }
        self.value = self.cursor.value();
        Ok(())
    }
}

fn user_key_of(encoded: &[u8]) -> &[u8] {
    &encoded[..encoded.len().saturating_sub(TRAILER_BYTES)]
}

impl InternalIterator for TableIterator {
    type Error = Error;

    fn valid(&self) -> bool {
        self.cursor.valid()
    }

    fn key(&self) -> &[u8] {
        self.cursor.key()
    }

    fn value(&self) -> &Bytes {
        &self.value
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let result = match self.bounds.lower.clone() {
            Some(lower) => {
                let target = InternalKey::seek_key(lower, MAX_SEQ).encode();
                self.cursor.seek(&self.table, &target)
            }
            None => self.cursor.seek_to_first(&self.table),
        };
        self.settle(result)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let result = match self.bounds.upper.clone() {
            Some(upper) => self.seek_below_upper(upper),
            None => self.cursor.seek_to_last(&self.table),
        };
        self.settle(result)
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        if self.below_lower(user_key_of(target)) {
            return self.seek_to_first();
        }
        let result = self.cursor.seek(&self.table, target);
        self.settle(result)
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        if self.at_or_above_upper(user_key_of(target)) {
            return self.seek_to_last();
        }
        let result = self.cursor.seek_for_prev(&self.table, target);
        self.settle(result)
    }

    fn next(&mut self) -> Result<()> {
        let result = self.cursor.next(&self.table);
        self.settle(result)
    }

    fn prev(&mut self) -> Result<()> {
        let result = self.cursor.prev(&self.table);
        self.settle(result)
    }
}
