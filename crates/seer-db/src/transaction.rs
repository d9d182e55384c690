//! Optimistic (OCC) transactions: [`Transaction`], made by
//! [`DB::begin_transaction`](crate::DB::begin_transaction). The isolation it
//! gives is documented on [`Transaction`]; this module also owns how a
//! commit is validated.
//!
//! # Validation
//!
//! Validation looks at the data itself rather than at a record of other
//! commits: a fresh read view is searched for a version of each key newer
//! than the start sequence number, skipping every memtable and table whose
//! largest sequence number is not above it (and tables whose bloom filter
//! rules the key out), so only data written since the transaction began is
//! read. The DB runs validation and the write under its commit lock, taken
//! exclusively here and shared by every plain write, so no write can be
//! sequenced between the validation and the transaction's own write (the
//! lock is the database's, shared by every keyspace's writes).
//!
//! A transaction spans keyspaces: `get_in`, `iter_in`, `range_in` and
//! `prefix_in` read a named keyspace at the transaction's sequence number
//! (overlaid with the transaction's own writes there), `put_in`,
//! `delete_in` and `merge_in` buffer writes to it; commit validates the
//! keys read and written in each keyspace against that keyspace's data and
//! writes everything in one batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use seer_core::{InternalIterator, ParsedInternalKey, SeqNo, TRAILER_BYTES};
use seer_wal::{KeyspaceId, WriteOptions};

use crate::batch::Batch;
use crate::engine::{Engine, PinnedView, ReadView};
use crate::error::{Error, Result};
use crate::iter::{DbIterator, End, KeyBounds, KeyRange};
use crate::keyspace::Keyspace;

/// What a transaction wrote to one key before the merge operands it added.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PendingBase {
    /// Only merge operands: they apply to the snapshot's value.
    Unchanged,
    /// A put of this value.
    Put(Bytes),
    /// A delete.
    Deleted,
}

/// A transaction's buffered writes to one key.
#[derive(Debug, Clone)]
struct PendingWrite {
    base: PendingBase,
    /// Merge operands added after `base`, oldest first.
    operands: Vec<Bytes>,
}

impl PendingWrite {
    /// Whether the key's value depends on the snapshot's.
    fn reads_snapshot(&self) -> bool {
        self.base == PendingBase::Unchanged
    }

    /// The key's value as the transaction sees it, given the snapshot's
    /// value (used only when [`Self::reads_snapshot`]).
    fn value_over(
        &self,
        db: &Engine,
        key: &[u8],
        snapshot_value: Option<Bytes>,
    ) -> Result<Option<Bytes>> {
        let base = match &self.base {
            PendingBase::Unchanged => snapshot_value,
            PendingBase::Put(value) => Some(value.clone()),
            PendingBase::Deleted => None,
        };
        if self.operands.is_empty() {
            return Ok(base);
        }
        let newest_first: Vec<Bytes> = self.operands.iter().rev().cloned().collect();
        db.resolve(key, &newest_first, base.as_deref()).map(Some)
    }

    /// Appends the writes to `batch`, base first, in `keyspace` (`None`:
    /// the default one).
    fn append_to(&self, keyspace: Option<&Keyspace>, key: &[u8], batch: &mut Batch) {
        match (&self.base, keyspace) {
            (PendingBase::Unchanged, _) => {}
            (PendingBase::Put(value), None) => {
                batch.put(key, value);
            }
            (PendingBase::Put(value), Some(keyspace)) => {
                batch.put_in(keyspace, key, value);
            }
            (PendingBase::Deleted, None) => {
                batch.delete(key);
            }
            (PendingBase::Deleted, Some(keyspace)) => {
                batch.delete_in(keyspace, key);
            }
        }
        for operand in &self.operands {
            match keyspace {
                None => batch.merge(key, operand),
                Some(keyspace) => batch.merge_in(keyspace, key, operand),
            };
        }
    }
}

/// An optimistic transaction, made by
/// [`DB::begin_transaction`](crate::DB::begin_transaction). Writes are
/// buffered in the transaction (their key and value sizes, and the presence
/// of a merge operator, are checked at commit). Dropping it without
/// [`Transaction::commit`] rolls it back.
///
/// # Isolation
///
/// A transaction reads a snapshot taken when it began (plus its own writes,
/// which it buffers until commit) and commits atomically through the normal
/// group-commit path. Commit validates that no key the transaction *read*
/// (through `get` or a key its iterators yielded) or *wrote* has a version
/// committed by anyone else (another transaction or a plain write) after the
/// transaction began; otherwise it fails with
/// [`Error::TransactionConflict`] and writes nothing. This is snapshot
/// isolation with write-write conflict detection, plus read-write conflict
/// detection on the keys read, which makes transactions that only read by
/// key serializable (lost updates and write skew over the keys read are
/// impossible). Ranges are not locked: a key inserted into a scanned range
/// that the scan did not yield (a phantom) is not a conflict. A transaction
/// that writes nothing never conflicts.
pub struct Transaction {
    db: Arc<Engine>,
    /// The snapshot the transaction reads (its `seq` is the start), pinned
    /// and registered for compaction.
    pinned: PinnedView,
    writes: BTreeMap<Bytes, PendingWrite>,
    /// Keys read through the snapshot, validated at commit.
    reads: Mutex<HashSet<Bytes>>,
    /// Writes to named keyspaces, by keyspace and key.
    keyspace_writes: BTreeMap<(KeyspaceId, Bytes), PendingWrite>,
    /// Keys of named keyspaces read, by keyspace and key.
    keyspace_reads: Mutex<HashSet<(KeyspaceId, Bytes)>>,
    /// The named keyspaces read or written.
    keyspaces: Mutex<HashMap<KeyspaceId, Keyspace>>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("start_seq", &self.start_seq())
            .field("write_count", &self.writes.len())
            .field("read_count", &self.reads.lock().len())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    /// A transaction reading a snapshot of the current state of `db`.
    pub(crate) fn new(db: &Arc<Engine>) -> Self {
        Self {
            db: Arc::clone(db),
            pinned: db.pin(),
            writes: BTreeMap::new(),
            reads: Mutex::new(HashSet::new()),
            keyspace_writes: BTreeMap::new(),
            keyspace_reads: Mutex::new(HashSet::new()),
            keyspaces: Mutex::new(HashMap::new()),
        }
    }

    /// The sequence number of the snapshot the transaction reads.
    pub fn start_seq(&self) -> SeqNo {
        self.pinned.view().seq
    }

    /// The value of `key`: the transaction's own write if it made one,
    /// otherwise the snapshot's. Records `key` in the read set.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = key.as_ref();
        self.db.check_open()?;
        self.record_read(key);
        match self.writes.get(key) {
            Some(pending) if !pending.reads_snapshot() => pending.value_over(&self.db, key, None),
            Some(pending) => {
                let snapshot_value = self.db.get_in(key, self.pinned.view())?;
                pending.value_over(&self.db, key, snapshot_value)
            }
            None => self.db.get_in(key, self.pinned.view()),
        }
    }

    /// The value of `key` in `keyspace` (of this transaction's database):
    /// the transaction's own write if it made one (its merges applied over
    /// the value as of the start by the keyspace's merge operator),
    /// otherwise the value as of the transaction's start. Records the key
    /// for validation when the value read depends on the keyspace's data.
    pub fn get_in(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = Bytes::copy_from_slice(key.as_ref());
        let id = self.note_keyspace(keyspace);
        let engine = keyspace.engine();
        engine.check_open()?;
        let entry = (id, key);
        let pending = self.keyspace_writes.get(&entry);
        if let Some(pending) = pending.filter(|pending| !pending.reads_snapshot()) {
            return pending.value_over(engine, &entry.1, None);
        }
        let pinned = engine.pin_at(&self.pinned);
        let value = engine.get_in(&entry.1, pinned.view())?;
        let key = entry.1.clone();
        self.keyspace_reads.lock().insert(entry);
        match pending {
            Some(pending) => pending.value_over(engine, &key, value),
            None => Ok(value),
        }
    }

    /// Sets `key` to `value` in `keyspace` at commit (replacing earlier
    /// writes to it).
    pub fn put_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let base = PendingBase::Put(Bytes::copy_from_slice(value.as_ref()));
        self.set_in(keyspace, key.as_ref(), base);
    }

    /// Deletes `key` in `keyspace` at commit (replacing earlier writes to
    /// it).
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) {
        self.set_in(keyspace, key.as_ref(), PendingBase::Deleted);
    }

    /// Adds a merge operand to `key` in `keyspace` at commit, on top of the
    /// transaction's earlier writes to it there (or of the committed value),
    /// resolved by the keyspace's merge operator.
    pub fn merge_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        operand: impl AsRef<[u8]>,
    ) {
        let id = self.note_keyspace(keyspace);
        pending_operands(
            &mut self.keyspace_writes,
            (id, Bytes::copy_from_slice(key.as_ref())),
        )
        .push(Bytes::copy_from_slice(operand.as_ref()));
    }

    fn set_in(&mut self, keyspace: &Keyspace, key: &[u8], base: PendingBase) {
        let id = self.note_keyspace(keyspace);
        self.keyspace_writes.insert(
            (id, Bytes::copy_from_slice(key)),
            PendingWrite {
                base,
                operands: Vec::new(),
            },
        );
    }

    /// Remembers `keyspace` (for the commit); its id.
    fn note_keyspace(&self, keyspace: &Keyspace) -> KeyspaceId {
        let id = keyspace.id();
        self.keyspaces
            .lock()
            .entry(id)
            .or_insert_with(|| keyspace.clone());
        id
    }

    /// Sets `key` to `value` at commit (replacing earlier writes to it).
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.set(
            key.as_ref(),
            PendingBase::Put(Bytes::copy_from_slice(value.as_ref())),
        );
    }

    /// Deletes `key` at commit (replacing earlier writes to it).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.set(key.as_ref(), PendingBase::Deleted);
    }

    /// Adds a merge operand to `key` at commit, on top of the transaction's
    /// earlier writes to it (or of the committed value).
    pub fn merge(&mut self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) {
        pending_operands(&mut self.writes, Bytes::copy_from_slice(key.as_ref()))
            .push(Bytes::copy_from_slice(operand.as_ref()));
    }

    fn set(&mut self, key: &[u8], base: PendingBase) {
        self.writes.insert(
            Bytes::copy_from_slice(key),
            PendingWrite {
                base,
                operands: Vec::new(),
            },
        );
    }

    fn record_read(&self, key: &[u8]) {
        let mut reads = self.reads.lock();
        if !reads.contains(key) {
            reads.insert(Bytes::copy_from_slice(key));
        }
    }

    /// Every `(key, value)` of the snapshot overlaid with the transaction's
    /// writes, in key order. Yielded keys join the read set.
    pub fn iter(&self) -> TransactionIterator<'_> {
        self.iterator(KeyBounds::unbounded())
    }

    /// The pairs in `range`, as [`Transaction::iter`] sees them.
    pub fn range(&self, range: impl KeyRange) -> TransactionIterator<'_> {
        self.iterator(KeyBounds::from_range(range))
    }

    /// The pairs whose keys start with `prefix`, as [`Transaction::iter`]
    /// sees them.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> TransactionIterator<'_> {
        self.iterator(KeyBounds::prefix(prefix.as_ref()))
    }

    fn iterator(&self, bounds: KeyBounds) -> TransactionIterator<'_> {
        let writes = self.writes.range::<[u8], _>(bounds.as_std_bounds());
        let pinned = self.pinned.clone();
        let snapshot = DbIterator::new(Arc::clone(&self.db), pinned, bounds);
        TransactionIterator {
            transaction: self,
            keyspace: None,
            engine: Arc::clone(&self.db),
            snapshot: Ends::new(snapshot),
            writes: Ends::new(Box::new(writes)),
        }
    }

    /// Every `(key, value)` of `keyspace` as of the transaction's start
    /// overlaid with the transaction's writes to it, in key order. Yielded
    /// keys join the read set (validated against that keyspace's data).
    pub fn iter_in(&self, keyspace: &Keyspace) -> TransactionIterator<'_> {
        self.iterator_in(keyspace, KeyBounds::unbounded())
    }

    /// The pairs of `keyspace` in `range`, as [`Transaction::iter_in`] sees
    /// them.
    pub fn range_in(&self, keyspace: &Keyspace, range: impl KeyRange) -> TransactionIterator<'_> {
        self.iterator_in(keyspace, KeyBounds::from_range(range))
    }

    /// The pairs of `keyspace` whose keys start with `prefix`, as
    /// [`Transaction::iter_in`] sees them.
    pub fn prefix_in(
        &self,
        keyspace: &Keyspace,
        prefix: impl AsRef<[u8]>,
    ) -> TransactionIterator<'_> {
        self.iterator_in(keyspace, KeyBounds::prefix(prefix.as_ref()))
    }

    fn iterator_in(&self, keyspace: &Keyspace, bounds: KeyBounds) -> TransactionIterator<'_> {
        let id = self.note_keyspace(keyspace);
        let (start, end) = bounds.as_std_bounds();
        let in_keyspace = |bound: Bound<&[u8]>| bound.map(|key| (id, Bytes::copy_from_slice(key)));
        let start = match start {
            Bound::Unbounded => Bound::Included((id, Bytes::new())),
            bound => in_keyspace(bound),
        };
        let end = match (end, id.checked_add(1)) {
            (Bound::Unbounded, Some(next)) => Bound::Excluded((next, Bytes::new())),
            (bound, _) => in_keyspace(bound),
        };
        let writes = self
            .keyspace_writes
            .range((start, end))
            .filter(move |((write_id, _), _)| *write_id == id)
            .map(|((_, key), pending)| (key, pending));
        let engine = keyspace.engine();
        let pinned = engine.pin_at(&self.pinned);
        let snapshot = DbIterator::new(Arc::clone(engine), pinned, bounds);
        TransactionIterator {
            transaction: self,
            keyspace: Some(id),
            engine: Arc::clone(engine),
            snapshot: Ends::new(snapshot),
            writes: Ends::new(Box::new(writes)),
        }
    }

    /// Records `key` of `keyspace` (`None`: the default one) in the read
    /// set.
    fn record_read_in(&self, keyspace: Option<KeyspaceId>, key: &Bytes) {
        match keyspace {
            None => self.record_read(key),
            Some(id) => {
                self.keyspace_reads.lock().insert((id, key.clone()));
            }
        }
    }

    /// Validates and commits the writes atomically with default
    /// [`WriteOptions`]; see [`Transaction::commit_with`].
    pub fn commit(self) -> Result<()> {
        self.commit_with(WriteOptions::default())
    }

    /// Validates the transaction and commits its writes atomically, or
    /// fails with [`Error::TransactionConflict`] (writing nothing) when a
    /// key it read or wrote was committed by someone else after it began.
    /// A transaction without writes commits without validation; one with
    /// writes on a read-only open fails with [`Error::OpenedReadOnly`].
    pub fn commit_with(self, options: WriteOptions) -> Result<()> {
        self.db.check_open()?;
        if self.writes.is_empty() && self.keyspace_writes.is_empty() {
            return Ok(());
        }
        self.db.refuse_read_only()?;
        let mut batch = Batch::with_capacity(self.writes.len() + self.keyspace_writes.len());
        for (key, pending) in &self.writes {
            pending.append_to(None, key, &mut batch);
        }
        let keyspaces = self.keyspaces.lock().clone();
        for ((id, key), pending) in &self.keyspace_writes {
            let Some(keyspace) = keyspaces.get(id) else {
                continue;
            };
            pending.append_to(Some(keyspace), key, &mut batch);
        }
        let mut keys: Vec<Bytes> = self.reads.lock().iter().cloned().collect();
        keys.extend(self.writes.keys().cloned());
        let mut keyspace_keys: Vec<(KeyspaceId, Bytes)> =
            self.keyspace_reads.lock().iter().cloned().collect();
        keyspace_keys.extend(self.keyspace_writes.keys().cloned());
        let start_seq = self.start_seq();
        let db = &self.db;
        db.write_batch_validated(&batch, options, || {
            validate(db, &keys, start_seq)?;
            for (id, key) in &keyspace_keys {
                if let Some(keyspace) = keyspaces.get(id) {
                    validate(keyspace.engine(), std::slice::from_ref(key), start_seq)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Discards the transaction's writes (the same as dropping it).
    pub fn rollback(self) {}
}

/// The merge operands buffered for `key` in `writes` (made, with no base
/// write, when it has none).
fn pending_operands<K: Ord>(writes: &mut BTreeMap<K, PendingWrite>, key: K) -> &mut Vec<Bytes> {
    &mut writes
        .entry(key)
        .or_insert_with(|| PendingWrite {
            base: PendingBase::Unchanged,
            operands: Vec::new(),
        })
        .operands
}

/// Fails with [`Error::TransactionConflict`] when any of `keys` has a
/// version newer than `start_seq` in the current state of `db`, or a range
/// tombstone newer than it covers the key.
fn validate(db: &Arc<Engine>, keys: &[Bytes], start_seq: SeqNo) -> Result<()> {
    let view = db.read_view();
    for key in keys {
        if written_after(db, &view, key, start_seq)?
            || crate::range_del::deleted_after(&view, key, start_seq)
        {
            return Err(Error::TransactionConflict { key: key.clone() });
        }
    }
    Ok(())
}

/// The sequence number of an encoded internal key, if it parses.
fn seq_of(encoded: &[u8]) -> Option<SeqNo> {
    ParsedInternalKey::parse(encoded)
        .ok()
        .map(|parsed| parsed.seq)
}

/// Whether `view` holds a version of `key` newer than `seq`. Only sources
/// whose largest sequence number is above `seq` are searched; the newest
/// version of a key in a source is its first entry.
fn written_after(db: &Engine, view: &ReadView, key: &[u8], seq: SeqNo) -> Result<bool> {
    let is_newer = |encoded: &[u8]| {
        encoded.len() == key.len() + TRAILER_BYTES && seq_of(encoded).is_some_and(|s| s > seq)
    };
    for memtable in &view.memtables {
        if memtable.largest_seq().is_none_or(|largest| largest <= seq) {
            continue;
        }
        let mut cursor = memtable.range(Bound::Included(key), Bound::Included(key));
        let Ok(()) = cursor.seek_to_first();
        if cursor.valid() && is_newer(cursor.key()) {
            return Ok(true);
        }
    }
    let bounds = KeyBounds::from_range((Bound::Included(key), Bound::Included(key)));
    for (_, run) in view.tree.version.runs_newest_first() {
        let Some(meta) = run.table_for_key(key) else {
            continue;
        };
        if meta.largest_seq <= seq {
            continue;
        }
        let table = db.table_in(&view.tree, meta)?;
        if !table.may_contain(key) {
            continue;
        }
        let mut cursor = table.iter_with_bounds(bounds.to_table_bounds());
        cursor.seek_to_first()?;
        if cursor.valid() && is_newer(cursor.key()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A double-ended iterator whose next items at either end can be peeked.
/// Its last item sits in at most one of the two slots, so the ends never
/// yield it twice.
struct Ends<I: DoubleEndedIterator> {
    inner: I,
    front: Option<I::Item>,
    back: Option<I::Item>,
}

impl<I: DoubleEndedIterator> Ends<I> {
    fn new(inner: I) -> Self {
        Self {
            inner,
            front: None,
            back: None,
        }
    }

    fn peek_front(&mut self) -> Option<&I::Item> {
        if self.front.is_none() {
            self.front = self.inner.next().or_else(|| self.back.take());
        }
        self.front.as_ref()
    }

    fn peek_back(&mut self) -> Option<&I::Item> {
        if self.back.is_none() {
            self.back = self.inner.next_back().or_else(|| self.front.take());
        }
        self.back.as_ref()
    }
}

/// The snapshot's next entry at one end: its key, or the error met.
enum SnapshotPeek {
    Key(Bytes),
    Failed,
    Exhausted,
}

fn peek_of(item: Option<&Result<(Bytes, Bytes)>>) -> SnapshotPeek {
    match item {
        Some(Ok((key, _))) => SnapshotPeek::Key(key.clone()),
        Some(Err(_)) => SnapshotPeek::Failed,
        None => SnapshotPeek::Exhausted,
    }
}

/// The transaction's buffered writes to one keyspace's keys in an
/// iterator's range, in key order.
type PendingRange<'t> = Box<dyn DoubleEndedIterator<Item = (&'t Bytes, &'t PendingWrite)> + 't>;

/// A transaction's view of one keyspace, in key order: its snapshot
/// overlaid with its own writes. Made by [`Transaction::iter`], `range` and
/// `prefix` (the default keyspace), and `iter_in`, `range_in` and
/// `prefix_in` (a named one).
pub struct TransactionIterator<'t> {
    transaction: &'t Transaction,
    /// The named keyspace iterated (`None`: the default one).
    keyspace: Option<KeyspaceId>,
    /// That keyspace's engine (its merge operator resolves the writes).
    engine: Arc<Engine>,
    snapshot: Ends<DbIterator>,
    writes: Ends<PendingRange<'t>>,
}

impl std::fmt::Debug for TransactionIterator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionIterator")
            .field("snapshot", &self.snapshot.inner)
            .finish_non_exhaustive()
    }
}

impl TransactionIterator<'_> {
    fn slot_snapshot(&mut self, end: End) -> Option<Result<(Bytes, Bytes)>> {
        match end {
            End::Front => self.snapshot.front.take(),
            End::Back => self.snapshot.back.take(),
        }
    }

    /// The next visible entry at `end`.
    fn step(&mut self, end: End) -> Option<Result<(Bytes, Bytes)>> {
        loop {
            let (snapshot, written) = match end {
                End::Front => (
                    peek_of(self.snapshot.peek_front()),
                    self.writes.peek_front().map(|(key, _)| Bytes::clone(key)),
                ),
                End::Back => (
                    peek_of(self.snapshot.peek_back()),
                    self.writes.peek_back().map(|(key, _)| Bytes::clone(key)),
                ),
            };
            let snapshot_key = match snapshot {
                SnapshotPeek::Failed => return self.slot_snapshot(end),
                SnapshotPeek::Exhausted => None,
                SnapshotPeek::Key(key) => Some(key),
            };
            let snapshot_first = |written_key: &Bytes| {
                snapshot_key.as_ref().is_some_and(|snapshot_key| match end {
                    End::Front => snapshot_key < written_key,
                    End::Back => snapshot_key > written_key,
                })
            };
            let Some(written_key) = written.filter(|written_key| !snapshot_first(written_key))
            else {
                let snapshot_key = snapshot_key?;
                let entry = self.slot_snapshot(end);
                self.transaction
                    .record_read_in(self.keyspace, &snapshot_key);
                return entry;
            };
            let snapshot_value = if snapshot_key.as_ref() == Some(&written_key) {
                self.slot_snapshot(end)
                    .and_then(|entry| entry.ok())
                    .map(|(_, value)| value)
            } else {
                None
            };
            if let Some(entry) = self.overlay(end, written_key, snapshot_value) {
                return Some(entry);
            }
        }
    }

    /// Takes the written entry at `end` and applies it over the snapshot's
    /// value; `None` when the key ends up deleted.
    fn overlay(
        &mut self,
        end: End,
        key: Bytes,
        snapshot_value: Option<Bytes>,
    ) -> Option<Result<(Bytes, Bytes)>> {
        let pending = match end {
            End::Front => self.writes.front.take(),
            End::Back => self.writes.back.take(),
        }
        .map(|(_, pending)| pending)?;
        if pending.reads_snapshot() {
            self.transaction.record_read_in(self.keyspace, &key);
        }
        match pending.value_over(&self.engine, &key, snapshot_value) {
            Ok(Some(value)) => Some(Ok((key, value))),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}

impl Iterator for TransactionIterator<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(End::Front)
    }
}

impl DoubleEndedIterator for TransactionIterator<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(End::Back)
    }
}
