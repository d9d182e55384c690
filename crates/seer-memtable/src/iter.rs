//! Ordered iteration over a memtable: one cursor per partition, merged by
//! seer-core's [`MergingIterator`].
//!
//! A partition cursor is a position in its arena skip list that holds the
//! list alive ([`ListCursor`]): `key()` and `value()` borrow the node in the
//! arena, `next` is one pointer load, `prev` mostly a pop from the cursor's
//! backward window (a search refills it every ~16 steps, see `skiplist`).
//! Nothing is copied or allocated per entry; the
//! bounds are encoded once per iterator and shared by its cursors.

use std::convert::Infallible;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{InternalIterator, MergingIterator};

use crate::key::{KeyBounds, Target};
use crate::skiplist::{ListCursor, EMPTY_VALUE};
use crate::Memtable;

/// A cursor over one partition, within the iterator's bounds.
#[derive(Debug)]
pub(crate) struct PartitionCursor {
    cursor: ListCursor,
    bounds: Arc<KeyBounds>,
}

impl PartitionCursor {
    /// Unpositions the cursor if its entry lies outside the bounds by
    /// `is_outside` ([`KeyBounds::is_above`] after a forward move,
    /// [`KeyBounds::is_below`] after a backward one).
    fn clear_if(&mut self, is_outside: fn(&KeyBounds, &[u8]) -> bool) {
        if self
            .cursor
            .entry()
            .is_some_and(|entry| is_outside(&self.bounds, entry.key()))
        {
            self.cursor.clear();
        }
    }
}

impl InternalIterator for PartitionCursor {
    type Error = Infallible;

    #[inline]
    fn valid(&self) -> bool {
        self.cursor.entry().is_some()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.cursor.entry().map_or(&[], |entry| entry.key())
    }

    #[inline]
    fn value(&self) -> &Bytes {
        self.cursor
            .entry()
            .map_or(&EMPTY_VALUE, |entry| entry.value())
    }

    fn seek_to_first(&mut self) -> Result<(), Infallible> {
        match &self.bounds.lower {
            Bound::Included(lower) => self.cursor.seek(&Target::from_encoded(lower)),
            Bound::Excluded(lower) => self.cursor.seek_after(&Target::from_encoded(lower)),
            Bound::Unbounded => self.cursor.seek_to_first(),
        }
        self.clear_if(KeyBounds::is_above);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<(), Infallible> {
        match &self.bounds.upper {
            Bound::Included(upper) => self.cursor.seek_at_or_before(&Target::from_encoded(upper)),
            Bound::Excluded(upper) => self.cursor.seek_before(&Target::from_encoded(upper)),
            Bound::Unbounded => self.cursor.seek_to_last(),
        }
        self.clear_if(KeyBounds::is_below);
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<(), Infallible> {
        if self.bounds.is_below(target) {
            return self.seek_to_first();
        }
        self.cursor.seek(&Target::from_encoded(target));
        self.clear_if(KeyBounds::is_above);
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Infallible> {
        if self.bounds.is_above(target) {
            return self.seek_to_last();
        }
        self.cursor.seek_at_or_before(&Target::from_encoded(target));
        self.clear_if(KeyBounds::is_below);
        Ok(())
    }

    fn next(&mut self) -> Result<(), Infallible> {
        self.cursor.next();
        self.clear_if(KeyBounds::is_above);
        Ok(())
    }

    fn prev(&mut self) -> Result<(), Infallible> {
        self.cursor.prev();
        self.clear_if(KeyBounds::is_below);
        Ok(())
    }
}

/// The memtable's iterators are made here, next to their type (so the
/// memtable module does not import this one).
impl Memtable {
    /// An iterator over every entry, in internal-key order. It holds this
    /// memtable's entries alive. Not positioned: call a seek first.
    pub fn iter(self: &Arc<Self>) -> MemtableIterator {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// An iterator over the entries whose user key lies within
    /// `lower..upper`, in internal-key order. It holds this memtable's entries
    /// alive.
    /// Not positioned: call a seek first.
    pub fn range(self: &Arc<Self>, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> MemtableIterator {
        MemtableIterator::new(self, KeyBounds::from_user_bounds(lower, upper))
    }
}

/// A cursor over a memtable's entries in internal-key order, within the
/// user-key bounds it was made with. It yields every version (the caller
/// applies snapshots), holds the memtable's entries alive, and never fails.
///
/// Over a memtable that is still written, an entry inserted after the cursor
/// was positioned may or may not be seen (never out of order); readers
/// filter by sequence number, so this does not change what they see. Over a
/// frozen memtable the cursor sees exactly its contents.
#[derive(Debug)]
pub struct MemtableIterator {
    merge: MergingIterator<PartitionCursor>,
}

impl MemtableIterator {
    pub(crate) fn new(memtable: &Memtable, bounds: KeyBounds) -> Self {
        let bounds = Arc::new(bounds);
        let cursors = memtable
            .partitions()
            .iter()
            .map(|partition| PartitionCursor {
                cursor: ListCursor::new(Arc::clone(partition)),
                bounds: Arc::clone(&bounds),
            })
            .collect();
        Self {
            merge: MergingIterator::new(cursors),
        }
    }
}

impl InternalIterator for MemtableIterator {
    type Error = Infallible;

    #[inline]
    fn valid(&self) -> bool {
        self.merge.valid()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.merge.key()
    }

    #[inline]
    fn value(&self) -> &Bytes {
        self.merge.value()
    }

    fn seek_to_first(&mut self) -> Result<(), Infallible> {
        self.merge.seek_to_first()
    }

    fn seek_to_last(&mut self) -> Result<(), Infallible> {
        self.merge.seek_to_last()
    }

    fn seek(&mut self, target: &[u8]) -> Result<(), Infallible> {
        self.merge.seek(target)
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Infallible> {
        self.merge.seek_for_prev(target)
    }

    fn next(&mut self) -> Result<(), Infallible> {
        self.merge.next()
    }

    fn prev(&mut self) -> Result<(), Infallible> {
        self.merge.prev()
    }
}
