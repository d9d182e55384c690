//! [`RunIterator`]: one cursor over a sorted run, the concatenation of its
//! non-overlapping tables in key order.
//!
//! Only the tables that meet the iteration's user-key bounds are candidates,
//! and a table is opened (through the DB's table cache) only when the cursor
//! steps into it; one table iterator is live at a time, moved from table to
//! table (its buffers kept). Neither a table nor
//! the run is ever materialised.

use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::{SortedRun, TableMeta, Version};
use seer_core::{InternalIterator, TRAILER_BYTES};
use seer_sstable::TableIterator;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::iter::bounds::KeyBounds;
use crate::tree::OpenVersion;

/// An empty value, returned by [`RunIterator::value`] when not valid.
static EMPTY_VALUE: Bytes = Bytes::new();

/// A cursor over one sorted run of a pinned [`Version`], within user-key
/// bounds; see the [module documentation](self).
pub(crate) struct RunIterator {
    db: Arc<Engine>,
    /// Pins the run's tables (their files and their open tables) while the
    /// cursor lives.
    tree: Arc<OpenVersion>,
    level_index: usize,
    run_index: usize,
    bounds: KeyBounds,
    /// The candidate tables: indices `first_table..end_table` of the run.
    first_table: usize,
    end_table: usize,
    /// The candidate table the cursor is in (`None`: none).
    table_index: Option<usize>,
    /// The table iterator, kept while the cursor is in no table for its
    /// buffers (the next table entered reuses it).
    iterator: Option<TableIterator>,
}

impl std::fmt::Debug for RunIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunIterator")
            .field("level_index", &self.level_index)
            .field("run_index", &self.run_index)
            .field("tables", &(self.first_table..self.end_table))
            .field("current", &self.table_index)
            .finish_non_exhaustive()
    }
}

fn user_key_of(encoded: &[u8]) -> &[u8] {
    &encoded[..encoded.len().saturating_sub(TRAILER_BYTES)]
}

impl RunIterator {
    /// A cursor over run `run_index` of level `level_index` of `tree`
    /// (not positioned). Returns `None` when no table meets `bounds`.
    pub(crate) fn new(
        db: Arc<Engine>,
        tree: Arc<OpenVersion>,
        level_index: usize,
        run_index: usize,
        bounds: KeyBounds,
    ) -> Option<Self> {
        let tables = run_of(&tree.version, level_index, run_index)?.tables();
        let first_table = bounds.lower.as_ref().map_or(0, |lower| {
            tables.partition_point(|t| t.largest.user_key().as_ref() < &lower[..])
        });
        let end_table = bounds.upper.as_ref().map_or(tables.len(), |upper| {
            tables.partition_point(|t| t.smallest.user_key().as_ref() < &upper[..])
        });
        (first_table < end_table).then(|| Self {
            db,
            tree,
            level_index,
            run_index,
            bounds,
            first_table,
            end_table,
            table_index: None,
            iterator: None,
        })
    }

    fn tables(&self) -> &[Arc<TableMeta>] {
        run_of(&self.tree.version, self.level_index, self.run_index).map_or(&[], SortedRun::tables)
    }

    /// Opens candidate table `index` and positions its iterator with
    /// `position`; the cursor is invalid if that fails.
    fn enter(
        &mut self,
        index: usize,
        position: impl FnOnce(&mut TableIterator) -> Result<(), seer_sstable::Error>,
    ) -> Result<()> {
        self.park();
        let Some(meta) = self.tables().get(index).cloned() else {
            return Ok(());
        };
        let table = self.db.table_in(&self.tree, &meta)?;
        let mut iterator = match self.iterator.take() {
            Some(mut iterator) => {
                iterator.retarget(table);
                iterator
            }
            None => table.iter_with_bounds(self.bounds.to_table_bounds()),
        };
        let positioned = position(&mut iterator);
        self.iterator = Some(iterator);
        positioned?;
        self.table_index = Some(index);
        Ok(())
    }

    /// Leaves the current table (the cursor is then invalid), keeping its
    /// iterator for the next table entered.
    fn park(&mut self) {
        self.table_index = None;
    }

    /// The table the cursor is in and its iterator.
    #[inline]
    fn current(&self) -> Option<(usize, &TableIterator)> {
        self.table_index.zip(self.iterator.as_ref())
    }

    /// While the current table is exhausted, moves to the first entry of the
    /// next candidate table.
    fn skip_exhausted_forward(&mut self) -> Result<()> {
        while let Some((index, iterator)) = self.current() {
            if iterator.valid() {
                return Ok(());
            }
            let next = index + 1;
            if next >= self.end_table {
                self.park();
                return Ok(());
            }
            self.enter(next, TableIterator::seek_to_first)?;
        }
        Ok(())
    }

    /// While the current table is exhausted, moves to the last entry of the
    /// previous candidate table.
    fn skip_exhausted_backward(&mut self) -> Result<()> {
        while let Some((index, iterator)) = self.current() {
            if iterator.valid() {
                return Ok(());
            }
            if index <= self.first_table {
                self.park();
                return Ok(());
            }
            let previous = index - 1;
            self.enter(previous, TableIterator::seek_to_last)?;
        }
        Ok(())
    }

    /// Runs `step` on the current table iterator (invalid on error).
    fn step_current(
        &mut self,
        step: impl FnOnce(&mut TableIterator) -> Result<(), seer_sstable::Error>,
    ) -> Result<()> {
        let (Some(_), Some(iterator)) = (self.table_index, &mut self.iterator) else {
            return Ok(());
        };
        if let Err(error) = step(iterator) {
            self.park();
            return Err(error.into());
        }
        Ok(())
    }

    /// After a move (`moved`), skips exhausted tables forward; the cursor is
    /// invalid if either failed.
    #[inline]
    fn settle_forward(&mut self, moved: Result<()>) -> Result<()> {
        let result = moved.and_then(|()| self.skip_exhausted_forward());
        self.settle(result)
    }

    /// After a move (`moved`), skips exhausted tables backward; the cursor
    /// is invalid if either failed.
    #[inline]
    fn settle_backward(&mut self, moved: Result<()>) -> Result<()> {
        let result = moved.and_then(|()| self.skip_exhausted_backward());
        self.settle(result)
    }

    /// Invalidates the cursor when `result` is an error.
    fn settle(&mut self, result: Result<()>) -> Result<()> {
        if result.is_err() {
            self.park();
        }
        result
    }
}

/// Run `run_index` of level `level_index`.
fn run_of(version: &Version, level_index: usize, run_index: usize) -> Option<&SortedRun> {
    version.level(level_index)?.runs().get(run_index)
}

impl InternalIterator for RunIterator {
    type Error = Error;

    #[inline]
    fn valid(&self) -> bool {
        self.current().is_some_and(|(_, it)| it.valid())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        debug_assert!(self.valid(), "key() on an invalid run iterator");
        self.current().map_or(&[], |(_, it)| it.key())
    }

    #[inline]
    fn value(&self) -> &Bytes {
        debug_assert!(self.valid(), "value() on an invalid run iterator");
        self.current().map_or(&EMPTY_VALUE, |(_, it)| it.value())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let moved = self.enter(self.first_table, TableIterator::seek_to_first);
        self.settle_forward(moved)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let moved = self.enter(self.end_table - 1, TableIterator::seek_to_last);
        self.settle_backward(moved)
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let user_key = user_key_of(target);
        let index = self.first_table
            + self.tables()[self.first_table..self.end_table]
                .partition_point(|t| t.largest.user_key().as_ref() < user_key);
        if index >= self.end_table {
            self.park();
            return Ok(());
        }
        let moved = self.enter(index, |it| it.seek(target));
        self.settle_forward(moved)
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let user_key = user_key_of(target);
        let after = self.first_table
            + self.tables()[self.first_table..self.end_table]
                .partition_point(|t| t.smallest.user_key().as_ref() <= user_key);
        if after <= self.first_table {
            self.park();
            return Ok(());
        }
        let moved = self.enter(after - 1, |it| it.seek_for_prev(target));
        self.settle_backward(moved)
    }

    fn next(&mut self) -> Result<()> {
        let moved = self.step_current(TableIterator::next);
        self.settle_forward(moved)
    }

    fn prev(&mut self) -> Result<()> {
        let moved = self.step_current(TableIterator::prev);
        self.settle_backward(moved)
    }
}
