//! [`Snapshot`]: a consistent, read-only view of the database at one
//! sequence number, and [`DB::snapshot`] that takes one.
//!
//! A snapshot pins a read view (memtables and version, so the table files it
//! may read stay on disk) and registers its sequence number, so compaction
//! keeps every version it can see. Dropping it releases both.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::SeqNo;

use crate::db::{DbInner, DB};
use crate::error::Result;
use crate::iter::{DbIterator, KeyBounds, KeyRange};
use crate::read::ReadView;
use crate::snapshot_registry::SnapshotGuard;

/// A read view pinned for as long as this value lives: its memtables and
/// version (hence its table files) stay, and its sequence number stays
/// registered, so compaction keeps every version it can see. A clone pins
/// and registers the same view once more.
#[derive(Debug, Clone)]
pub(crate) struct PinnedView {
    view: ReadView,
    _registration: SnapshotGuard,
}

impl PinnedView {
    /// Pins the current state of `db`. The sequence number is chosen and
    /// registered in one step under the registry's lock (so no flush or
    /// compaction can list the live snapshots in between), and the
    /// memtables and version are loaded after it.
    pub(crate) fn latest(db: &DbInner) -> Self {
        let registration = db.snapshots().register_visible();
        Self {
            view: db.read_view_at(registration.seq()),
            _registration: registration,
        }
    }

    /// The pinned view.
    pub(crate) fn view(&self) -> &ReadView {
        &self.view
    }
}

/// A read-only view of the database as of its creation: later writes are
/// not seen by its reads or iterators.
pub struct Snapshot {
    db: Arc<DbInner>,
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

    fn iterator(&self, bounds: KeyBounds) -> DbIterator {
        let pinned = self.pinned.clone();
        DbIterator::new(Arc::clone(&self.db), pinned, bounds)
    }
}

impl DB {
    /// A consistent read-only view of the database as it is now; see
    /// [`Snapshot`]. Compaction keeps what it can see until it is dropped.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            db: Arc::clone(&self.inner),
            pinned: PinnedView::latest(&self.inner),
        }
    }
}
