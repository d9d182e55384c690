//! Named keyspaces, the public side: [`Keyspace`], the handle to one (the
//! whole data API, as [`DB`](crate::DB)'s on the default keyspace), and the
//! [`Batch`] writes in named keyspaces (the per-tree options a keyspace may
//! set apart from the database's, `KeyspaceOptions`, are with the other
//! options). A keyspace has its own memtables and tree (see
//! [`crate::engine`]'s `keyspaces`) and shares the database's WAL, commit
//! pipeline and sequence numbers; `DB::keyspace` opens or creates one.

use std::ops::RangeBounds;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::SeqNo;
use seer_wal::{WriteOp, WriteOptions};

use crate::batch::{copy_key, key_and_expiring_value, key_and_value, ttl_ms, Batch};
use crate::engine::Engine;
use crate::error::Result;
use crate::iter::{bound_bytes, Cursor, DbIterator, KeyBounds, KeyRange};
use crate::report::MetricsSnapshot;
use crate::verify::VerifyReport;

/// Writes of a [`Batch`] in named keyspaces (kept with [`Keyspace`], which
/// they take).
impl Batch {
    /// Sets `key` to `value` in `keyspace`.
    pub fn put_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> &mut Self {
        let (key, value) = key_and_value(key.as_ref(), value.as_ref());
        self.push_in(keyspace.id(), WriteOp::Put { key, value })
    }

    /// Sets `key` to `value` in `keyspace` for `ttl` (as
    /// [`Batch::put_with_ttl`]).
    pub fn put_with_ttl_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> &mut Self {
        // The expiry is relative until the batch is stamped at its write.
        let (key, stored) = key_and_expiring_value(key.as_ref(), ttl_ms(ttl), value.as_ref());
        self.push_in(keyspace.id(), WriteOp::ExpiringPut { key, stored })
    }

    /// Deletes `key` in `keyspace`.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> &mut Self {
        let key = copy_key(key.as_ref());
        self.push_in(keyspace.id(), WriteOp::Delete { key })
    }

    /// Adds a merge operand to `key` in `keyspace` (resolved by its merge
    /// operator).
    pub fn merge_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
    ) -> &mut Self {
        let (key, operand) = key_and_value(key.as_ref(), operand.as_ref());
        self.push_in(keyspace.id(), WriteOp::Merge { key, operand })
    }

    /// Deletes every key of `keyspace` in `range` with one range tombstone
    /// (as [`Batch::delete_range`]).
    pub fn delete_range_in<K: AsRef<[u8]>>(
        &mut self,
        keyspace: &Keyspace,
        range: std::ops::Range<K>,
    ) -> &mut Self {
        let (start, end) = key_and_value(range.start.as_ref(), range.end.as_ref());
        self.push_in(keyspace.id(), WriteOp::DeleteRange { start, end })
    }
}

/// A handle to a named keyspace of an open database: cheap to clone,
/// `Send` and `Sync`. Its methods are [`DB`](crate::DB)'s data API on this keyspace's
/// own memtables and tree; writes go through the database's one WAL and
/// commit pipeline, so they share its sequence numbers and group commits.
/// A handle keeps the database open (as a `DB` clone does).
#[derive(Clone)]
pub struct Keyspace {
    /// Keeps the database open (its last-handle close token).
    _db: Arc<dyn std::any::Any + Send + Sync>,
    inner: Arc<Engine>,
    name: Arc<str>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.name)
            .field("path", &self.inner.path())
            .finish_non_exhaustive()
    }
}

impl Keyspace {
    /// The handle of `name`'s engine `inner`, keeping the database open
    /// through `db` (a `DB`'s last-handle token).
    pub(crate) fn new(
        db: Arc<dyn std::any::Any + Send + Sync>,
        inner: Arc<Engine>,
        name: &str,
    ) -> Self {
        Self {
            _db: db,
            inner,
            name: Arc::from(name),
        }
    }

    /// The keyspace's id in the WAL.
    pub(crate) fn id(&self) -> seer_wal::KeyspaceId {
        self.inner.keyspace_id()
    }

    /// The keyspace's engine.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.inner
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_opt(key, value, WriteOptions::default())
            .map(|_| ())
    }

    /// Sets `key` to `value` for `ttl`, as
    /// [`DB::put_with_ttl`](crate::DB::put_with_ttl) in this keyspace.
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

    /// Deletes `key` with per-write options, as
    /// [`DB::delete_opt`](crate::DB::delete_opt).
    pub fn delete_opt(&self, key: impl AsRef<[u8]>, options: WriteOptions) -> Result<SeqNo> {
        self.inner.refuse_read_only()?;
        self.inner.delete(key.as_ref(), options)
    }

    /// Deletes every key in `range` with one range tombstone, as
    /// [`DB::delete_range`](crate::DB::delete_range).
    pub fn delete_range<K: AsRef<[u8]>>(&self, range: std::ops::Range<K>) -> Result<()> {
        self.inner.refuse_read_only()?;
        self.inner.delete_range(
            range.start.as_ref(),
            range.end.as_ref(),
            WriteOptions::default(),
        )?;
        Ok(())
    }

    /// Adds a merge operand to `key` (the keyspace needs a merge operator,
    /// [`KeyspaceOptions::merge_operator`](crate::KeyspaceOptions::merge_operator)).
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        self.merge_opt(key, operand, WriteOptions::default())
            .map(drop)
    }

    /// Adds a merge operand to `key` with per-write options, as
    /// [`DB::merge_opt`](crate::DB::merge_opt).
    pub fn merge_opt(
        &self,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
        options: WriteOptions,
    ) -> Result<SeqNo> {
        self.inner.refuse_read_only()?;
        self.inner.merge(key.as_ref(), operand.as_ref(), options)
    }

    /// The value of `key`, or `None` when it is absent or deleted.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(key.as_ref())
    }

    /// The values of `keys`, in order, all read at one sequence number.
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.inner.multi_get(keys)
    }

    /// Every `(key, value)` in key order, at the current visible sequence
    /// number.
    pub fn iter(&self) -> DbIterator {
        DbIterator::latest(&self.inner, KeyBounds::unbounded())
    }

    /// The `(key, value)` pairs whose keys lie in `range`.
    pub fn range(&self, range: impl KeyRange) -> DbIterator {
        DbIterator::latest(&self.inner, KeyBounds::from_range(range))
    }

    /// The `(key, value)` pairs whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        DbIterator::latest(&self.inner, KeyBounds::prefix(prefix.as_ref()))
    }

    /// A reusable cursor over the keyspace's current state; see
    /// [`Cursor`].
    pub fn cursor(&self) -> Result<Cursor> {
        Cursor::latest(&self.inner)
    }

    /// The entry with the smallest key, or `None` when the keyspace is
    /// empty (one seek, not a scan).
    pub fn first_key_value(&self) -> Result<Option<(Bytes, Bytes)>> {
        self.cursor()?.into_first_entry()
    }

    /// The entry with the largest key, or `None` when the keyspace is
    /// empty (one seek, not a scan).
    pub fn last_key_value(&self) -> Result<Option<(Bytes, Bytes)>> {
        self.cursor()?.into_last_entry()
    }

    /// Adds the table files at `paths` (written by
    /// [`TableWriter`](crate::TableWriter)) to this keyspace atomically,
    /// with [`DB::ingest`](crate::DB::ingest)'s checks and guarantees: one
    /// new sequence number of the database's, above every write
    /// acknowledged before the call (in any keyspace) and below every
    /// later one; writes to every keyspace wait while it runs; other
    /// keyspaces are untouched.
    pub fn ingest<P: AsRef<std::path::Path>>(&self, paths: &[P]) -> Result<crate::IngestReport> {
        let paths: Vec<_> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        crate::ingest::ingest(&self.inner, &paths)
    }

    /// Makes every write to the keyspace so far durable in its tables.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Compacts the keyspace's keys in `range` down into one run of its
    /// largest level, as [`DB::compact_range`](crate::DB::compact_range).
    pub fn compact_range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<()> {
        let start = bound_bytes(range.start_bound());
        let end = bound_bytes(range.end_bound());
        self.inner.compact_range(start, end)
    }

    /// Checks the checksums of the keyspace's manifest and tables; see
    /// [`VerifyReport`] (the WAL is the database's: [`DB::verify`](crate::DB::verify)).
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify()
    }

    /// The keyspace's own figures: its operations (through this handle and
    /// through batches and transactions writing to it), its share of the
    /// WAL bytes, its flushes, compactions, stalls, memtables and tree; the
    /// block cache and visible sequence number are the database's (see
    /// [`DB::metrics`](crate::DB::metrics), which sums every keyspace's).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics_snapshot()
    }

    /// [`Keyspace::metrics`] as readable text.
    pub fn stats(&self) -> String {
        self.inner.stats_text()
    }
}
