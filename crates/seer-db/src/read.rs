//! Point reads: `get` and `multi_get` look in the active memtable, the
//! immutable memtables newest first, then the version's sorted runs newest
//! first, stopping at the first value or tombstone and collecting merge
//! operands on the way; [`DbInner::resolve`] is the one place reads
//! (point reads, iterators and transactions) resolve them. Also the
//! [`ReadView`] that iterators and snapshots start from.

use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::Version;
use seer_core::{Lookup, MergeBase, MergeError, SeqNo};
use seer_memtable::Memtable;

use crate::db::DbInner;
use crate::error::Result;
use crate::memtables::Frozen;
use crate::tree::Tree;

/// A consistent view for reading at `seq`: every entry with a sequence
/// number up to `seq` is in `memtables` or `version`.
#[derive(Debug, Clone)]
pub(crate) struct ReadView {
    /// The sequence number to read at.
    pub seq: SeqNo,
    /// The active memtable first, then the immutables newest first.
    pub memtables: Vec<Arc<Memtable>>,
    /// The on-disk tree.
    pub version: Arc<Version>,
}

/// What a lookup found so far across sources, newest first.
#[derive(Debug, Default)]
struct Probe {
    /// Merge operands, newest first (allocated only when merges occur).
    operands: Vec<Bytes>,
}

/// The outcome of feeding one source's answer into a [`Probe`].
enum Step {
    /// Keep looking in older sources.
    Continue,
    /// The key's value (or absence) is decided.
    Done(Option<Bytes>),
    /// Operands end at this base (`None`: no older data).
    Resolve(Option<Bytes>),
}

impl Probe {
    fn feed(&mut self, lookup: Lookup) -> Step {
        match lookup {
            Lookup::NotFound => Step::Continue,
            Lookup::Value(value) if self.operands.is_empty() => Step::Done(Some(value)),
            Lookup::Value(value) => Step::Resolve(Some(value)),
            Lookup::Deleted if self.operands.is_empty() => Step::Done(None),
            Lookup::Deleted => Step::Resolve(None),
            Lookup::Merge { operands, base } => {
                self.operands.extend(operands);
                match base {
                    None => Step::Continue,
                    Some(MergeBase::Value(value)) => Step::Resolve(Some(value)),
                    Some(MergeBase::Deleted) => Step::Resolve(None),
                }
            }
        }
    }
}

impl DbInner {
    /// The value of `key` at `seq`, or `None`.
    pub(crate) fn get_at(&self, key: &[u8], seq: SeqNo) -> Result<Option<Bytes>> {
        let mut probe = Probe::default();
        let mut runs_probed = 0;
        let (active, immutables, tree) = self.load_sources();
        let step = match probe_memtables(key, seq, &active, &immutables, &tree, &mut probe) {
            Step::Continue => self.probe_tree(key, seq, &tree, &mut probe, &mut runs_probed)?,
            decided => decided,
        };
        let value = match step {
            Step::Done(value) => Ok(value),
            Step::Continue if probe.operands.is_empty() => Ok(None),
            Step::Continue => self.resolve(key, &probe.operands, None).map(Some),
            Step::Resolve(base) => self
                .resolve(key, &probe.operands, base.as_deref())
                .map(Some),
        }?;
        self.metrics().record_lookup(value.is_some(), runs_probed);
        Ok(value)
    }

    /// The active memtable, the immutables and the tree, loaded in that
    /// order, for reading at a sequence number the caller loaded before.
    ///
    /// A switch publishes the old active memtable among the immutables
    /// before the new active one, and a flush installs its tables before
    /// removing the immutable, so these loads never miss data at or below
    /// that sequence number, but can see a memtable twice: as the active one
    /// and an immutable (skipped by [`unflushed`]), as an immutable and the
    /// tables it was flushed into (skipped by [`unflushed`] by the tree's log
    /// number), or as the active one and, after a switch and a whole flush
    /// in between, its tables (the loads are repeated then).
    fn load_sources(&self) -> Sources {
        let memtables = self.memtables();
        loop {
            let active = memtables.active();
            let immutables = memtables.immutables();
            let tree = self.tree().current();
            if Arc::ptr_eq(&active, &memtables.active()) {
                return (active, immutables, tree);
            }
        }
    }

    fn probe_tree(
        &self,
        key: &[u8],
        seq: SeqNo,
        tree: &Tree,
        probe: &mut Probe,
        runs_probed: &mut u64,
    ) -> Result<Step> {
        for (_, run) in tree.version.runs_newest_first() {
            let Some(meta) = run.table_for_key(key) else {
                continue;
            };
            if meta.smallest_seq > seq {
                continue;
            }
            *runs_probed += 1;
            let table = match tree.tables.get(&meta.file_number) {
                Some(table) => table.get(key, seq)?,
                None => self.table(meta)?.get(key, seq)?,
            };
            if let step @ (Step::Done(_) | Step::Resolve(_)) = probe.feed(table) {
                return Ok(step);
            }
        }
        Ok(Step::Continue)
    }

    /// Resolves merge operands (newest first) over `base` with the
    /// configured operator; fails as `get` does when none is configured.
    /// Point reads, iterators and transactions all resolve through here.
    pub(crate) fn resolve(
        &self,
        key: &[u8],
        operands_newest_first: &[Bytes],
        base: Option<&[u8]>,
    ) -> Result<Bytes> {
        let operator = self
            .options()
            .merge_operator_ref()
            .ok_or_else(no_operator)?;
        let oldest_first: Vec<Bytes> = operands_newest_first.iter().rev().cloned().collect();
        let merged = operator.full_merge(key, base, &oldest_first)?;
        Ok(Bytes::from(merged))
    }

    /// A consistent view of the current state at the visible sequence
    /// number; see [`DbInner::read_view_at`].
    pub(crate) fn read_view(&self) -> ReadView {
        self.read_view_at(self.visible_seq())
    }

    /// A consistent view for reading at `seq`, which the caller loaded from
    /// the visible sequence number *before* this call: everything visible at
    /// `seq` is then in the active memtable or was moved (active ->
    /// immutables -> tree, each published before it leaves the previous
    /// place), and the loads here, in that same order, find it.
    pub(crate) fn read_view_at(&self, seq: SeqNo) -> ReadView {
        debug_assert!(seq <= self.visible_seq(), "read view above visible seq");
        let (active, immutables, tree) = self.load_sources();
        let version = Arc::clone(&tree.version);
        let mut list = Vec::with_capacity(1 + immutables.len());
        list.push(Arc::clone(&active));
        list.extend(unflushed(&immutables, &active, &tree).map(|f| Arc::clone(&f.memtable)));
        ReadView {
            seq,
            memtables: list,
            version,
        }
    }
}

/// What a read loads: the active memtable, the immutables (newest first)
/// and the tree.
type Sources = (
    arc_swap::Guard<Arc<Memtable>>,
    arc_swap::Guard<Arc<Vec<Frozen>>>,
    arc_swap::Guard<Arc<Tree>>,
);

/// The immutables of `immutables` that are neither `active` (seen by a
/// reader that loaded the new active memtable after the switch) nor already
/// flushed into `tree` (seen by a reader that loaded them before the flush
/// removed them): a memtable read twice would, for one, yield its merge
/// operands twice.
fn unflushed<'a>(
    immutables: &'a [Frozen],
    active: &'a Arc<Memtable>,
    tree: &'a Tree,
) -> impl Iterator<Item = &'a Frozen> + 'a {
    immutables.iter().filter(move |frozen| {
        !Arc::ptr_eq(&frozen.memtable, active) && frozen.wal_segment >= tree.log_number
    })
}

/// Probes the active memtable, then the immutables not yet in `tree`,
/// newest first.
fn probe_memtables(
    key: &[u8],
    seq: SeqNo,
    active: &Arc<Memtable>,
    immutables: &[Frozen],
    tree: &Tree,
    probe: &mut Probe,
) -> Step {
    if let step @ (Step::Done(_) | Step::Resolve(_)) = probe.feed(active.get(key, seq)) {
        return step;
    }
    for frozen in unflushed(immutables, active, tree) {
        if let step @ (Step::Done(_) | Step::Resolve(_)) = probe.feed(frozen.memtable.get(key, seq))
        {
            return step;
        }
    }
    Step::Continue
}

fn no_operator() -> crate::Error {
    crate::Error::Merge(MergeError {
        operator: "none".to_owned(),
        reason: "merge operands found but no merge_operator is configured".to_owned(),
    })
}
