//! Ordered iteration over a memtable: one buffered cursor per partition,
//! merged by seer-core's [`MergingIterator`].
//!
//! A cursor cannot hold a skip-list entry (it borrows the map, and the cursor
//! must own its `Arc<Memtable>`), so it copies a batch of entry *handles*
//! (an `Arc` key clone and a `Bytes` value clone each, never the bytes) into
//! a reused buffer and steps through it; at the buffer's end it resumes the
//! skip-list range after the last key it held. Batches start small, so a
//! seek followed by a short scan stays cheap, and double up to
//! [`MAX_BATCH_LEN`] on long scans.

use std::convert::Infallible;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{InternalIterator, MergingIterator};

use crate::key::{EncodedKey, KeyBounds};
use crate::Memtable;

/// Entries fetched by the first batch after a seek.
const MIN_BATCH_LEN: usize = 4;
/// Upper limit of the doubling batch length.
const MAX_BATCH_LEN: usize = 128;

/// Which way a partition cursor's buffer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

/// A cursor over one partition, within the iterator's bounds.
#[derive(Debug)]
pub(crate) struct PartitionCursor {
    memtable: Arc<Memtable>,
    partition_index: usize,
    bounds: KeyBounds,
    /// Entries in the order of `direction`; the current one is `position`.
    buffer: Vec<(EncodedKey, Bytes)>,
    position: usize,
    direction: Direction,
    /// Length of the next batch.
    batch_len: usize,
    /// Whether the range ended inside the buffer (no further batch).
    exhausted: bool,
}

impl PartitionCursor {
    fn new(memtable: Arc<Memtable>, partition_index: usize, bounds: KeyBounds) -> Self {
        Self {
            memtable,
            partition_index,
            bounds,
            buffer: Vec::with_capacity(MIN_BATCH_LEN),
            position: 0,
            direction: Direction::Forward,
            batch_len: MIN_BATCH_LEN,
            exhausted: true,
        }
    }

    /// Buffers the first entries at or after `start`, ascending.
    fn fill_forward(&mut self, start: Bound<EncodedKey>) {
        self.begin_batch(Direction::Forward);
        let partition = &self.memtable.partitions()[self.partition_index];
        let range = partition.range((start.as_ref(), self.bounds.upper.as_ref()));
        self.buffer.extend(
            range
                .take(self.batch_len)
                .map(|entry| (entry.key().clone(), entry.value().clone())),
        );
        self.end_batch();
    }

    /// Buffers the last entries at or before `end`, descending.
    fn fill_backward(&mut self, end: Bound<EncodedKey>) {
        self.begin_batch(Direction::Backward);
        let partition = &self.memtable.partitions()[self.partition_index];
        let range = partition.range((self.bounds.lower.as_ref(), end.as_ref()));
        self.buffer.extend(
            range
                .rev()
                .take(self.batch_len)
                .map(|entry| (entry.key().clone(), entry.value().clone())),
        );
        self.end_batch();
    }

    fn begin_batch(&mut self, direction: Direction) {
        self.buffer.clear();
        self.position = 0;
        self.direction = direction;
    }

    fn end_batch(&mut self) {
        self.exhausted = self.buffer.len() < self.batch_len;
        debug_assert!(
            self.is_sorted_in_direction(),
            "partition batch out of order"
        );
    }

    fn is_sorted_in_direction(&self) -> bool {
        self.buffer.windows(2).all(|pair| match self.direction {
            Direction::Forward => pair[0].0 < pair[1].0,
            Direction::Backward => pair[0].0 > pair[1].0,
        })
    }

    /// Steps within the buffer; at its end, fetches the next (larger) batch
    /// after the entry just left.
    fn advance(&mut self) {
        self.position += 1;
        if self.position < self.buffer.len() || self.exhausted {
            return;
        }
        let Some((last_key, _)) = self.buffer.pop() else {
            return;
        };
        self.batch_len = (self.batch_len * 2).min(MAX_BATCH_LEN);
        match self.direction {
            Direction::Forward => self.fill_forward(Bound::Excluded(last_key)),
            Direction::Backward => self.fill_backward(Bound::Excluded(last_key)),
        }
    }

    /// Restarts from the current entry in `direction`, excluding it.
    fn turn(&mut self, direction: Direction) {
        if self.position >= self.buffer.len() {
            return;
        }
        let (current_key, _) = self.buffer.swap_remove(self.position);
        self.batch_len = MIN_BATCH_LEN;
        match direction {
            Direction::Forward => self.fill_forward(Bound::Excluded(current_key)),
            Direction::Backward => self.fill_backward(Bound::Excluded(current_key)),
        }
    }

    fn current(&self) -> Option<&(EncodedKey, Bytes)> {
        self.buffer.get(self.position)
    }
}

/// An empty value, returned by [`PartitionCursor::value`] when not valid.
static EMPTY_VALUE: Bytes = Bytes::new();

impl InternalIterator for PartitionCursor {
    type Error = Infallible;

    #[inline]
    fn valid(&self) -> bool {
        self.position < self.buffer.len()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |(key, _)| key.as_bytes())
    }

    #[inline]
    fn value(&self) -> &Bytes {
        self.current().map_or(&EMPTY_VALUE, |(_, value)| value)
    }

    fn seek_to_first(&mut self) -> Result<(), Infallible> {
        self.batch_len = MIN_BATCH_LEN;
        self.fill_forward(self.bounds.lower.clone());
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<(), Infallible> {
        self.batch_len = MIN_BATCH_LEN;
        self.fill_backward(self.bounds.upper.clone());
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<(), Infallible> {
        self.batch_len = MIN_BATCH_LEN;
        let start = self.bounds.lower_at(EncodedKey::from_encoded(target));
        self.fill_forward(start);
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Infallible> {
        self.batch_len = MIN_BATCH_LEN;
        let end = self.bounds.upper_at(EncodedKey::from_encoded(target));
        self.fill_backward(end);
        Ok(())
    }

    fn next(&mut self) -> Result<(), Infallible> {
        match self.direction {
            Direction::Forward => self.advance(),
            Direction::Backward => self.turn(Direction::Forward),
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<(), Infallible> {
        match self.direction {
            Direction::Backward => self.advance(),
            Direction::Forward => self.turn(Direction::Backward),
        }
        Ok(())
    }
}

/// A cursor over a memtable's entries in internal-key order, within the
/// user-key bounds it was made with. It yields every version (the caller
/// applies snapshots), holds the memtable alive, and never fails.
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
    pub(crate) fn new(memtable: &Arc<Memtable>, bounds: KeyBounds) -> Self {
        let cursors = (0..memtable.partition_count())
            .map(|index| PartitionCursor::new(Arc::clone(memtable), index, bounds.clone()))
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
