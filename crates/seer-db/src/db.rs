//! [`DB`], the handle users hold, and [`DbInner`], the state every handle,
//! iterator, snapshot and background thread shares: options, directory
//! lock, memtables, commit pipeline, tree, snapshot registry, background
//! jobs, backpressure, health and metrics.

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use seer_core::{SeqNo, SharedFileSystem};
use seer_sstable::{BlockCache, Table};
use seer_wal::{CommitPipeline, WriteOptions};

use crate::background::Jobs;
use crate::backpressure::Backpressure;
use crate::batch::Batch;
use crate::dir::DbDir;
use crate::error::{Error, Result};
use crate::health::{Health, HealthState};
use crate::lifecycle::Lifecycle;
use crate::memtables::{MemtableApplier, Memtables};
use crate::metrics::{Metrics, Op};
use crate::options::DBOptions;
use crate::report::MetricsSnapshot;
use crate::snapshot_registry::{DbSnapshots, SnapshotRegistry};
use crate::tree::TreeSet;
use seer_compaction::TableMeta;

/// An open database. Cheap to clone (all clones share one engine); `Send`
/// and `Sync`. The engine closes when [`DB::close`] is called or when the
/// last clone is dropped: the work in flight (writes, `flush`,
/// `compact_range` in other threads, background flushes and compactions)
/// stops at its next safe point and fails with [`Error::Closed`], the WAL is
/// synced, the background threads are joined and, last, the directory lock
/// is released; once that returns the instance does no more I/O in the
/// directory, which can be reopened at once. What was not flushed is in the
/// WAL. Iterators and snapshots still alive keep reading what they pinned
/// (their memtables and open tables, even after a reopen deleted the
/// files); snapshot reads, new iterators and everything else fail with
/// [`Error::Closed`].
#[derive(Clone)]
pub struct DB {
    pub(crate) inner: Arc<DbInner>,
    _owner: Arc<CloseOnLastHandle>,
}

/// Shared by every clone of a [`DB`] (and by nothing else, in particular not
/// by background threads), so its drop runs on the thread that drops the last
/// user handle.
struct CloseOnLastHandle(Arc<DbInner>);

impl Drop for CloseOnLastHandle {
    fn drop(&mut self) {
        if let Err(error) = self.0.close() {
            tracing::warn!(%error, "closing the database on drop failed");
        }
    }
}

impl std::fmt::Debug for DB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DB")
            .field("path", &self.inner.dir.path())
            .field("visible_seq", &self.inner.visible_seq())
            .finish_non_exhaustive()
    }
}

/// The engine's shared state.
pub(crate) struct DbInner {
    pub(crate) options: DBOptions,
    pub(crate) dir: DbDir,
    pub(crate) fs: SharedFileSystem,
    pub(crate) memtables: Arc<Memtables>,
    pub(crate) pipeline: CommitPipeline<MemtableApplier>,
    pub(crate) tree: TreeSet,
    pub(crate) block_cache: Option<Arc<BlockCache>>,
    pub(crate) snapshots: SnapshotRegistry,
    pub(crate) jobs: Jobs,
    pub(crate) backpressure: Backpressure,
    pub(crate) health: Arc<HealthState>,
    pub(crate) metrics: Metrics,
    /// Serialises memtable switches (rare; never taken by plain writes).
    pub(crate) switch_lock: Mutex<()>,
    /// Held shared by plain writes and exclusively by validated
    /// (transaction) writes, so nothing is sequenced between a
    /// transaction's validation and its write.
    pub(crate) commit_gate: RwLock<()>,
    /// Open or closed, and the gate every piece of I/O work passes.
    pub(crate) lifecycle: Lifecycle,
}

impl DB {
    /// Opens (or creates) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path.as_ref(), DBOptions::default())
    }

    /// Opens (or creates) the database at `path` with `options`.
    pub fn open_with(path: &Path, options: DBOptions) -> Result<Self> {
        let inner = crate::recovery::open(path, options)?;
        crate::background::start(&inner)?;
        let owner = Arc::new(CloseOnLastHandle(Arc::clone(&inner)));
        Ok(Self {
            inner,
            _owner: owner,
        })
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.inner
            .put(key.as_ref(), value.as_ref(), WriteOptions::default())?;
        Ok(())
    }

    /// The value of `key`, or `None` when it is absent or deleted.
    ///
    /// A value read from a table is a zero-copy slice of the table's memory
    /// map (or of its cached block): keeping it after a compaction deleted
    /// the table keeps the table's disk space until the value is dropped.
    /// Copy what you keep long, or open with
    /// [`DBOptions::owned_values`](crate::DBOptions::owned_values).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(key.as_ref())
    }

    /// Deletes `key` (deleting an absent key is not an error).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.inner.delete(key.as_ref(), WriteOptions::default())?;
        Ok(())
    }

    /// Adds a merge operand to `key`, resolved on read by the configured
    /// merge operator.
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        self.inner
            .merge(key.as_ref(), operand.as_ref(), WriteOptions::default())?;
        Ok(())
    }

    /// The values of `keys`, in order, all read at one sequence number from
    /// one view of the database (values shared with the tables as
    /// [`DB::get`] says).
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.inner.multi_get(keys)
    }

    /// Applies `batch` atomically; returns its first sequence number (an
    /// empty batch writes nothing and returns the visible sequence number).
    pub fn write(&self, batch: Batch, options: WriteOptions) -> Result<SeqNo> {
        self.inner.write_owned_batch(batch, options)
    }

    /// Sets `key` to `value` with per-write options.
    pub fn put_opt(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        options: WriteOptions,
    ) -> Result<SeqNo> {
        self.inner.put(key.as_ref(), value.as_ref(), options)
    }

    /// An empty batch.
    pub fn batch(&self) -> Batch {
        Batch::new()
    }

    /// An empty batch with room for `capacity` operations.
    pub fn batch_with_capacity(&self, capacity: usize) -> Batch {
        Batch::with_capacity(capacity)
    }

    /// Makes every write so far durable in a table: switches the memtable
    /// and waits until every memtable holding a write made before the call
    /// is flushed.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Compacts the user keys in `range` (everything for `..`) as they are
    /// at the call down into one run of the largest level, waiting until it
    /// is done (data written meanwhile is not waited for).
    pub fn compact_range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<()> {
        let start = bound_bytes(range.start_bound());
        let end = bound_bytes(range.end_bound());
        self.inner.compact_range(start, end)
    }

    /// Closes the engine (see [`DB`]): stops the work in flight at its next
    /// safe point, syncs the WAL, joins the background threads, releases
    /// the directory lock, and reports the first failure seen. Later
    /// operations fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// Counters, latency percentiles and amplification figures.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics_snapshot()
    }

    /// [`DB::metrics`] and the tree's shape as readable text.
    pub fn stats(&self) -> String {
        self.inner.stats_text()
    }

    /// Whether the database takes writes, and what (if anything) slows or
    /// stops them.
    pub fn health(&self) -> Health {
        self.inner.health()
    }

    /// The newest sequence number visible to reads.
    pub fn visible_seq(&self) -> SeqNo {
        self.inner.visible_seq()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        self.inner.dir.path()
    }
}

/// The user key of a bound, owned, for manual compaction (`None` when
/// unbounded).
fn bound_bytes<K: AsRef<[u8]>>(bound: std::ops::Bound<&K>) -> Option<Bytes> {
    match bound {
        std::ops::Bound::Included(key) | std::ops::Bound::Excluded(key) => {
            Some(Bytes::copy_from_slice(key.as_ref()))
        }
        std::ops::Bound::Unbounded => None,
    }
}

impl DbInner {
    /// The options the database was opened with.
    pub(crate) fn options(&self) -> &DBOptions {
        &self.options
    }

    /// The memtable set.
    pub(crate) fn memtables(&self) -> &Memtables {
        &self.memtables
    }

    /// The on-disk tree.
    pub(crate) fn tree(&self) -> &TreeSet {
        &self.tree
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The live snapshot registry, bound to the visible sequence number.
    pub(crate) fn snapshots(&self) -> DbSnapshots<'_> {
        DbSnapshots::new(&self.snapshots, self)
    }

    /// Opens the file of table `meta`: the fallback of a reader whose
    /// pinned tree lacks it (every tree holds the open tables of its
    /// version, see [`TreeSet`]). It is I/O, so it fails with
    /// [`Error::Closed`] once closed.
    pub(crate) fn table(&self, meta: &TableMeta) -> Result<Arc<Table>> {
        let _active = self.lifecycle.enter()?;
        self.tree.open_table_file(meta)
    }

    /// The newest sequence number whose whole group is applied.
    #[inline]
    pub(crate) fn visible_seq(&self) -> SeqNo {
        self.pipeline.visible_seq()
    }

    /// Fails with [`Error::Closed`] once closed.
    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.lifecycle.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The value of `key` at the visible sequence number, read from one
    /// pinned view (see [`crate::read`]).
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.check_open()?;
        let timer = self.metrics.start(Op::Get);
        let value = self.get_latest(key)?;
        self.metrics.finish(timer);
        Ok(value)
    }

    /// The values of `keys`, all read from one pinned view at one sequence
    /// number (see [`crate::read`]).
    pub(crate) fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let timer = self.metrics.start(Op::MultiGet);
        let values = self.multi_get_latest(keys)?;
        self.metrics.finish(timer);
        Ok(values)
    }

    /// Health: read-only cause, stall state, queue lengths.
    pub(crate) fn health(&self) -> Health {
        self.health.report(self)
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        if !self.lifecycle.is_closed() {
            if let Err(error) = self.close() {
                tracing::warn!(%error, "closing the database on drop failed");
            }
        }
    }
}
