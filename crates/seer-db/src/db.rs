//! The public API in one place (as LevelDB's `include/leveldb/db.h`):
//! [`DB`], the handle users hold, and every operation on it, each a short
//! delegation to the [engine](crate::engine) or to the type it returns
//! ([`Snapshot`], [`Transaction`], the iterators); also
//! [`DBOptions::open`]. The methods of those types live with them.
//!
//! A database opens writable ([`DB::open`], [`DB::open_with`]: the
//! directory locked, recovery writing its fresh manifest) or read-only
//! ([`DB::open_read_only`], or [`DBOptions::read_only`]: no lock, nothing
//! written, every write API failing with
//! [`Error::OpenedReadOnly`](crate::Error::OpenedReadOnly), and
//! [`DB::try_catch_up`] to follow the writer).

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::SeqNo;
use seer_wal::WriteOptions;

use crate::batch::Batch;
use crate::checkpoint::{write_checkpoint, CheckpointOptions, CheckpointReport};
use crate::engine::Engine;
use crate::error::Result;
use crate::health::Health;
use crate::iter::{bound_bytes, Cursor, DbIterator, KeyBounds, KeyIterator, KeyRange};
use crate::keyspace::Keyspace;
use crate::options::{DBOptions, KeyspaceOptions};
use crate::report::MetricsSnapshot;
use crate::snapshot::Snapshot;
use crate::transaction::Transaction;
use crate::verify::VerifyReport;

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
///
/// [`Error::Closed`]: crate::Error::Closed
#[derive(Clone)]
pub struct DB {
    pub(crate) inner: Arc<Engine>,
    _owner: Arc<CloseOnLastHandle>,
}

/// Shared by every clone of a [`DB`] (and by nothing else, in particular not
/// by background threads), so its drop runs on the thread that drops the last
/// user handle.
struct CloseOnLastHandle(Arc<Engine>);

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
            .field("path", &self.inner.path())
            .field("visible_seq", &self.inner.visible_seq())
            .finish_non_exhaustive()
    }
}

impl DBOptions {
    /// Validates the options and opens (or creates) the database at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<DB> {
        DB::open_with(path.as_ref(), self)
    }
}

impl DB {
    /// Opens (or creates) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path.as_ref(), DBOptions::default())
    }

    /// Opens (or creates) the database at `path` with `options` (read-only
    /// when [`DBOptions::read_only`] is set).
    pub fn open_with(path: &Path, options: DBOptions) -> Result<Self> {
        let inner = if options.read_only {
            Engine::open_read_only(path, options)?
        } else {
            Engine::open(path, options)?
        };
        let owner = Arc::new(CloseOnLastHandle(Arc::clone(&inner)));
        Ok(Self {
            inner,
            _owner: owner,
        })
    }

    /// Opens the existing database at `path` read-only with default
    /// options, even while another handle (in this or another process)
    /// holds it open for writing: no lock is taken and not a byte is
    /// written. Reads see the manifest's tree plus the WAL replayed into
    /// memory, as of the open (a consistent prefix of the writer's
    /// writes); [`DB::try_catch_up`] moves to the writer's newer state.
    /// Every write API (`put`, `delete`, `merge`, `write`, a transaction's
    /// commit, `flush`, `compact_range`, `persist`) fails with
    /// [`Error::OpenedReadOnly`](crate::Error::OpenedReadOnly), and no
    /// background thread runs.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path.as_ref(), DBOptions::default().read_only(true))
    }

    /// On a read-only open, reloads the manifest, its tables and the WAL
    /// and swaps the newer state in (RocksDB's
    /// `TryCatchUpWithPrimary`): reads started after it returns see at
    /// least what the writer had written when it began; iterators and
    /// snapshots taken before keep their state. A table the writer deleted
    /// meanwhile stays readable through its open handle; a load that finds
    /// the writer moving on (a segment or manifest replaced under it) is
    /// retried, and fails with its last error after a few tries, changing
    /// nothing. Fails with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) on a
    /// writable open.
    pub fn try_catch_up(&self) -> Result<()> {
        self.inner.try_catch_up()
    }

    /// Adds the table files at `paths`, written by [`TableWriter`](crate::TableWriter),
    /// atomically: all or none (one manifest edit, durable before this
    /// returns). Every file is validated first (our format, checksums,
    /// keys strictly ascending, entries at sequence 0, key ranges of the
    /// files disjoint); a refused file fails the call with
    /// [`Error::IngestRejected`](crate::Error::IngestRejected) or
    /// [`Error::IngestOverlap`](crate::Error::IngestOverlap) naming it, and
    /// the database is unchanged. The entries get one new sequence number,
    /// above every write acknowledged before the call and below every later
    /// one, so they shadow older data and later writes shadow them;
    /// snapshots taken before do not see them. Writes wait while it runs;
    /// it flushes the memtables and rewrites the files into the database
    /// (O(data); `docs/OPERATIONS.md`, "Bulk load"). The files given are
    /// left in place.
    pub fn ingest<P: AsRef<Path>>(&self, paths: &[P]) -> Result<crate::IngestReport> {
        let paths: Vec<_> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        crate::ingest::ingest(&self.inner, &paths)
    }

    // Writes.

    /// Sets `key` to `value`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.inner.refuse_read_only()?;
        self.inner
            .put(key.as_ref(), value.as_ref(), WriteOptions::default())?;
        Ok(())
    }

    /// Sets `key` to `value` for `ttl`: from `ttl` after now (by
    /// [`DBOptions::clock`](crate::DBOptions::clock)) on, every read finds
    /// the key deleted, and compactions remove it (`docs/OPERATIONS.md`,
    /// "Expiring data").
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        self.inner.refuse_read_only()?;
        self.inner
            .put_with_ttl(key.as_ref(), value.as_ref(), ttl, WriteOptions::default())?;
        Ok(())
    }

    /// Sets `key` to `value` with per-write options.
    pub fn put_opt(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        options: WriteOptions,
    ) -> Result<SeqNo> {
        self.inner.refuse_read_only()?;
        self.inner.put(key.as_ref(), value.as_ref(), options)
    }

    /// Deletes `key` (deleting an absent key is not an error).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.delete_opt(key, WriteOptions::default()).map(drop)
    }

    /// Deletes `key` with per-write options; returns the delete's sequence
    /// number. Like [`DB::put_opt`], one operation without a [`Batch`].
    pub fn delete_opt(&self, key: impl AsRef<[u8]>, options: WriteOptions) -> Result<SeqNo> {
        self.inner.refuse_read_only()?;
        self.inner.delete(key.as_ref(), options)
    }

    /// Deletes every key in `range` (`start..end`) with one range tombstone
    /// (O(1) to write, whatever the range holds), atomically: reads, every
    /// iterator, snapshots taken after it and transactions see all of them
    /// deleted. An empty range (`start >= end`) deletes nothing.
    pub fn delete_range<K: AsRef<[u8]>>(&self, range: std::ops::Range<K>) -> Result<()> {
        let mut batch = Batch::new();
        batch.delete_range(range);
        self.inner
            .write_owned_batch(batch, WriteOptions::default())?;
        Ok(())
    }

    /// Adds a merge operand to `key`, resolved on read by the configured
    /// merge operator.
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        self.merge_opt(key, operand, WriteOptions::default())
            .map(drop)
    }

    /// Adds a merge operand to `key` with per-write options; returns its
    /// sequence number. Like [`DB::put_opt`], one operation without a
    /// [`Batch`].
    pub fn merge_opt(
        &self,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
        options: WriteOptions,
    ) -> Result<SeqNo> {
        self.inner.refuse_read_only()?;
        self.inner.merge(key.as_ref(), operand.as_ref(), options)
    }

    /// Applies `batch` atomically; returns its first sequence number (an
    /// empty batch writes nothing and returns the visible sequence number).
    pub fn write(&self, batch: Batch, options: WriteOptions) -> Result<SeqNo> {
        self.inner.refuse_read_only()?;
        self.inner.write_owned_batch(batch, options)
    }

    /// An empty batch.
    pub fn batch(&self) -> Batch {
        Batch::new()
    }

    /// An empty batch with room for `capacity` operations.
    pub fn batch_with_capacity(&self, capacity: usize) -> Batch {
        Batch::with_capacity(capacity)
    }

    // Point reads.

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

    /// The values of `keys`, in order, all read at one sequence number from
    /// one view of the database (values shared with the tables as
    /// [`DB::get`] says).
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.inner.multi_get(keys)
    }

    // Iteration, snapshots and transactions.

    /// Every `(key, value)` in key order, at the current visible sequence
    /// number (later writes are not seen).
    pub fn iter(&self) -> DbIterator {
        DbIterator::latest(&self.inner, KeyBounds::unbounded())
    }

    /// The `(key, value)` pairs whose keys lie in `range`, e.g.
    /// `db.range(b"a".as_slice()..b"m".as_slice())`, `db.range("a"..="m")`
    /// or `db.range(..)`.
    pub fn range(&self, range: impl KeyRange) -> DbIterator {
        DbIterator::latest(&self.inner, KeyBounds::from_range(range))
    }

    /// The `(key, value)` pairs whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        DbIterator::latest(&self.inner, KeyBounds::prefix(prefix.as_ref()))
    }

    /// A reusable cursor over the current state (later writes are not seen
    /// until [`Cursor::refresh`]): seek, step both ways, seek again, with
    /// no allocation per seek after the first; see [`Cursor`]. Fails when
    /// the database is closed.
    pub fn cursor(&self) -> Result<Cursor> {
        Cursor::latest(&self.inner)
    }

    /// The entry with the smallest key, or `None` when the database holds
    /// none: one seek from the front (deleted keys there are skipped), not a
    /// scan. The value is returned as [`DB::get`] says.
    pub fn first_key_value(&self) -> Result<Option<(Bytes, Bytes)>> {
        self.cursor()?.into_first_entry()
    }

    /// The entry with the largest key, or `None` when the database holds
    /// none: one seek from the back, not a scan.
    pub fn last_key_value(&self) -> Result<Option<(Bytes, Bytes)>> {
        self.cursor()?.into_last_entry()
    }

    /// Every key in key order (values are not read or resolved); for a
    /// range or prefix, use `db.range(..).keys()` or `db.prefix(p).keys()`.
    pub fn keys(&self) -> KeyIterator {
        self.iter().keys()
    }

    /// A consistent read-only view of the database as it is now; see
    /// [`Snapshot`]. Compaction keeps what it can see until it is dropped.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::latest(&self.inner)
    }

    /// Begins an optimistic transaction reading a snapshot of the current
    /// state; see [`Transaction`].
    pub fn begin_transaction(&self) -> Transaction {
        Transaction::new(&self.inner)
    }

    // Keyspaces.

    /// Opens the named keyspace `name`, creating it (durably: recorded in
    /// the manifest before this returns) when the database has none of
    /// that name, with the database's options; see [`Keyspace`]. On a
    /// read-only open it opens the keyspace as loaded (read-only, moved on
    /// by [`DB::try_catch_up`]) and fails with
    /// [`Error::OpenedReadOnly`](crate::Error::OpenedReadOnly) when there
    /// is none of that name.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.keyspace_with(name, KeyspaceOptions::default())
    }

    /// [`DB::keyspace`] with `options` over the database's (they hold
    /// until the database closes; a keyspace already open keeps its own).
    pub fn keyspace_with(&self, name: &str, options: KeyspaceOptions) -> Result<Keyspace> {
        let engine = self.inner.open_keyspace(name, &options)?;
        let owner: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(&self._owner) as _;
        Ok(Keyspace::new(owner, engine, name))
    }

    /// Drops the named keyspace `name`, durably (recorded in the manifest
    /// before this returns): its handles' operations then fail with
    /// [`Error::Closed`](crate::Error::Closed), iterators already made keep
    /// reading what they pinned, and its files are deleted once the last
    /// of them goes. The name can be created again, empty. Fails with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when no
    /// keyspace has that name.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        self.inner.drop_keyspace(name)
    }

    /// The names of the database's named keyspaces, sorted (the default
    /// keyspace, which the `DB` methods act on, has none).
    pub fn keyspace_names(&self) -> Vec<String> {
        self.inner.keyspace_names()
    }

    // Maintenance.

    /// Makes every write so far durable in a table: switches the memtable
    /// and waits until every memtable holding a write made before the call
    /// is flushed, in the default keyspace and then in every named keyspace
    /// open in this handle ([`Keyspace::flush`](crate::Keyspace::flush)
    /// flushes one).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Makes every write acknowledged before the call durable: when it
    /// returns `Ok`, those writes survive a power failure, under every
    /// [`SyncPolicy`](crate::SyncPolicy) (with `Never` or `Interval`, this is
    /// how a caller decides when to pay for the `fdatasync`). No record is
    /// written. Writes made with `disable_wal` are not covered (they are in
    /// no log).
    ///
    /// Safe to call from many threads: calls share syncs, as a call that
    /// finds nothing logged since the last sync (one in flight included,
    /// which it waits for) syncs nothing. A failed sync turns the database
    /// read-only and returns the error, as a failed sync of a write does;
    /// after [`close`](Self::close) it fails with
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn persist(&self) -> Result<()> {
        self.inner.refuse_read_only()?;
        self.inner.persist()
    }

    /// Compacts the user keys in `range` (everything for `..`) as they are
    /// at the call down into one run of the largest level, waiting until it
    /// is done (data written meanwhile is not waited for).
    pub fn compact_range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<()> {
        let start = bound_bytes(range.start_bound());
        let end = bound_bytes(range.end_bound());
        self.inner.compact_range(start, end)
    }

    /// Reads every live WAL segment, table and manifest back from disk and
    /// checks all their checksums, those of every named keyspace open in
    /// this handle included; see [`VerifyReport`]. Fails only when the
    /// database is closed or its directory cannot be listed.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify_all()
    }

    /// Writes a checkpoint of the database at `path` (which must not
    /// exist): an openable copy holding exactly the writes up to one
    /// sequence number, taken while writes go on. It flushes first (the
    /// checkpoint has no WAL), hard-links the tables (copying them when
    /// `path` is on another file system), writes a fresh manifest and
    /// renames the finished directory into place, so a crash leaves no
    /// partial checkpoint at `path` (see [`DB::checkpoint_with`]). Every
    /// named keyspace is in it too, all as of that one sequence number
    /// (writes wait for a second, short flush then;
    /// `docs/OPERATIONS.md`, "Databases with named keyspaces").
    pub fn checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        self.checkpoint_with(path, CheckpointOptions::default())
            .map(|_| ())
    }

    /// [`DB::checkpoint`] with options; reports the checkpoint's sequence
    /// number and how its tables were placed. Fails with
    /// [`Error::TargetExists`](crate::Error::TargetExists) when `path`
    /// exists, and with
    /// [`Error::OpenedReadOnly`](crate::Error::OpenedReadOnly) on a
    /// read-only open (it must flush). A staging directory
    /// `<path>.seer-staging` left by a crash is removed first; opened, it is
    /// refused with [`Error::IncompleteCopy`](crate::Error::IncompleteCopy)
    /// unless it was complete.
    pub fn checkpoint_with(
        &self,
        path: impl AsRef<Path>,
        options: CheckpointOptions,
    ) -> Result<CheckpointReport> {
        let target = path.as_ref();
        self.inner
            .with_database_files(|fs, files| write_checkpoint(fs, files, target, options))
    }

    /// Closes the engine (see [`DB`]): stops the work in flight at its next
    /// safe point, syncs the WAL, joins the background threads, releases
    /// the directory lock, and reports the first failure seen. Later
    /// operations fail with [`Error::Closed`](crate::Error::Closed).
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    // Observability.

    /// Counters, latency percentiles and amplification figures of the
    /// whole database: every keyspace's figures summed (those recovered but
    /// not opened in this handle included), the ones they share (the block
    /// cache, the visible sequence number; the compaction policy shown is
    /// the default keyspace's) counted once. A batch's WAL bytes are split
    /// among the keyspaces it writes in proportion to their bytes, so the
    /// sum is the WAL's. [`Keyspace::metrics`](crate::Keyspace::metrics)
    /// gives one keyspace's.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics_snapshot_all()
    }

    /// [`DB::metrics`] and the trees' shape as readable text, followed by
    /// each named keyspace's own figures.
    pub fn stats(&self) -> String {
        self.inner.stats_text_all()
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
        self.inner.path()
    }
}
