//! Point reads: `get` and `multi_get` look in the active memtable, the
//! immutable memtables newest first, then the version's sorted runs newest
//! first, stopping at the first value or tombstone and collecting merge
//! operands on the way; [`Engine::resolve`] is the one place reads
//! (point reads, iterators and transactions) resolve them. Also the
//! [`ReadView`] and the [`PinnedView`] (a registered view) that iterators,
//! snapshots and transactions start from.
//!
//! # One pinned view per call
//!
//! Every read call reads one set of sources (memtables and tree) at one
//! sequence number, loaded together by [`Engine::load_sources`]: a
//! `multi_get` reads all its keys from that one set, and a snapshot or a
//! transaction reads through the view it pinned when it began. A read that
//! registers no snapshot (`get`, `multi_get`) loads its sources *first* and
//! the visible sequence number *after*: a flush or compaction drops only
//! versions that no snapshot listed when it started can see, and every such
//! listing includes the visible sequence number of that moment, which is at
//! most the one the read loads afterwards; the tree it loaded keeps the
//! newest version of every key up to it. Loading the sequence number first
//! would let a compaction listed in between drop the version visible at it
//! (defect 3 of issue 11: `multi_get` returned `None` for a key that was
//! never absent).

use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::TableMeta;
use seer_core::{Clock, Lookup, MergeBase, MergeError, SeqNo, ValueKind};
use seer_memtable::Memtable;
use seer_sstable::{HashedKey, Table};

use super::Engine;
use crate::error::{Error, Result};
use crate::memtables::Frozen;
use crate::snapshot_registry::SnapshotGuard;
use crate::tree::OpenVersion;

/// A consistent view for reading at `seq`: every entry with a sequence
/// number up to `seq` is in `memtables` or `tree`.
#[derive(Debug, Clone)]
pub(crate) struct ReadView {
    /// The sequence number to read at.
    pub seq: SeqNo,
    /// The active memtable first, then the immutables newest first.
    pub memtables: Vec<Arc<Memtable>>,
    /// The on-disk tree (its version and open tables).
    pub tree: Arc<OpenVersion>,
}

/// A read view pinned for as long as this value lives: its memtables and
/// version (hence its table files) stay, and its sequence number stays
/// registered, so compaction keeps every version it can see. A clone pins
/// and registers the same view once more. Snapshots, iterators and
/// transactions each hold one.
#[derive(Debug, Clone)]
pub(crate) struct PinnedView {
    view: ReadView,
    _registration: SnapshotGuard,
}

impl PinnedView {
    /// The pinned view.
    pub(crate) fn view(&self) -> &ReadView {
        &self.view
    }
}

/// The sources of one point-read call, loaded together with the sequence
/// number it reads at (see the [module documentation](self)); held for the
/// call only.
struct PointView {
    seq: SeqNo,
    sources: Sources,
}

/// What a lookup found so far across sources, newest first.
struct Probe<'c> {
    /// Merge operands, newest first (allocated only when merges occur).
    operands: Vec<Bytes>,
    /// The database's clock, read only when an expiring put is found:
    /// from its expiry on it is a tombstone.
    clock: &'c dyn Clock,
}

/// The outcome of feeding one source's answer into a [`Probe`].
enum ProbeOutcome {
    /// Keep looking in older sources.
    Continue,
    /// The key's value (or absence) is decided.
    Done(Option<Bytes>),
    /// A range tombstone of a source reached covers the key: the key is
    /// read by [`Engine::read_covered`] instead.
    Covered,
    /// Operands end at this base (`None`: no older data).
    Resolve(Option<Bytes>),
}

impl Probe<'_> {
    #[inline]
    fn feed(&mut self, lookup: Lookup) -> Result<ProbeOutcome> {
        let no_operands = self.operands.is_empty();
        Ok(match lookup {
            Lookup::NotFound => ProbeOutcome::Continue,
            Lookup::Value(value) if no_operands => ProbeOutcome::Done(Some(value)),
            Lookup::Value(value) => ProbeOutcome::Resolve(Some(value)),
            Lookup::Deleted if no_operands => ProbeOutcome::Done(None),
            Lookup::Deleted => ProbeOutcome::Resolve(None),
            // The clock is read only here, when an expiring put is found:
            // from its expiry on it is a tombstone.
            Lookup::Expiring(stored) if no_operands => {
                ProbeOutcome::Done(live_now(&stored, self.clock)?)
            }
            Lookup::Expiring(stored) => ProbeOutcome::Resolve(live_now(&stored, self.clock)?),
            Lookup::Merge { operands, base } => {
                self.operands.extend(operands);
                match base {
                    None => ProbeOutcome::Continue,
                    Some(MergeBase::Value(value)) => ProbeOutcome::Resolve(Some(value)),
                    Some(MergeBase::Deleted) => ProbeOutcome::Resolve(None),
                    Some(MergeBase::Expiring(stored)) => {
                        ProbeOutcome::Resolve(live_now(&stored, self.clock)?)
                    }
                }
            }
        })
    }
}

impl Engine {
    /// The value of `key` at the visible sequence number.
    pub(crate) fn get_latest(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let view = self.point_view();
        self.probe_sources(key, &view)
    }

    /// The values of `keys`, all read from one pinned view.
    pub(crate) fn multi_get_latest<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Option<Bytes>>> {
        let view = self.point_view();
        keys.iter()
            .map(|key| self.probe_sources(key.as_ref(), &view))
            .collect()
    }

    /// The value of `key` in `view` (a snapshot's or a transaction's).
    pub(crate) fn get_in(&self, key: &[u8], view: &ReadView) -> Result<Option<Bytes>> {
        let memtables = view.memtables.iter().map(|memtable| &**memtable);
        match self.probe(key, view.seq, memtables, &view.tree)? {
            Some(found) => Ok(found),
            None => self.read_covered(key, view.seq, &view.memtables, &view.tree),
        }
    }

    fn probe_sources(&self, key: &[u8], view: &PointView) -> Result<Option<Bytes>> {
        let (active, immutables, tree) = &view.sources;
        let memtables = std::iter::once(&***active)
            .chain(unflushed(immutables, active, tree).map(|frozen| &*frozen.memtable));
        match self.probe(key, view.seq, memtables, tree)? {
            Some(found) => Ok(found),
            None => {
                let memtables: Vec<Arc<Memtable>> = std::iter::once(Arc::clone(&**active))
                    .chain(unflushed(immutables, active, tree).map(|f| Arc::clone(&f.memtable)))
                    .collect();
                self.read_covered(key, view.seq, &memtables, tree)
            }
        }
    }

    /// The value of `key` at `seq` in `memtables` (newest first) and
    /// `tree`, returned as [`Engine::returned`] says; `None` when a range
    /// tombstone of a source it reached covers the key (the caller reads it
    /// with [`Engine::read_covered`]).
    fn probe<'m>(
        &self,
        key: &[u8],
        seq: SeqNo,
        memtables: impl Iterator<Item = &'m Memtable>,
        tree: &OpenVersion,
    ) -> Result<Option<Option<Bytes>>> {
        let mut probe = Probe {
            operands: Vec::new(),
            clock: self.options().clock.as_ref(),
        };
        let mut runs_probed = 0;
        let step = match probe_memtables(key, seq, memtables, &mut probe)? {
            ProbeOutcome::Continue => {
                self.probe_tree(key, seq, tree, &mut probe, &mut runs_probed)?
            }
            decided => decided,
        };
        let value = match step {
            ProbeOutcome::Covered => return Ok(None),
            ProbeOutcome::Done(value) => Ok(value),
            ProbeOutcome::Continue if probe.operands.is_empty() => Ok(None),
            ProbeOutcome::Continue => self.resolve(key, &probe.operands, None).map(Some),
            ProbeOutcome::Resolve(base) => self
                .resolve(key, &probe.operands, base.as_deref())
                .map(Some),
        }?;
        self.metrics().record_lookup(value.is_some(), runs_probed);
        Ok(Some(value.map(|value| self.returned(value))))
    }

    /// A value on its way to the user: shared with the table's memory map
    /// (or the memtable), or copied into its own allocation when
    /// [`DBOptions::owned_values`](crate::DBOptions::owned_values) is set.
    #[inline]
    pub(crate) fn returned(&self, value: Bytes) -> Bytes {
        if self.options().owned_values {
            Bytes::copy_from_slice(&value)
        } else {
            value
        }
    }

    /// The active memtable, the immutables and the tree, loaded in that
    /// order, and then the visible sequence number.
    ///
    /// A flush installs its tables before removing the immutable, so these
    /// loads never miss data at or below the visible sequence number loaded
    /// after them, but can see a memtable twice: as an immutable and the
    /// tables it was flushed into (skipped by [`unflushed`] by the tree's
    /// log number), or as the active one and, after a switch and a whole
    /// flush in between, its tables. Data made visible after the loads is
    /// in the active memtable loaded, unless a switch came in between. So
    /// the loads are repeated when the memtables' generation (bumped before
    /// and after every switch and every read-only catch-up, see
    /// [`Memtables::unchanged_since`](crate::memtables::Memtables::unchanged_since))
    /// moved while they ran: the sources then hold everything visible at the
    /// sequence number returned and at any lower one a snapshot keeps. The
    /// generation costs one atomic load where re-loading the active memtable
    /// to compare it cost an `arc-swap` load and its guard.
    fn load_sources(&self) -> (Sources, SeqNo) {
        let memtables = self.memtables();
        loop {
            let generation = memtables.generation();
            let active = memtables.active();
            let immutables = memtables.immutables();
            let tree = self.tree().current();
            let seq = self.visible_seq();
            if memtables.unchanged_since(generation) {
                return ((active, immutables, tree), seq);
            }
        }
    }

    /// Sources and the sequence number to read them at, for a read that
    /// registers no snapshot.
    fn point_view(&self) -> PointView {
        let (sources, seq) = self.load_sources();
        PointView { seq, sources }
    }

    #[inline]
    fn probe_tree(
        &self,
        key: &[u8],
        seq: SeqNo,
        tree: &OpenVersion,
        probe: &mut Probe<'_>,
        runs_probed: &mut u64,
    ) -> Result<ProbeOutcome> {
        if tree.range_tombstones.max_covering_seq(key, seq).is_some() {
            return Ok(ProbeOutcome::Covered);
        }
        let hashed = HashedKey::new(key);
        for (_, run) in tree.version.runs_newest_first() {
            let Some(meta) = run.table_for_key(key) else {
                continue;
            };
            if meta.smallest_seq > seq {
                continue;
            }
            *runs_probed += 1;
            // The table `tree` holds is borrowed, not cloned: a shared
            // table's reference count is a cache line every reader thread
            // would otherwise write twice per probe.
            let lookup = match tree.tables.get(&meta.file_number) {
                Some(table) => table.get_hashed(&hashed, seq)?,
                None => self.table(meta)?.get_hashed(&hashed, seq)?,
            };
            if let step @ (ProbeOutcome::Done(_) | ProbeOutcome::Resolve(_)) = probe.feed(lookup)? {
                return Ok(step);
            }
        }
        Ok(ProbeOutcome::Continue)
    }

    /// The open table of `meta`, a table of `tree`: the one `tree` holds,
    /// or opened anew when `tree` lacks it.
    pub(crate) fn table_in(&self, tree: &OpenVersion, meta: &TableMeta) -> Result<Arc<Table>> {
        match tree.tables.get(&meta.file_number) {
            Some(table) => Ok(Arc::clone(table)),
            None => self.table(meta),
        }
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

    /// Pins the current state. The sequence number is chosen and
    /// registered in one step under the registry's lock (so no flush or
    /// compaction can list the live snapshots in between), and the
    /// memtables and version are loaded after it.
    ///
    /// On a read-only open, whose writer's compactions keep nothing for
    /// this handle's snapshots, the sequence number and the sources must
    /// also come from one catch-up's state: the pin is taken again when the
    /// memtables' generation moved in between (a catch-up, or a switch,
    /// for which taking it again is merely redundant).
    pub(crate) fn pin(&self) -> PinnedView {
        loop {
            let generation = self.memtables().generation();
            let registration = self.snapshots().register_visible();
            let view = self.read_view_at(registration.seq());
            if self.memtables().unchanged_since(generation) {
                return PinnedView {
                    view,
                    _registration: registration,
                };
            }
        }
    }

    /// This keyspace's state at the sequence number `other` (a view of
    /// another keyspace of the same database) pinned, sharing its
    /// registration: a snapshot's view of a second keyspace. The
    /// registration already keeps what this keyspace's compactions must
    /// not drop, so sources loaded now still hold everything `other`'s
    /// sequence number sees.
    pub(crate) fn pin_at(&self, other: &PinnedView) -> PinnedView {
        PinnedView {
            view: self.read_view_at(other.view.seq),
            _registration: other._registration.clone(),
        }
    }

    /// A consistent view of the current state at the visible sequence
    /// number loaded after its sources (see [`Engine::load_sources`]).
    pub(crate) fn read_view(&self) -> ReadView {
        let (sources, seq) = self.load_sources();
        view_of(sources, seq)
    }

    /// A consistent view for reading at `seq`, which the caller registered
    /// with the snapshot registry *before* this call, so no flush or
    /// compaction drops what it sees; the sources are loaded after it.
    fn read_view_at(&self, seq: SeqNo) -> ReadView {
        let (sources, visible_seq) = self.load_sources();
        debug_assert!(seq <= visible_seq, "read view above visible seq");
        view_of(sources, seq)
    }
}

/// The view of `sources` at `seq`, owning its memtables and tree.
fn view_of((active, immutables, tree): Sources, seq: SeqNo) -> ReadView {
    let mut list = Vec::with_capacity(1 + immutables.len());
    list.push(Arc::clone(&active));
    list.extend(unflushed(&immutables, &active, &tree).map(|f| Arc::clone(&f.memtable)));
    ReadView {
        seq,
        memtables: list,
        tree: arc_swap::Guard::into_inner(tree),
    }
}

/// What a read loads: the active memtable, the immutables (newest first)
/// and the tree.
type Sources = (
    arc_swap::Guard<Arc<Memtable>>,
    arc_swap::Guard<Arc<Vec<Frozen>>>,
    arc_swap::Guard<Arc<OpenVersion>>,
);

/// The immutables of `immutables` that are neither `active` (seen by a
/// reader that loaded the new active memtable after the switch) nor already
/// flushed into `tree` (seen by a reader that loaded them before the flush
/// removed them): a memtable read twice would, for one, yield its merge
/// operands twice.
fn unflushed<'a>(
    immutables: &'a [Frozen],
    active: &'a Arc<Memtable>,
    tree: &'a OpenVersion,
) -> impl Iterator<Item = &'a Frozen> + 'a {
    immutables.iter().filter(move |frozen| {
        !Arc::ptr_eq(&frozen.memtable, active) && frozen.wal_segment >= tree.log_number
    })
}

/// Probes `memtables`, newest first.
#[inline]
fn probe_memtables<'m>(
    key: &[u8],
    seq: SeqNo,
    memtables: impl Iterator<Item = &'m Memtable>,
    probe: &mut Probe<'_>,
) -> Result<ProbeOutcome> {
    for memtable in memtables {
        if memtable
            .range_tombstones()
            .max_covering_seq(key, seq)
            .is_some()
        {
            return Ok(ProbeOutcome::Covered);
        }
        if let step @ (ProbeOutcome::Done(_) | ProbeOutcome::Resolve(_)) =
            probe.feed(memtable.get(key, seq))?
        {
            return Ok(step);
        }
    }
    Ok(ProbeOutcome::Continue)
}

fn no_operator() -> crate::Error {
    crate::Error::Merge(MergeError {
        operator: "none".to_owned(),
        reason: "merge operands found but no merge_operator is configured".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use crate::options::DBOptions;

    /// `multi_get` loaded its sources per key, at a sequence number nothing
    /// protected: a flush and compaction between two keys dropped the
    /// version the later key needed (it read `None` for a key never absent).
    /// The keys of one call are read from one view, whatever happens
    /// between them.
    #[test]
    fn multi_get_reads_every_key_from_one_view_despite_a_compaction_between_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = DBOptions::default()
            .memtable_capacity(4 << 10)
            .open(dir.path())
            .unwrap();
        db.put("a", "a1").unwrap();
        db.put("z", "z1").unwrap();
        db.compact_range::<&[u8]>(..).unwrap();
        let inner = &db.inner;
        let view = inner.point_view();
        assert_eq!(
            inner.probe_sources(b"a", &view).unwrap().as_deref(),
            Some(&b"a1"[..])
        );
        // Between the keys: newer versions, flushed and compacted with no
        // snapshot registered, so "z1" is gone from the current tree.
        db.put("a", "a2").unwrap();
        db.put("z", "z2").unwrap();
        db.compact_range::<&[u8]>(..).unwrap();
        assert_eq!(db.get("z").unwrap().as_deref(), Some(&b"z2"[..]));
        assert_eq!(
            inner.probe_sources(b"z", &view).unwrap().as_deref(),
            Some(&b"z1"[..]),
            "the second key of one call must come from the same view"
        );
        assert_eq!(
            db.multi_get(&["a", "z"]).unwrap(),
            vec![Some("a2".into()), Some("z2".into())]
        );
    }

    /// `owned_values` copies every returned value into its own allocation
    /// (so none pins a table's memory map); by default two reads of a
    /// table's value share its bytes.
    #[test]
    fn owned_values_copies_every_returned_value_out_of_the_table() {
        for owned in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let db = DBOptions::default()
                .owned_values(owned)
                .open(dir.path())
                .unwrap();
            db.put("k", vec![7u8; 1000]).unwrap();
            db.flush().unwrap();
            let first = db.get("k").unwrap().unwrap();
            let second = db.get("k").unwrap().unwrap();
            let scanned = db.iter().next().unwrap().unwrap().1;
            assert_eq!(first, second);
            assert_eq!(first, scanned);
            let shared = first.as_ptr() == second.as_ptr() && first.as_ptr() == scanned.as_ptr();
            assert_eq!(shared, !owned, "owned_values({owned})");
        }
    }
}

/// One key's versions, newest first, folded into the merge operands above
/// its newest put or tombstone and that put's value (the base): what
/// [`Engine::resolve`] takes.
#[derive(Debug, Default)]
pub(crate) struct NewestFirstFold {
    /// The merge operands, newest first.
    pub operands: Vec<Bytes>,
    /// The value of the put below them, if one ended the fold.
    pub base: Option<Bytes>,
}

impl NewestFirstFold {
    /// Takes the next older version: false once a put or a tombstone ended
    /// the fold (older versions do not matter). An expiring put is a base
    /// until `clock` passes its expiry, then a tombstone.
    pub(crate) fn feed(
        &mut self,
        kind: ValueKind,
        value: Bytes,
        clock: &dyn Clock,
    ) -> Result<bool> {
        Ok(match kind {
            ValueKind::Merge => {
                self.operands.push(value);
                true
            }
            ValueKind::Put => {
                self.base = Some(value);
                false
            }
            ValueKind::ExpiringPut => {
                self.base = live_now(&value, clock)?;
                false
            }
            ValueKind::Delete => false,
        })
    }
}

/// The value of an expiring put's `stored` value at `clock`'s time, or
/// `None` once it has expired.
pub(crate) fn live_now(stored: &Bytes, clock: &dyn Clock) -> Result<Option<Bytes>> {
    seer_core::expiry::live_value(stored, clock.now_unix_ms()).map_err(|e| Error::Internal {
        layer: "read path",
        reason: e.to_string(),
    })
}
