//! [`Cursor`]: a reusable, seekable position over the user entries of a
//! pinned read view, made by [`DB::cursor`](crate::DB::cursor) and
//! [`Snapshot::cursor`](crate::Snapshot::cursor), for callers that seek
//! again and again (RocksDB's raw iterator, Pebble's `SeekGE`/`SeekLT`).
//!
//! The cursor builds its source stack (one child per memtable and per
//! sorted run, see [`source`](super::source)) once, when it is made or
//! refreshed, and then only repositions it: a seek moves every child and
//! settles on the first visible entry, writing the user key into a buffer
//! the cursor keeps, and the seek target into another. After the first
//! positioning, seeks and steps allocate nothing (merge operands being
//! resolved aside); `key()` borrows the cursor and `value()` shares the
//! table's or memtable's bytes. The crate's `cursor_alloc` test counts it.
//!
//! A cursor reads the view it pinned (later writes are not seen) until
//! [`Cursor::refresh`] pins the newest state; like an iterator, it keeps
//! that view's memtables and tables and registers its sequence number.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::SeqNo;

use crate::engine::{Engine, PinnedView};
use crate::error::Result;
use crate::iter::visible::{ReadContext, VisibleCursor, Yield};
use crate::iter::KeyBounds;

/// What [`Cursor::refresh`] moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follows {
    /// The database's newest visible state.
    Latest,
    /// A snapshot's view, which never changes.
    Snapshot,
}

/// A reusable, bidirectional, seekable cursor over `(key, value)` entries
/// at one sequence number: the newest visible version of each key,
/// tombstones hidden, merge operands resolved. It builds its source stack
/// once (when made or [refreshed](Cursor::refresh)) and then only
/// repositions it: after the first positioning, seeks and steps allocate
/// nothing (merge operands being resolved aside). It reads the view it
/// pinned until `refresh` pins the newest state.
///
/// ```
/// # fn main() -> seer_db::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let db = seer_db::DB::open(dir.path())?;
/// db.put("a", "1")?;
/// db.put("c", "3")?;
/// let mut cursor = db.cursor()?;
/// cursor.seek("b")?;
/// assert_eq!(cursor.key(), b"c");
/// cursor.prev()?;
/// assert_eq!(cursor.key(), b"a");
/// db.put("b", "2")?;
/// cursor.refresh()?; // sees "b" now; unpositioned
/// cursor.seek_for_prev("b")?;
/// assert_eq!(cursor.value().as_ref(), b"2");
/// # Ok(())
/// # }
/// ```
///
/// A move that fails leaves the cursor invalid and returns the error; seek
/// again to go on.
pub struct Cursor {
    context: ReadContext,
    /// Keeps the read sequence number registered while the cursor lives.
    pinned: PinnedView,
    follows: Follows,
    core: VisibleCursor,
    /// Whether values are copied out ([`DBOptions::owned_values`](crate::DBOptions::owned_values)).
    owned_values: bool,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("seq", &self.seq())
            .field("follows", &self.follows)
            .field("key", &self.valid().then(|| self.key()))
            .finish_non_exhaustive()
    }
}

impl Cursor {
    /// A cursor over the current state of `db`.
    pub(crate) fn latest(db: &Arc<Engine>) -> Result<Self> {
        db.check_open()?;
        Ok(Self::new(Arc::clone(db), db.pin(), Follows::Latest))
    }

    /// A cursor over a snapshot's `pinned` view.
    pub(crate) fn of_snapshot(db: &Arc<Engine>, pinned: PinnedView) -> Result<Self> {
        db.check_open()?;
        Ok(Self::new(Arc::clone(db), pinned, Follows::Snapshot))
    }

    fn new(db: Arc<Engine>, pinned: PinnedView, follows: Follows) -> Self {
        let owned_values = db.options().owned_values;
        let context = ReadContext {
            db,
            view: pinned.view().clone(),
            bounds: KeyBounds::unbounded(),
            yields: Yield::KeysAndValues,
        };
        let core = VisibleCursor::new(&context);
        Self {
            context,
            pinned,
            follows,
            core,
            owned_values,
        }
    }

    /// The sequence number the cursor reads at.
    pub fn seq(&self) -> SeqNo {
        self.pinned.view().seq
    }

    /// Whether the cursor is on an entry.
    #[inline]
    pub fn valid(&self) -> bool {
        self.core.valid()
    }

    /// The current key (empty when not [`valid`](Self::valid)); borrowed
    /// until the next move.
    #[inline]
    pub fn key(&self) -> &[u8] {
        self.core.key()
    }

    /// The current value (empty when not [`valid`](Self::valid)), shared
    /// with the tables as [`DB::get`](crate::DB::get) says.
    #[inline]
    pub fn value(&self) -> &Bytes {
        self.core.value()
    }

    /// To the first entry whose key is `>= key`.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let moved = self.core.seek(&self.context, key.as_ref());
        self.settled(moved)
    }

    /// To the last entry whose key is `<= key`.
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let moved = self.core.seek_for_prev(&self.context, key.as_ref());
        self.settled(moved)
    }

    /// To the first entry.
    pub fn seek_to_first(&mut self) -> Result<()> {
        let moved = self.core.seek_to_first(&self.context);
        self.settled(moved)
    }

    /// To the last entry.
    pub fn seek_to_last(&mut self) -> Result<()> {
        let moved = self.core.seek_to_last(&self.context);
        self.settled(moved)
    }

    /// To the next entry; stays invalid if it was.
    // A cursor step that can fail, not an `Iterator`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<()> {
        let moved = self.core.next(&self.context);
        self.settled(moved)
    }

    /// To the previous entry; stays invalid if it was.
    pub fn prev(&mut self) -> Result<()> {
        let moved = self.core.prev(&self.context);
        self.settled(moved)
    }

    /// Re-reads the newest visible state: a cursor made by
    /// [`DB::cursor`](crate::DB::cursor) pins the database's current view
    /// (and releases the old one) and rebuilds its source stack; a
    /// snapshot's cursor stays on the snapshot. Either way the cursor is
    /// left unpositioned: seek again. Fails when the database is closed.
    pub fn refresh(&mut self) -> Result<()> {
        self.context.db.check_open()?;
        if self.follows == Follows::Latest {
            self.pinned = self.context.db.pin();
            self.context.view = self.pinned.view().clone();
        }
        self.core.rebuild(&self.context);
        Ok(())
    }

    /// The first entry (one seek from the front), copied out.
    pub(crate) fn into_first_entry(mut self) -> Result<Option<(Bytes, Bytes)>> {
        self.seek_to_first()?;
        Ok(self.into_entry())
    }

    /// The last entry (one seek from the back), copied out.
    pub(crate) fn into_last_entry(mut self) -> Result<Option<(Bytes, Bytes)>> {
        self.seek_to_last()?;
        Ok(self.into_entry())
    }

    /// The entry the cursor is on, or `None` when invalid.
    fn into_entry(self) -> Option<(Bytes, Bytes)> {
        self.valid()
            .then(|| (Bytes::copy_from_slice(self.key()), self.value().clone()))
    }

    fn settled(&mut self, moved: Result<()>) -> Result<()> {
        if self.owned_values {
            self.core.own_value();
        }
        moved
    }
}
