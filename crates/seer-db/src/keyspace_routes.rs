//! Where the one WAL's ops go and which of its segments are still needed:
//! [`KeyspaceRoutes`] maps each open keyspace's id (the default keyspace's
//! too) to its memtable set and its tree. The commit pipeline's applier
//! ([`MemtableApplier`]) inserts each op into its keyspace's active
//! memtable; a flush deletes the WAL segments below the one every keyspace
//! still needs.
//!
//! A keyspace needs the segments from its tree's log number on while it
//! holds unflushed data (a non-empty active memtable or an immutable); one
//! holding none needs no segment, so a keyspace written once and never
//! again does not pin the WAL (its data is in its tables).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use seer_core::FileSystem;
use seer_wal::{
    delete_segments_before, list_segments, segment_path, Apply, KeyspaceId, Sequenced, WalError,
    DEFAULT_KEYSPACE,
};

use crate::error::{Error, Result};
use crate::health::HealthState;

use crate::memtables::{insert_ops, insert_record, Memtables};
use crate::tree::OpenVersionSet;

/// What can be asked to flush a keyspace's memtable (its engine).
pub(crate) trait FlushRequest: Send + Sync {
    /// Switches the keyspace's memtable (when it holds anything) so that
    /// its flush moves its log number on.
    fn request_flush(&self) -> Result<()>;
}

/// One keyspace's memtable set and tree.
#[derive(Clone)]
pub(crate) struct Route {
    /// The memtables its ops go to.
    pub memtables: Arc<Memtables>,
    /// Its tree, whose log number says which segments it flushed past.
    pub tree: Arc<OpenVersionSet>,
    /// Its engine, asked to flush when the WAL outgrows its bound.
    pub flusher: Weak<dyn FlushRequest>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").finish_non_exhaustive()
    }
}

impl Route {
    /// The oldest WAL segment this keyspace still needs (`None`: none).
    fn oldest_needed_segment(&self) -> Option<u64> {
        let unflushed =
            !self.memtables.active().is_empty() || !self.memtables.immutables().is_empty();
        unflushed.then(|| self.tree.current().log_number)
    }
}

/// The routes of every open keyspace, swapped whole (read lock-free by the
/// applier on every commit group).
#[derive(Debug, Default)]
pub(crate) struct KeyspaceRoutes {
    routes: ArcSwap<HashMap<KeyspaceId, Route>>,
    /// How many routes there are (read on every write, without loading
    /// them).
    count: AtomicUsize,
    /// Held while segments are deleted: each keyspace's flush thread
    /// deletes, and two listing the same segments must not both remove
    /// them.
    deleting: Mutex<()>,
}

impl KeyspaceRoutes {
    /// Adds (or replaces) the route of keyspace `id`.
    pub(crate) fn insert(&self, id: KeyspaceId, route: Route) {
        self.routes.rcu(|routes| {
            let mut next = HashMap::clone(routes);
            next.insert(id, route.clone());
            next
        });
        self.count
            .store(self.routes.load().len(), Ordering::Relaxed);
    }

    /// Removes the route of keyspace `id` (dropped): ops of it sequenced
    /// meanwhile go nowhere, and it pins no WAL segment.
    pub(crate) fn remove(&self, id: KeyspaceId) {
        self.routes.rcu(|routes| {
            let mut next = HashMap::clone(routes);
            next.remove(&id);
            next
        });
        self.count
            .store(self.routes.load().len(), Ordering::Relaxed);
    }

    /// Whether more than one keyspace is open (with one, the bound on all
    /// memtables is the one keyspace's own backpressure's business).
    #[inline]
    pub(crate) fn is_shared(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 1
    }

    /// The memtable set of keyspace `id`, when it is open.
    pub(crate) fn memtables(&self, id: KeyspaceId) -> Option<Arc<Memtables>> {
        self.routes
            .load()
            .get(&id)
            .map(|route| Arc::clone(&route.memtables))
    }

    /// Deletes the WAL segments in `wal_dir` no keyspace needs any more,
    /// given that the caller flushed everything of its keyspace below
    /// `flushed_to` (see [`Self::obsolete_below`]).
    pub(crate) fn delete_obsolete_segments(
        &self,
        fs: &dyn FileSystem,
        wal_dir: &Path,
        flushed_to: u64,
    ) -> Result<()> {
        let _one_at_a_time = self.deleting.lock();
        delete_segments_before(fs, wal_dir, self.obsolete_below(flushed_to))?;
        Ok(())
    }

    /// When the sealed WAL segments in `wal_dir` (all but the one being
    /// written, whose file is preallocated ahead) total more than
    /// `bound_bytes`,
    /// asks every keyspace that still needs the oldest one to flush (its
    /// flush moves its log number past it). Returns how many were asked.
    pub(crate) fn bound_wal(
        &self,
        fs: &dyn FileSystem,
        wal_dir: &Path,
        bound_bytes: u64,
    ) -> Result<usize> {
        let segments = list_segments(fs, wal_dir)?;
        let Some(&oldest) = segments.first() else {
            return Ok(0);
        };
        let sealed = &segments[..segments.len() - 1];
        let mut total_bytes = 0;
        for &number in sealed {
            let path = segment_path(wal_dir, number);
            // A segment deleted meanwhile by a flush counts nothing.
            total_bytes += fs.file_size(&path).unwrap_or(0);
        }
        if total_bytes <= bound_bytes {
            return Ok(0);
        }
        let pinning: Vec<Weak<dyn FlushRequest>> = self
            .routes
            .load()
            .values()
            .filter(|route| route.oldest_needed_segment().is_some_and(|s| s <= oldest))
            .map(|route| Weak::clone(&route.flusher))
            .collect();
        tracing::debug!(
            total_bytes,
            bound_bytes,
            oldest,
            pinning = pinning.len(),
            "WAL past its bound"
        );
        for flusher in &pinning {
            if let Some(flusher) = flusher.upgrade() {
                flusher.request_flush()?;
            }
        }
        Ok(pinning.len())
    }

    /// Accounted bytes of every open keyspace's memtables, active and
    /// immutable (what [`DBOptions::max_total_memtable_bytes`](crate::DBOptions::max_total_memtable_bytes)
    /// bounds).
    pub(crate) fn memtable_bytes(&self) -> u64 {
        self.routes
            .load()
            .values()
            .map(|route| route.memtables.memory_bytes())
            .sum()
    }

    /// When the active memtables of every open keyspace together hold at
    /// least half of `bound_bytes`, asks the keyspace with the largest one
    /// to switch it (and so flush it). Returns whether one was asked.
    pub(crate) fn bound_memtables(&self, bound_bytes: u64) -> Result<bool> {
        if !self.is_shared() {
            // One keyspace switches at its own capacity, at most half the
            // bound (validated).
            return Ok(false);
        }
        let routes = self.routes.load();
        let mut active_bytes = 0_u64;
        let mut largest: Option<(u64, &Route)> = None;
        for route in routes.values() {
            let bytes = route.memtables.active().approximate_memory_bytes() as u64;
            active_bytes += bytes;
            if largest.is_none_or(|(most, _)| bytes > most) {
                largest = Some((bytes, route));
            }
        }
        if active_bytes.saturating_mul(2) < bound_bytes {
            return Ok(false);
        }
        let Some(flusher) = largest.and_then(|(_, route)| route.flusher.upgrade()) else {
            return Ok(false);
        };
        tracing::debug!(active_bytes, bound_bytes, "memtables past half their bound");
        flusher.request_flush()?;
        Ok(true)
    }

    /// The number below which every WAL segment is obsolete, given that
    /// the caller has flushed everything of its keyspace below `flushed_to`:
    /// the smallest of `flushed_to` and every keyspace's oldest needed
    /// segment.
    fn obsolete_below(&self, flushed_to: u64) -> u64 {
        self.routes
            .load()
            .values()
            .filter_map(Route::oldest_needed_segment)
            .fold(flushed_to, u64::min)
    }
}

/// The pipeline's [`Apply`]: inserts each committed group into the active
/// memtable (an op of a named keyspace into that keyspace's, through the
/// [`KeyspaceRoutes`]; one of a keyspace dropped meanwhile nowhere), and
/// turns the database read-only the moment the log is poisoned (a failed
/// interval sync included, which no writer waits for).
#[derive(Debug)]
pub(crate) struct MemtableApplier {
    /// The set whose active memtable receives the groups.
    pub memtables: Arc<Memtables>,
    /// The memtable sets of the named keyspaces.
    pub routes: Arc<KeyspaceRoutes>,
    /// The database's health, told of a poisoned log.
    pub health: Arc<HealthState>,
}

impl Apply for MemtableApplier {
    type Error = Error;

    fn apply(&self, group: &[Sequenced]) -> Result<(), Error> {
        let active = self.memtables.active();
        for sequenced in group {
            insert_record(sequenced.seq, &sequenced.record, |id, seq, ops| match id {
                DEFAULT_KEYSPACE => insert_ops(&active, seq, ops),
                id => match self.routes.memtables(id) {
                    Some(memtables) => insert_ops(&memtables.active(), seq, ops),
                    None => Ok(()),
                },
            })?;
        }
        Ok(())
    }

    fn poisoned(&self, cause: &WalError) {
        self.health.set_read_only(Error::from(cause.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use seer_core::fault::FaultFileSystem;
    use seer_wal::{CommitPipeline, WalOptions, WriteOp, WriteOptions, WriteRecord};

    use super::*;

    /// The applier's own error crosses the pipeline's `Apply` boundary
    /// typed: the writer gets back the `Error` the applier returned (here
    /// an insert into a frozen memtable), not a string or a background
    /// failure.
    #[test]
    fn a_failed_apply_reaches_the_writer_as_the_appliers_own_error() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let memtables = Arc::new(Memtables::new(1, 1 << 20, Vec::new()));
        memtables.active().freeze();
        let applier = MemtableApplier {
            memtables,
            routes: Arc::default(),
            health: Arc::new(HealthState::default()),
        };
        let wal = CommitPipeline::open(
            Arc::new(fs),
            Path::new("/db"),
            1,
            0,
            WalOptions::default(),
            applier,
        )
        .unwrap();
        let put = WriteOp::Put {
            key: "k".into(),
            value: "v".into(),
        };
        let error = Error::from(
            wal.write(WriteRecord::Single(put), WriteOptions::default())
                .unwrap_err(),
        );
        assert!(
            matches!(&error, Error::Internal { layer: "memtable", reason }
                if reason.contains("frozen")),
            "{error}"
        );
    }
}
