//! [`Snapshot`]: a consistent, read-only view of the database at one
//! sequence number, taken by [`DB::snapshot`](crate::DB::snapshot).
//!
//! A snapshot pins a read view (memtables and version, so the table files it
//! may read stay on disk) and registers its sequence number, so compaction
//! keeps every version it can see. Dropping it releases both.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::SeqNo;

use crate::engine::{Engine, PinnedView};
use crate::error::Result;
use crate::iter::{Cursor, DbIterator, KeyBounds, KeyRange};
use crate::keyspace::Keyspace;

/// A read-only view of the database as of its creation: later writes are
/// not seen by its reads or iterators.
pub struct Snapshot {
    db: Arc<Engine>,
    pinned: PinnedView,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// A snapshot of the current state of `db`.
    pub(crate) fn latest(db: &Arc<Engine>) -> Self {
        Self {
            db: Arc::clone(db),
            pinned: db.pin(),
        }
    }

    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> SeqNo {
        self.pinned.view().seq
    }

    /// The value of `key` as of the snapshot, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.db.check_open()?;
        self.db.get_in(key.as_ref(), self.pinned.view())
    }

    /// Every `(key, value)` as of the snapshot, in key order.
    pub fn iter(&self) -> DbIterator {
        self.iterator(KeyBounds::unbounded())
    }

    /// The `(key, value)` pairs in `range` as of the snapshot.
    pub fn range(&self, range: impl KeyRange) -> DbIterator {
        self.iterator(KeyBounds::from_range(range))
    }

    /// The `(key, value)` pairs whose keys start with `prefix`, as of the
    /// snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        self.iterator(KeyBounds::prefix(prefix.as_ref()))
    }

    /// A reusable cursor over the snapshot; see [`Cursor`]
    /// ([`Cursor::refresh`] keeps it on the snapshot). Fails when the
    /// database is closed.
    pub fn cursor(&self) -> Result<Cursor> {
        Cursor::of_snapshot(&self.db, self.pinned.clone())
    }

    /// The entry with the smallest key as of the snapshot, or `None`: one
    /// seek from the front, not a scan.
    pub fn first_key_value(&self) -> Result<Option<(Bytes, Bytes)>> {
        self.cursor()?.into_first_entry()
    }

    /// The entry with the largest key as of the snapshot, or `None`: one
    /// seek from the back, not a scan.
    pub fn last_key_value(&self) -> Result<Option<(Bytes, Bytes)>> {
        self.cursor()?.into_last_entry()
    }

    /// The value of `key` in `keyspace` as of the snapshot, or `None` (a
    /// snapshot spans every keyspace of its database: all read at its one
    /// sequence number).
    pub fn get_in(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let engine = keyspace.engine();
        engine.check_open()?;
        let pinned = engine.pin_at(&self.pinned);
        engine.get_in(key.as_ref(), pinned.view())
    }

    /// The `(key, value)` pairs of `keyspace` in `range` as of the
    /// snapshot.
    pub fn range_in(&self, keyspace: &Keyspace, range: impl KeyRange) -> DbIterator {
        let engine = keyspace.engine();
        let pinned = engine.pin_at(&self.pinned);
        DbIterator::new(Arc::clone(engine), pinned, KeyBounds::from_range(range))
    }

    fn iterator(&self, bounds: KeyBounds) -> DbIterator {
        let pinned = self.pinned.clone();
        DbIterator::new(Arc::clone(&self.db), pinned, bounds)
    }
}
