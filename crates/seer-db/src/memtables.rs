//! The memtable set: the active memtable the commit pipeline inserts into
//! and the immutable ones waiting for flush (newest first), each with the
//! WAL segment that holds its records. Both are swapped atomically, and a
//! generation counter (a sequence lock) tells a reader whether a switch (or
//! a read-only catch-up) came between its loads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use seer_memtable::{Memtable, MemtableError};
use seer_wal::{KeyspaceId, WriteOp, WriteRecord, DEFAULT_KEYSPACE};

use seer_core::ValueKind;

use crate::error::Error;

/// A frozen memtable and the WAL segment its records are in.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    /// The memtable.
    pub memtable: Arc<Memtable>,
    /// Its WAL segment; segments up to this one are obsolete once it is
    /// flushed.
    pub wal_segment: u64,
}

/// The active memtable and the immutable ones.
#[derive(Debug)]
pub(crate) struct Memtables {
    active: ArcSwap<Memtable>,
    immutables: ArcSwap<Vec<Frozen>>,
    /// `immutables`' length, kept with every change of it (switches add
    /// one, flushes subtract what they removed), so that the write path's
    /// admission check reads one atomic instead of loading the list.
    immutable_count: AtomicUsize,
    /// Odd while a switch or a catch-up changes the sources, bumped twice
    /// by each (they run one at a time, under the engine's switch lock).
    generation: AtomicU64,
    partitions: usize,
    capacity_bytes: usize,
}

impl Memtables {
    /// A set with an empty active memtable and the given immutables
    /// (newest first).
    pub(crate) fn new(partitions: usize, capacity_bytes: usize, immutables: Vec<Frozen>) -> Self {
        Self {
            active: ArcSwap::from_pointee(Memtable::new(partitions, capacity_bytes)),
            immutable_count: AtomicUsize::new(immutables.len()),
            immutables: ArcSwap::from_pointee(immutables),
            generation: AtomicU64::new(0),
            partitions,
            capacity_bytes,
        }
    }

    /// The active memtable (a cheap, lock-free load).
    #[inline]
    pub(crate) fn active(&self) -> arc_swap::Guard<Arc<Memtable>> {
        self.active.load()
    }

    /// The active memtable, owned.
    pub(crate) fn active_full(&self) -> Arc<Memtable> {
        self.active.load_full()
    }

    /// The generation a reader loads before its sources (see
    /// [`Memtables::unchanged_since`]); waits out a change in progress.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        loop {
            let generation = self.generation.load(Ordering::Acquire);
            if generation.is_multiple_of(2) {
                return generation;
            }
            std::thread::yield_now();
        }
    }

    /// Whether no switch or catch-up changed the sources since
    /// `generation` was loaded: the sources loaded in between are one
    /// state. A change bumps the generation (with acquire-release
    /// ordering) before its first store and after its last, so a reader
    /// whose loads overlapped one sees an odd or a different generation.
    #[inline]
    pub(crate) fn unchanged_since(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    /// Runs `change` (a switch, or a read-only catch-up swapping every
    /// source in) as one step for readers (see
    /// [`Memtables::unchanged_since`]). The caller serialises changes.
    pub(crate) fn changing<R>(&self, change: impl FnOnce() -> R) -> R {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let result = change();
        self.generation.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// The immutable memtables, newest first.
    #[inline]
    pub(crate) fn immutables(&self) -> arc_swap::Guard<Arc<Vec<Frozen>>> {
        self.immutables.load()
    }

    /// How many immutable memtables there are: one atomic load, for the
    /// write path's admission check.
    #[inline]
    pub(crate) fn immutable_count(&self) -> usize {
        self.immutable_count.load(Ordering::Acquire)
    }

    /// A fresh empty memtable of the configured shape.
    pub(crate) fn new_memtable(&self) -> Arc<Memtable> {
        Arc::new(Memtable::new(self.partitions, self.capacity_bytes))
    }

    /// Freezes the active memtable (whose records are in `old_segment`),
    /// makes it the newest immutable, and installs `next` as the active one.
    /// Runs at the pipeline's switch point. The
    /// immutable is published before the new active one, so a reader that
    /// sees the new active memtable also sees the old one.
    pub(crate) fn switch(&self, next: Arc<Memtable>, old_segment: u64) {
        let old = self.active.load_full();
        old.freeze();
        let frozen = Frozen {
            memtable: old,
            wal_segment: old_segment,
        };
        self.changing(|| {
            self.immutables.rcu(|list| {
                let mut next_list = Vec::with_capacity(list.len() + 1);
                next_list.push(frozen.clone());
                next_list.extend(list.iter().cloned());
                next_list
            });
            self.immutable_count.fetch_add(1, Ordering::AcqRel);
            self.active.store(next);
        });
    }

    /// Replaces every immutable with `immutables` (newest first): a
    /// read-only open catching up installs the memtables it replayed.
    pub(crate) fn replace_immutables(&self, immutables: Vec<Frozen>) {
        let count = immutables.len();
        self.immutables.store(Arc::new(immutables));
        self.immutable_count.store(count, Ordering::Release);
    }

    /// Removes a flushed immutable.
    pub(crate) fn remove_flushed(&self, flushed: &Arc<Memtable>) {
        let is_flushed = |frozen: &&Frozen| Arc::ptr_eq(&frozen.memtable, flushed);
        // `rcu` returns the list its successful swap replaced: the one the
        // new list was made from, so the count removed is that list's.
        let replaced = self.immutables.rcu(|list| {
            list.iter()
                .filter(|f| !is_flushed(f))
                .cloned()
                .collect::<Vec<_>>()
        });
        let removed = replaced.iter().filter(is_flushed).count();
        self.immutable_count.fetch_sub(removed, Ordering::AcqRel);
    }

    /// The oldest immutable, the next to flush.
    pub(crate) fn oldest_immutable(&self) -> Option<Frozen> {
        self.immutables.load().last().cloned()
    }

    /// Memory of every memtable, in accounted bytes.
    pub(crate) fn memory_bytes(&self) -> u64 {
        let active = self.active.load().approximate_memory_bytes() as u64;
        let frozen: u64 = self
            .immutables
            .load()
            .iter()
            .map(|f| f.memtable.approximate_memory_bytes() as u64)
            .sum();
        active + frozen
    }
}

/// Hands the ops of `record` (logged at `first_seq`) to `insert` with their
/// keyspace and first sequence number: all at once for a record without
/// keyspace ids (all in the default keyspace), one by one for a keyed one.
pub(crate) fn insert_record(
    first_seq: u64,
    record: &WriteRecord,
    mut insert: impl FnMut(KeyspaceId, u64, &[WriteOp]) -> Result<(), Error>,
) -> Result<(), Error> {
    if !matches!(record, WriteRecord::Keyed { .. }) {
        return insert(DEFAULT_KEYSPACE, first_seq, record.ops());
    }
    for (index, op) in record.ops().iter().enumerate() {
        insert(
            record.keyspace_of(index),
            first_seq + index as u64,
            std::slice::from_ref(op),
        )?;
    }
    Ok(())
}

/// Inserts `ops` at consecutive sequence numbers from `first_seq`. A batch
/// of more than one op goes through one [`seer_memtable::MemtableInserter`],
/// so that its keys, when they ascend, skip most of each skip-list search.
pub(crate) fn insert_ops(
    memtable: &Memtable,
    first_seq: u64,
    ops: &[WriteOp],
) -> Result<(), Error> {
    if let [op] = ops {
        return insert_op(
            memtable,
            |key, seq, kind, value| memtable.insert(key, seq, kind, value),
            first_seq,
            op,
        );
    }
    let mut inserter = memtable.inserter();
    for (offset, op) in ops.iter().enumerate() {
        insert_op(
            memtable,
            |key, seq, kind, value| inserter.insert(key, seq, kind, value),
            first_seq + offset as u64,
            op,
        )?;
    }
    Ok(())
}

/// Inserts `op` at `seq`: a point op through `insert` (the memtable's or
/// an inserter's), a range delete into the memtable's tombstone set.
fn insert_op(
    memtable: &Memtable,
    mut insert: impl FnMut(&[u8], u64, ValueKind, bytes::Bytes) -> Result<(), MemtableError>,
    seq: u64,
    op: &WriteOp,
) -> Result<(), Error> {
    let result = match op {
        WriteOp::Put { key, value } => insert(key, seq, ValueKind::Put, value.clone()),
        WriteOp::Delete { key } => insert(key, seq, ValueKind::Delete, bytes::Bytes::new()),
        WriteOp::Merge { key, operand } => insert(key, seq, ValueKind::Merge, operand.clone()),
        WriteOp::DeleteRange { start, end } => memtable.insert_range_tombstone(start, end, seq),
        WriteOp::ExpiringPut { key, stored } => {
            insert(key, seq, ValueKind::ExpiringPut, stored.clone())
        }
    };
    result.map_err(|e| Error::internal("memtable", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mirrored count and the list's length, which must agree.
    fn counts(memtables: &Memtables) -> (usize, usize) {
        (memtables.immutable_count(), memtables.immutables().len())
    }

    #[test]
    fn the_immutable_count_follows_switches_flushes_and_replacements() {
        let memtables = Memtables::new(2, 1 << 20, Vec::new());
        assert_eq!(counts(&memtables), (0, 0));
        let first = memtables.active_full();
        memtables.switch(memtables.new_memtable(), 1);
        let second = memtables.active_full();
        memtables.switch(memtables.new_memtable(), 2);
        assert_eq!(counts(&memtables), (2, 2));
        memtables.remove_flushed(&first);
        assert_eq!(counts(&memtables), (1, 1));
        memtables.remove_flushed(&first);
        assert_eq!(
            counts(&memtables),
            (1, 1),
            "a second removal removes nothing"
        );
        memtables.remove_flushed(&second);
        assert_eq!(counts(&memtables), (0, 0));
        let frozen = Frozen {
            memtable: memtables.new_memtable(),
            wal_segment: 3,
        };
        memtables.replace_immutables(vec![frozen.clone(), frozen]);
        assert_eq!(counts(&memtables), (2, 2));
    }
}
