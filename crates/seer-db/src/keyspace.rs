//! Named keyspaces, the public side: [`Keyspace`], the handle to one (the
//! whole data API, as [`DB`]'s on the default keyspace), and
//! [`KeyspaceOptions`], the per-tree options a keyspace may set apart from
//! the database's. A keyspace has its own memtables and tree (see
//! [`crate::engine`]'s `keyspaces`) and shares the database's WAL, commit
//! pipeline and sequence numbers; `DB::keyspace` opens or creates one.

use std::ops::RangeBounds;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{MergeOperator, SeqNo};
use seer_sstable::Compression;
use seer_wal::WriteOptions;

use crate::batch::Batch;
use crate::db::{bound_bytes, DB};
use crate::engine::Engine;
use crate::error::Result;
use crate::iter::{Cursor, DbIterator, KeyBounds, KeyRange};
use crate::options::{CompactionPolicy, DBOptions};
use crate::report::MetricsSnapshot;
use crate::verify::VerifyReport;

/// The options of a named keyspace that may differ from the database's
/// [`DBOptions`]: each one left unset is the database's. As with
/// `DBOptions`, a reopen may change them (a keyspace written with a merge
/// operator must be opened with the same one).
#[derive(Clone, Default)]
pub struct KeyspaceOptions {
    merge_operator: Option<Arc<dyn MergeOperator>>,
    compaction_policy: Option<CompactionPolicy>,
    bloom_bits_per_key: Option<u32>,
    compression: Option<Compression>,
    block_size_bytes: Option<usize>,
    memtable_capacity_bytes: Option<usize>,
}

impl std::fmt::Debug for KeyspaceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyspaceOptions")
            .field(
                "merge_operator",
                &self.merge_operator.as_ref().map(|op| op.name().to_owned()),
            )
            .field("compaction_policy", &self.compaction_policy)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("compression", &self.compression)
            .field("block_size_bytes", &self.block_size_bytes)
            .field("memtable_capacity_bytes", &self.memtable_capacity_bytes)
            .finish()
    }
}

impl KeyspaceOptions {
    /// The keyspace's merge operator (the database's is not inherited: a
    /// keyspace without one takes no merges).
    #[must_use]
    pub fn merge_operator(mut self, operator: impl MergeOperator) -> Self {
        self.merge_operator = Some(Arc::new(operator));
        self
    }

    /// The keyspace's compaction policy.
    #[must_use]
    pub fn compaction_policy(mut self, policy: CompactionPolicy) -> Self {
        self.compaction_policy = Some(policy);
        self
    }

    /// Bloom filter bits per key of the keyspace's tables.
    #[must_use]
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.bloom_bits_per_key = Some(bits);
        self
    }

    /// Compression of the keyspace's table data blocks.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Uncompressed size of the keyspace's data blocks.
    #[must_use]
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size_bytes = Some(bytes);
        self
    }

    /// Bytes one of the keyspace's memtables holds before it is flushed.
    #[must_use]
    pub fn memtable_capacity(mut self, bytes: usize) -> Self {
        self.memtable_capacity_bytes = Some(bytes);
        self
    }

    /// The options of the keyspace's engine: `base` (the database's) with
    /// these set over it, one background compaction thread, and no merge
    /// operator unless set here.
    pub(crate) fn apply(&self, base: &DBOptions) -> DBOptions {
        let mut options = base.clone();
        options.merge_operator.clone_from(&self.merge_operator);
        options.background_threads = 1;
        if let Some(policy) = self.compaction_policy {
            options.compaction_policy = policy;
        }
        if let Some(bits) = self.bloom_bits_per_key {
            options.bloom_bits_per_key = bits;
        }
        if let Some(compression) = self.compression {
            options.compression = compression;
        }
        if let Some(bytes) = self.block_size_bytes {
            options.block_size_bytes = bytes;
        }
        if let Some(bytes) = self.memtable_capacity_bytes {
            options.memtable_capacity_bytes = bytes;
        }
        options
    }
}

/// A handle to a named keyspace of an open database: cheap to clone,
/// `Send` and `Sync`. Its methods are [`DB`]'s data API on this keyspace's
/// own memtables and tree; writes go through the database's one WAL and
/// commit pipeline, so they share its sequence numbers and group commits.
/// A handle keeps the database open (as a [`DB`] clone does).
#[derive(Clone)]
pub struct Keyspace {
    db: DB,
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
    /// The handle of `name`'s engine `inner`, of database `db`.
    pub(crate) fn new(db: DB, inner: Arc<Engine>, name: &str) -> Self {
        Self {
            db,
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

    /// The database the keyspace belongs to.
    pub fn database(&self) -> &DB {
        &self.db
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_opt(key, value, WriteOptions::default())
            .map(|_| ())
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
        self.inner.refuse_read_only()?;
        self.inner.delete(key.as_ref(), WriteOptions::default())?;
        Ok(())
    }

    /// Deletes every key in `range` with one range tombstone, as
    /// [`DB::delete_range`].
    pub fn delete_range<K: AsRef<[u8]>>(&self, range: std::ops::Range<K>) -> Result<()> {
        let mut batch = Batch::new();
        batch.delete_range(range);
        self.inner
            .write_owned_batch(batch, WriteOptions::default())?;
        Ok(())
    }

    /// Adds a merge operand to `key` (the keyspace needs a merge operator,
    /// [`KeyspaceOptions::merge_operator`]).
    pub fn merge(&self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        self.inner.refuse_read_only()?;
        self.inner
            .merge(key.as_ref(), operand.as_ref(), WriteOptions::default())?;
        Ok(())
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

    /// Makes every write to the keyspace so far durable in its tables.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Compacts the keyspace's keys in `range` down into one run of its
    /// largest level, as [`DB::compact_range`].
    pub fn compact_range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Result<()> {
        let start = bound_bytes(range.start_bound());
        let end = bound_bytes(range.end_bound());
        self.inner.compact_range(start, end)
    }

    /// Checks the checksums of the keyspace's manifest and tables; see
    /// [`VerifyReport`] (the WAL is the database's: [`DB::verify`]).
    pub fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify()
    }

    /// The keyspace's counters and its tree's shape.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics_snapshot()
    }

    /// [`Keyspace::metrics`] as readable text.
    pub fn stats(&self) -> String {
        self.inner.stats_text()
    }
}
