//! The live snapshot sequence numbers: snapshots and transactions register
//! the sequence they read at, and compaction keeps, for every user key, the
//! newest version visible to each of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use seer_core::SeqNo;

/// Counts of live registrations per sequence number.
#[derive(Debug, Default)]
pub(crate) struct SnapshotRegistry {
    live: Arc<Mutex<BTreeMap<SeqNo, usize>>>,
}

/// Keeps a sequence number registered until dropped.
#[derive(Debug)]
pub(crate) struct SnapshotGuard {
    live: Arc<Mutex<BTreeMap<SeqNo, usize>>>,
    seq: SeqNo,
}

impl SnapshotRegistry {
    /// Registers `seq` as read by a live snapshot.
    pub(crate) fn register(&self, seq: SeqNo) -> SnapshotGuard {
        *self.live.lock().entry(seq).or_insert(0) += 1;
        SnapshotGuard {
            live: Arc::clone(&self.live),
            seq,
        }
    }

    /// The registered sequence numbers, ascending, without duplicates.
    pub(crate) fn live_seqs(&self) -> Vec<SeqNo> {
        self.live.lock().keys().copied().collect()
    }

    /// How many registrations are live.
    pub(crate) fn live_count(&self) -> usize {
        self.live.lock().values().sum()
    }
}

impl SnapshotGuard {
    /// The registered sequence number.
    #[allow(dead_code)] // read by snapshots and transactions
    pub(crate) fn seq(&self) -> SeqNo {
        self.seq
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_release_on_drop() {
        let registry = SnapshotRegistry::default();
        let a = registry.register(5);
        let b = registry.register(5);
        let c = registry.register(9);
        assert_eq!(registry.live_seqs(), vec![5, 9]);
        drop(a);
        assert_eq!(registry.live_seqs(), vec![5, 9]);
        drop(b);
        assert_eq!(registry.live_seqs(), vec![9]);
        assert_eq!(c.seq(), 9);
        drop(c);
        assert!(registry.live_seqs().is_empty());
        assert_eq!(registry.live_count(), 0);
    }
}
