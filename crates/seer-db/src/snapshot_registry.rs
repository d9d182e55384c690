//! The live snapshot sequence numbers: snapshots, transactions and
//! iterators register the sequence number they read at, and flushes and
//! compactions keep, for every user key, the newest version visible to each
//! of them.
//!
//! # Registration race
//!
//! A reader must not choose its sequence number outside the registry's
//! lock: a compaction that listed the live snapshots between the reader's
//! load of the visible sequence number and its registration would not keep
//! the versions only that reader sees. So [`SnapshotRegistry::register_visible`]
//! loads the visible sequence number *under* the lock, and
//! [`SnapshotRegistry::live_seqs`] loads it under the same lock and lists it
//! as one more live snapshot. Every registration is then ordered before a
//! listing (and is in it) or after it (and reads at a sequence number at or
//! above the listed visible one, which the listing keeps; a flush or
//! compaction only takes inputs made visible before it lists, so nothing
//! newer than that exists in its inputs).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use seer_core::SeqNo;

use crate::pipeline::Pipeline;

/// Counts of live registrations per sequence number.
type LiveCounts = Arc<Mutex<BTreeMap<SeqNo, usize>>>;

/// The live registrations of one database.
#[derive(Debug, Default)]
pub(crate) struct SnapshotRegistry {
    live: LiveCounts,
}

/// Keeps a sequence number registered until dropped. Cloning registers the
/// same sequence number once more (race-free: this guard keeps it live).
#[derive(Debug)]
pub(crate) struct SnapshotGuard {
    live: LiveCounts,
    seq: SeqNo,
}

impl SnapshotRegistry {
    /// Registers the sequence number `visible` returns, called under the
    /// registry's lock (see the [module documentation](self)).
    pub(crate) fn register_visible(&self, visible: impl FnOnce() -> SeqNo) -> SnapshotGuard {
        let mut live = self.live.lock();
        let seq = visible();
        *live.entry(seq).or_insert(0) += 1;
        SnapshotGuard {
            live: Arc::clone(&self.live),
            seq,
        }
    }

    /// The registered sequence numbers and the one `visible` returns (called
    /// under the registry's lock), ascending, without duplicates: the
    /// snapshots a flush or compaction starting now must keep.
    pub(crate) fn live_seqs(&self, visible: impl FnOnce() -> SeqNo) -> Vec<SeqNo> {
        let live = self.live.lock();
        let visible_seq = visible();
        let mut seqs: Vec<SeqNo> = live.keys().copied().collect();
        debug_assert!(
            seqs.last().is_none_or(|&newest| newest <= visible_seq),
            "a registered sequence number is above the visible one"
        );
        if seqs.last() != Some(&visible_seq) {
            seqs.push(visible_seq);
        }
        seqs
    }

    /// The newest registered sequence number, if any (without the visible
    /// one): the compaction filter sees only versions above it.
    pub(crate) fn newest_registered_seq(&self) -> Option<SeqNo> {
        self.live.lock().keys().next_back().copied()
    }

    /// How many registrations are live.
    pub(crate) fn live_count(&self) -> usize {
        self.live.lock().values().sum()
    }
}

impl SnapshotGuard {
    /// The registered sequence number.
    pub(crate) fn seq(&self) -> SeqNo {
        self.seq
    }
}

impl Clone for SnapshotGuard {
    fn clone(&self) -> Self {
        *self.live.lock().entry(self.seq).or_insert(0) += 1;
        Self {
            live: Arc::clone(&self.live),
            seq: self.seq,
        }
    }
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        let mut live = self.live.lock();
        if let Some(count) = live.get_mut(&self.seq) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

/// The registry of one database, bound to the commit pipeline (or a
/// read-only open's stand-in) that publishes its visible sequence number.
#[derive(Clone, Copy)]
pub(crate) struct LiveSnapshots<'db> {
    registry: &'db SnapshotRegistry,
    pipeline: &'db Pipeline,
}

impl<'db> LiveSnapshots<'db> {
    /// The registry bound to `pipeline`'s visible sequence number.
    pub(crate) fn new(registry: &'db SnapshotRegistry, pipeline: &'db Pipeline) -> Self {
        Self { registry, pipeline }
    }

    /// Registers the database's visible sequence number, loaded under the
    /// registry's lock.
    pub(crate) fn register_visible(self) -> SnapshotGuard {
        self.registry
            .register_visible(|| self.pipeline.visible_seq())
    }

    /// The registered sequence numbers and the visible one, loaded under the
    /// registry's lock, ascending: what a flush or compaction must keep.
    pub(crate) fn live_seqs(self) -> Vec<SeqNo> {
        self.registry.live_seqs(|| self.pipeline.visible_seq())
    }

    /// The newest registered sequence number, if any.
    pub(crate) fn newest_registered_seq(self) -> Option<SeqNo> {
        self.registry.newest_registered_seq()
    }

    /// How many registrations are live.
    pub(crate) fn live_count(self) -> usize {
        self.registry.live_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_release_on_drop() {
        let registry = SnapshotRegistry::default();
        let a = registry.register_visible(|| 5);
        let b = a.clone();
        let c = registry.register_visible(|| 9);
        assert_eq!(registry.live_seqs(|| 9), vec![5, 9]);
        assert_eq!(registry.live_count(), 3);
        drop(a);
        assert_eq!(registry.live_seqs(|| 12), vec![5, 9, 12]);
        drop(b);
        assert_eq!(registry.live_seqs(|| 12), vec![9, 12]);
        assert_eq!(c.seq(), 9);
        drop(c);
        assert_eq!(registry.live_seqs(|| 12), vec![12]);
        assert_eq!(registry.live_count(), 0);
    }

    /// The race this module closes: the visible sequence number is loaded
    /// while the lock is held, both when registering and when listing, so no
    /// listing can fall between a reader's load and its registration.
    #[test]
    fn visible_seq_is_loaded_under_the_lock() {
        let registry = SnapshotRegistry::default();
        let guard = registry.register_visible(|| {
            assert!(registry.live.try_lock().is_none(), "registered unlocked");
            7
        });
        assert_eq!(guard.seq(), 7);
        let seqs = registry.live_seqs(|| {
            assert!(registry.live.try_lock().is_none(), "listed unlocked");
            7
        });
        assert_eq!(seqs, vec![7]);
    }
}
