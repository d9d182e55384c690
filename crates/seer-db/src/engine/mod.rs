//! The engine behind every [`DB`](crate::DB) handle: its parts, owned here
//! and lent to the code that uses them, each part only what it reads.
//!
//! - the write path ([`write`](mod@write)): validation, admission by
//!   [`Backpressure`] (which gets the memtable set, the jobs and its
//!   options), the commit pipeline, the commit gate and memtable switches;
//! - point reads and read views ([`read`]), which iterators, snapshots and
//!   transactions start from;
//! - the background jobs, which see the engine through a [`JobContext`]
//!   (never the write path);
//! - opening (from what [`crate::recovery`] recovered), `flush`,
//!   `compact_range`, `close`, health and the metrics report;
//! - a read-only open: the same engine with no commit pipeline
//!   ([`Pipeline::ReadOnly`]), no background threads and every write
//!   refused with [`Error::OpenedReadOnly`]; [`Engine::try_catch_up`] swaps
//!   in a newer load of the directory.
//!
//! - named keyspaces ([`keyspaces`](mod@keyspaces)): each is an engine of
//!   its own (memtables, tree, background jobs, options) sharing the
//!   database's commit pipeline, snapshot registry, health and WAL.
//!
//! The fields are private to this module and its children; the rest of the
//! crate reaches the engine only through the methods below.

mod keyspaces;
mod read;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use seer_compaction::TableMeta;
use seer_core::{SeqNo, SharedFileSystem};
use seer_sstable::{BlockCache, Table};
use seer_wal::{CommitPipeline, SyncPolicy, WalOptions};

use crate::background::{self, JobContext, Jobs};
use crate::backpressure::Backpressure;
use crate::dir::DbDir;
use crate::error::{Error, Result};
use crate::health::{Health, HealthState, HealthStatus};
use crate::keyspace_routes::{KeyspaceRoutes, MemtableApplier, Route};
use crate::lifecycle::Lifecycle;
use crate::memtables::{Frozen, Memtables};
use crate::metrics::{Metrics, Op};
use crate::options::DBOptions;
use crate::recovery::{load_read_only, recover, recover_read_only, Recovered, RecoveredReadOnly};
use crate::report::{KeyspaceInputs, MetricsSnapshot, ReportInputs};
use crate::snapshot_registry::{LiveSnapshots, SnapshotRegistry};
use crate::tree::{OpenVersion, OpenVersionSet};
use crate::verify::{verify, VerifyReport};

use crate::pipeline::Pipeline;
use keyspaces::KeyspaceSet;
pub(crate) use read::{live_now, NewestFirstFold, PinnedView, ReadView};

/// What every keyspace's engine shares with the database's (the default
/// keyspace's) engine.
struct Shared {
    snapshots: Arc<SnapshotRegistry>,
    routes: Arc<KeyspaceRoutes>,
    health: Arc<HealthState>,
    /// The database directory, which holds the WAL.
    wal_dir: PathBuf,
    /// The database's commit gate.
    commit_gate: Arc<RwLock<()>>,
    /// The database's memtable switch lock.
    switch_lock: Arc<Mutex<()>>,
}

/// The engine's shared state.
pub(crate) struct Engine {
    options: DBOptions,
    dir: DbDir,
    fs: SharedFileSystem,
    memtables: Arc<Memtables>,
    pipeline: Pipeline,
    tree: Arc<OpenVersionSet>,
    block_cache: Option<Arc<BlockCache>>,
    snapshots: Arc<SnapshotRegistry>,
    /// Every open keyspace's memtables and tree (shared by all keyspaces).
    routes: Arc<KeyspaceRoutes>,
    /// The database directory, which holds the WAL.
    wal_dir: PathBuf,
    /// The named keyspaces (the default keyspace's engine only).
    keyspaces: KeyspaceSet,
    /// Set on a named keyspace's engine when the keyspace is dropped: its
    /// files are deleted when the engine goes.
    dropped: std::sync::atomic::AtomicBool,
    jobs: Jobs,
    backpressure: Backpressure,
    health: Arc<HealthState>,
    metrics: Metrics,
    /// Serialises memtable switches (rare; never taken by plain writes);
    /// one for the whole database, as every keyspace's switch rolls the
    /// one WAL to the spare segment (two at once would both take it).
    switch_lock: Arc<Mutex<()>>,
    /// Held shared by plain writes and exclusively by validated
    /// (transaction) writes, so nothing is sequenced between a
    /// transaction's validation and its write; one for the whole database
    /// (every keyspace's engine shares it, as a transaction spans them).
    commit_gate: Arc<RwLock<()>>,
    /// Open or closed, and the gate every piece of I/O work passes.
    lifecycle: Lifecycle,
}

impl Engine {
    /// Recovers the database at `path`, opens the engine on it and starts
    /// its background threads.
    pub(crate) fn open(path: &Path, options: DBOptions) -> Result<Arc<Self>> {
        let Recovered {
            dir,
            block_cache,
            tree,
            recorded_policy,
            last_seq,
            wal_segment,
            keyspaces,
        } = recover(path, &options)?;
        let fs = Arc::clone(&options.file_system);
        let memtables = Arc::new(Memtables::new(
            options.memtable_partitions,
            options.memtable_capacity_bytes,
            Vec::new(),
        ));
        let health = Arc::new(HealthState::default());
        let routes = Arc::new(KeyspaceRoutes::default());
        let applier = MemtableApplier {
            memtables: Arc::clone(&memtables),
            routes: Arc::clone(&routes),
            health: Arc::clone(&health),
        };
        let wal_options = WalOptions {
            sync_policy: options.sync_policy,
            ..WalOptions::default()
        };
        let pipeline = CommitPipeline::open(
            Arc::clone(&fs),
            path,
            wal_segment,
            last_seq,
            wal_options,
            applier,
        )?;
        // The first roll's spare, created before the open returns (so the
        // directory holds no file still being made).
        pipeline.prepare_segment(tree.new_file_number())?;
        pipeline.wait_for_spare()?;
        tracing::info!(path = %path.display(), last_seq, segment = wal_segment, "database opened");
        let tree = Arc::new(tree);
        let shared = Shared {
            snapshots: Arc::default(),
            routes: Arc::clone(&routes),
            commit_gate: Arc::default(),
            switch_lock: Arc::default(),
            health,
            wal_dir: path.to_owned(),
        };
        let engine = Self::assemble(
            options,
            dir,
            Arc::clone(&memtables),
            Pipeline::Writable(Arc::new(pipeline)),
            Arc::clone(&tree),
            block_cache,
            shared,
            recorded_policy,
            KeyspaceSet::recovered(keyspaces),
        );
        let flusher: std::sync::Weak<Self> = Arc::downgrade(&engine);
        routes.insert(
            seer_wal::DEFAULT_KEYSPACE,
            Route {
                memtables,
                tree,
                flusher,
            },
        );
        background::start(&engine, Self::job_context)?;
        Ok(engine)
    }

    /// Opens the database at `path` read-only (see [`crate::recovery`]):
    /// no lock, no byte written, no background thread; the replayed WAL
    /// stays in memory as immutable memtables.
    pub(crate) fn open_read_only(path: &Path, mut options: DBOptions) -> Result<Arc<Self>> {
        // Nothing is logged, so nothing is synced.
        options.sync_policy = SyncPolicy::Never;
        let RecoveredReadOnly {
            dir,
            block_cache,
            tree,
            immutables,
            recorded_policy,
            last_seq,
            keyspaces,
        } = recover_read_only(path, &options)?;
        let memtables = Arc::new(Memtables::new(
            options.memtable_partitions,
            options.memtable_capacity_bytes,
            immutables,
        ));
        tracing::info!(path = %path.display(), last_seq, "database opened read-only");
        Ok(Self::assemble(
            options,
            dir,
            memtables,
            Pipeline::ReadOnly {
                visible_seq: AtomicU64::new(last_seq),
                id: seer_wal::DEFAULT_KEYSPACE,
            },
            Arc::new(tree),
            block_cache,
            Shared {
                snapshots: Arc::default(),
                routes: Arc::default(),
                commit_gate: Arc::default(),
                switch_lock: Arc::default(),
                health: Arc::new(HealthState::default()),
                wal_dir: path.to_owned(),
            },
            Some(recorded_policy),
            KeyspaceSet::recovered(keyspaces),
        ))
    }

    /// The engine of its parts.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        options: DBOptions,
        dir: DbDir,
        memtables: Arc<Memtables>,
        pipeline: Pipeline,
        tree: Arc<OpenVersionSet>,
        block_cache: Option<Arc<BlockCache>>,
        shared: Shared,
        recorded_policy: Option<seer_compaction::PolicyParams>,
        keyspaces: KeyspaceSet,
    ) -> Arc<Self> {
        let fs = Arc::clone(&options.file_system);
        Arc::new(Self {
            jobs: Jobs::new(&options, recorded_policy),
            backpressure: Backpressure::new(
                &options,
                Arc::clone(&memtables),
                Arc::clone(&shared.routes),
                Arc::clone(&fs),
                dir.path(),
            ),
            metrics: Metrics::new(options.disable_metrics),
            options,
            dir,
            fs,
            memtables,
            pipeline,
            tree,
            block_cache,
            snapshots: shared.snapshots,
            routes: shared.routes,
            wal_dir: shared.wal_dir,
            keyspaces,
            dropped: std::sync::atomic::AtomicBool::new(false),
            health: shared.health,
            switch_lock: shared.switch_lock,
            commit_gate: shared.commit_gate,
            lifecycle: Lifecycle::default(),
        })
    }

    /// Fails with [`Error::OpenedReadOnly`] on a read-only open: the write
    /// APIs call it first.
    #[inline]
    pub(crate) fn refuse_read_only(&self) -> Result<()> {
        if self.pipeline.is_read_only() {
            return Err(Error::OpenedReadOnly);
        }
        Ok(())
    }

    /// Moves a read-only open to the writer's newer state: loads the
    /// manifest, its tables (reusing the ones already open, which stay
    /// readable after the writer deleted their files) and the WAL beyond
    /// it again, then swaps the tree, the replayed memtables and the
    /// visible sequence number in together (readers load all three as of
    /// one state), in every named keyspace (those opened and those not yet)
    /// and then in the default one. A failed load changes nothing. Fails
    /// with [`Error::InvalidArgument`] on a writable open.
    pub(crate) fn try_catch_up(&self) -> Result<()> {
        let _active = self.lifecycle.enter()?;
        if !self.pipeline.is_read_only() {
            return Err(Error::invalid(
                "try_catch_up is for read-only opens (DB::open_read_only)",
            ));
        }
        let _one_at_a_time = self.switch_lock.lock();
        let mut current = self.keyspaces.current_versions();
        current.insert(
            seer_wal::DEFAULT_KEYSPACE,
            arc_swap::Guard::into_inner(self.tree.current()),
        );
        let state = load_read_only(
            self.dir.path(),
            &self.options,
            self.block_cache.as_ref(),
            &|id| current.get(&id).cloned(),
        )?;
        drop(current);
        // The named keyspaces first: a snapshot taken meanwhile reads them
        // at the default keyspace's older sequence number, which their
        // newer state holds.
        self.keyspaces.catch_up(
            state.keyspaces,
            state.last_seq,
            &self.fs,
            &self.wal_dir,
            self.block_cache.as_ref(),
        )?;
        self.swap_in(state.open_version, state.immutables, state.last_seq);
        tracing::info!(last_seq = state.last_seq, "read-only open caught up");
        Ok(())
    }

    /// Swaps a read-only load's tree, replayed memtables and visible
    /// sequence number in together (see [`Engine::try_catch_up`]).
    fn swap_in(&self, open_version: OpenVersion, immutables: Vec<Frozen>, last_seq: SeqNo) {
        self.memtables.changing(|| {
            self.pipeline.catch_up_to(last_seq);
            self.tree.replace_current(open_version);
            self.memtables.replace_immutables(immutables);
        });
    }

    /// What a background job uses of the engine, lent for one step.
    pub(crate) fn job_context(&self) -> JobContext<'_> {
        JobContext {
            options: &self.options,
            dir: &self.dir,
            fs: &self.fs,
            block_cache: &self.block_cache,
            memtables: &self.memtables,
            tree: &self.tree,
            routes: &self.routes,
            wal_dir: &self.wal_dir,
            snapshots: self.snapshots(),
            jobs: &self.jobs,
            health: &self.health,
            metrics: &self.metrics,
            lifecycle: &self.lifecycle,
            wal: self.pipeline.shared(),
        }
    }

    /// The database directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The options the database was opened with.
    pub(crate) fn options(&self) -> &DBOptions {
        &self.options
    }

    /// The memtable set.
    pub(crate) fn memtables(&self) -> &Memtables {
        &self.memtables
    }

    /// The on-disk tree.
    pub(crate) fn tree(&self) -> &OpenVersionSet {
        &self.tree
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The background jobs (tests stop them to drive flushes by hand).
    #[cfg(test)]
    pub(crate) fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The file system.
    #[cfg(test)]
    pub(crate) fn fs(&self) -> &SharedFileSystem {
        &self.fs
    }

    /// The live snapshot registry, bound to the visible sequence number.
    pub(crate) fn snapshots(&self) -> LiveSnapshots<'_> {
        LiveSnapshots::new(&self.snapshots, &self.pipeline)
    }

    /// Opens the file of table `meta`: the fallback of a reader whose
    /// pinned version lacks it (every [`OpenVersion`]
    /// holds the open tables of its version). It is I/O, so it fails with
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
        self.lifecycle.check_open()
    }

    /// The value of `key` at the visible sequence number, read from one
    /// pinned view (see [`read`]).
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.check_open()?;
        let timer = self.metrics.start(Op::Get);
        let value = self.get_latest(key)?;
        self.metrics.finish(timer);
        Ok(value)
    }

    /// The values of `keys`, all read from one pinned view at one sequence
    /// number (see [`read`]).
    pub(crate) fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let timer = self.metrics.start(Op::MultiGet);
        let values = self.multi_get_latest(keys)?;
        self.metrics.finish(timer);
        Ok(values)
    }

    /// Health: read-only cause, stall state, queue lengths.
    pub(crate) fn health(&self) -> Health {
        let closed = self.check_open().is_err();
        let read_only = self.pipeline.is_read_only();
        // A closed engine checks no free disk space (no more I/O), and a
        // read-only one takes no writes to stall.
        let stall = if closed || read_only {
            None
        } else {
            self.backpressure.condition(&self.tree)
        };
        let status = if read_only && !closed {
            HealthStatus::ReadOnly(Error::OpenedReadOnly)
        } else {
            self.health.status(closed, stall.is_some())
        };
        Health {
            status,
            write_stall: stall.map(|s| s.to_string()),
            stalled_writers: self.backpressure.stalled_writers(),
            immutable_memtables: self.memtables.immutables().len(),
            l0_runs: self.tree.current().l0_runs(),
            live_snapshots: self.snapshots().live_count(),
        }
    }

    /// This keyspace's counters, latency percentiles and amplification
    /// figures (see [`ReportInputs`] for the figures it shares with the
    /// others).
    pub(crate) fn metrics_snapshot(&self) -> MetricsSnapshot {
        let tree = self.tree.current();
        MetricsSnapshot::gather(ReportInputs {
            keyspaces: vec![self.report_inputs(&tree)],
            block_cache: self.block_cache.as_deref(),
            policy: self.jobs.compaction.policy(),
            visible_seq: self.visible_seq(),
        })
    }

    /// The figures of the whole database: this (the default) keyspace's
    /// summed with every named keyspace's, those recovered but not opened in
    /// this handle included (their trees; they have no counters yet).
    pub(crate) fn metrics_snapshot_all(&self) -> MetricsSnapshot {
        let opened = self.keyspaces.opened();
        let recovered: Vec<_> = self
            .keyspaces
            .recovered_trees(&self.wal_dir)
            .iter()
            .map(|keyspace| keyspace.tree.current())
            .collect();
        let own = self.tree.current();
        let trees: Vec<_> = opened.iter().map(|(_, k)| k.tree.current()).collect();
        let mut keyspaces = vec![self.report_inputs(&own)];
        keyspaces.extend(
            opened
                .iter()
                .zip(&trees)
                .map(|((_, keyspace), tree)| keyspace.report_inputs(tree)),
        );
        keyspaces.extend(recovered.iter().map(|tree| KeyspaceInputs {
            metrics: None,
            tree,
            memtables: None,
        }));
        MetricsSnapshot::gather(ReportInputs {
            keyspaces,
            block_cache: self.block_cache.as_deref(),
            policy: self.jobs.compaction.policy(),
            visible_seq: self.visible_seq(),
        })
    }

    /// This engine's part of a report, over its current version `tree`.
    fn report_inputs<'a>(&'a self, tree: &'a OpenVersion) -> KeyspaceInputs<'a> {
        KeyspaceInputs {
            metrics: Some(&self.metrics),
            tree,
            memtables: Some(&self.memtables),
        }
    }

    /// The metrics and the tree's shape as readable text: this keyspace's
    /// own ([`Engine::metrics_snapshot`]).
    pub(crate) fn stats_text(&self) -> String {
        self.metrics_snapshot().to_text(self.dir.path())
    }

    /// The whole database's figures as text ([`Engine::metrics_snapshot_all`]),
    /// then each named keyspace's own.
    pub(crate) fn stats_text_all(&self) -> String {
        let mut text = self.metrics_snapshot_all().to_text(self.dir.path());
        for (name, keyspace) in self.keyspaces.opened() {
            text.push_str(&format!("\n** keyspace {name} **\n"));
            text.push_str(&keyspace.stats_text());
        }
        for keyspace in self.keyspaces.recovered_trees(&self.wal_dir) {
            let name = &keyspace.name;
            text.push_str(&format!("\n** keyspace {name} (not opened) **\n"));
            let report = MetricsSnapshot::gather(ReportInputs {
                keyspaces: vec![KeyspaceInputs {
                    metrics: None,
                    tree: &keyspace.tree.current(),
                    memtables: None,
                }],
                block_cache: self.block_cache.as_deref(),
                policy: (
                    keyspace.tree.versions().policy(),
                    "recorded in its manifest".to_owned(),
                ),
                visible_seq: self.visible_seq(),
            });
            text.push_str(&report.to_text(&keyspace.dir));
        }
        text
    }

    /// Reads every live file back and checks its checksums (see
    /// [`crate::verify`]), inside the lifecycle gate.
    pub(crate) fn verify(&self) -> Result<VerifyReport> {
        let _active = self.lifecycle.enter()?;
        verify(self.fs.as_ref(), self.dir.path(), &self.tree)
    }

    /// Runs `ingest` with every write held off (the commit gate held
    /// exclusively, inside the lifecycle gate), giving it the sequence
    /// number the next write would have got; then publishes that number and
    /// moves the pipeline past it, so every later write gets a larger one,
    /// even when `ingest` failed (its edit may be durable after a failed
    /// manifest write; a skipped number is harmless). The one entry of bulk
    /// loads ([`crate::ingest`]).
    pub(crate) fn with_writes_held<T>(&self, ingest: impl FnOnce(SeqNo) -> Result<T>) -> Result<T> {
        self.refuse_read_only()?;
        let _active = self.lifecycle.enter()?;
        self.health.check_writable()?;
        let _exclusive = self.commit_gate.write();
        // Every write holds the gate shared until its group is visible, so
        // none is in flight now.
        let seq = self.visible_seq() + 1;
        let outcome = ingest(seq);
        self.pipeline.advance_past(seq);
        outcome
    }

    /// Switches a non-empty memtable and waits until every memtable
    /// holding a write made before the call is flushed (or a failure or
    /// close makes that impossible). Memtables switched later, by
    /// concurrent writes, are not waited for.
    pub(crate) fn flush(&self) -> Result<()> {
        self.refuse_read_only()?;
        let waited_for: Vec<Arc<seer_memtable::Memtable>> = {
            let _active = self.lifecycle.enter()?;
            self.health.check_writable()?;
            self.switch_memtable(true)?;
            self.memtables()
                .immutables()
                .iter()
                .map(|frozen| Arc::clone(&frozen.memtable))
                .collect()
        };
        self.jobs.wake_flush();
        loop {
            let generation = self.jobs.progress_generation();
            self.health.check_writable()?;
            self.check_open()?;
            let immutables = self.memtables().immutables();
            let pending = waited_for.iter().any(|memtable| {
                immutables
                    .iter()
                    .any(|frozen| Arc::ptr_eq(&frozen.memtable, memtable))
            });
            if !pending {
                return Ok(());
            }
            drop(immutables);
            let deadline = Instant::now() + self.options().write_stall_timeout;
            self.jobs.wait_progress(generation, deadline);
        }
    }

    /// Flushes, then compacts `[start, end]` as it is at the call into the
    /// largest level.
    pub(crate) fn compact_range(&self, start: Option<Bytes>, end: Option<Bytes>) -> Result<()> {
        self.refuse_read_only()?;
        // Everything visible now is in a table once `flush` returns; later
        // flushes hold only newer sequence numbers.
        let start_seq = self.visible_seq();
        self.flush()?;
        background::compact_range(&self.job_context(), start, end, start_seq)
    }

    /// Closes the engine: marks it closed (new work fails with
    /// [`Error::Closed`]), wakes waiting work and waits until the work in
    /// flight left the lifecycle gate at its next safe point (the flush
    /// thread finishes the flush it is in, compactions are abandoned; what
    /// is not flushed stays in the WAL), stops the WAL syncer, syncs the
    /// WAL and cuts its segment's unused reservation off, joins the
    /// background threads, deletes unreferenced tables, and only then
    /// releases the directory lock. Reports the first failure seen.
    pub(crate) fn close(&self) -> Result<()> {
        if !self.lifecycle.begin_close() {
            return Ok(());
        }
        let span = tracing::info_span!("close", path = %self.dir.path().display());
        let _entered = span.enter();
        // The keyspaces first: their work in flight writes through the
        // pipeline, which closes last.
        let keyspaces = self.keyspaces.close_all();
        self.jobs.announce_progress();
        self.lifecycle.wait_drained();
        self.pipeline.stop_syncer();
        let sync = if self.health.cause().is_none() {
            self.pipeline.sync_and_trim().map_err(Error::from)
        } else {
            Ok(())
        };
        self.jobs.stop();
        let cleanup = self.tree().delete_unreferenced().map(|_| ());
        self.dir.unlock();
        if let Some(cause) = self.health.cause() {
            return Err(Error::clone(&cause));
        }
        keyspaces.and(sync).and(cleanup)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.lifecycle.is_closed() {
            if let Err(error) = self.close() {
                tracing::warn!(%error, "closing the database on drop failed");
            }
        }
        if self.dropped.load(Ordering::Acquire) {
            // The last reader of a dropped keyspace went.
            if let Err(error) = crate::dir::remove_files_in(self.fs.as_ref(), self.dir.path()) {
                tracing::warn!(%error, "deleting a dropped keyspace's files failed; the next open deletes them");
            }
        }
    }
}
