//! From internal entries to user entries: a [`VisibleCursor`] walks a merged
//! cursor in either direction and stops, per user key, on the newest version
//! visible at the read's sequence number, hiding tombstones and resolving
//! merge operands (through the DB's one merge-resolution path).
//!
//! Forward, a key's versions arrive newest first: the first visible one
//! decides, and older ones are skipped (merge operands are collected down to
//! their base). Backward they arrive oldest first: every visible version is
//! folded in (a put or tombstone resets the operands collected so far), and
//! the key is decided when the cursor leaves it.
//!
//! The cursor keeps the current user key in a buffer of its own and the
//! encoded seek targets in another, both reused: after the first
//! positioning, a seek or a step allocates nothing (unless merge operands
//! are resolved). Moving forward the merged cursor rests past the current
//! key's versions, moving backward before them; a change of direction
//! re-seeks the merged cursor around the current key.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::{
    Corruption, DecodeError, InternalIterator, InternalKey, ParsedInternalKey, SeqNo, ValueKind,
    MAX_SEQ, TRAILER_BYTES,
};

use crate::engine::Engine;
use crate::engine::{NewestFirstFold, ReadView};
use crate::error::{Error, Result};
use crate::iter::bounds::KeyBounds;
use crate::iter::source::{merged_cursor, MergedCursor};

/// Whether an iterator resolves values or only decides which keys exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Yield {
    /// Keys and their values (merge operands resolved).
    KeysAndValues,
    /// Keys only: values are empty and merges are not resolved.
    KeysOnly,
}

/// What every cursor of one iteration shares.
pub(crate) struct ReadContext {
    pub(crate) db: Arc<Engine>,
    pub(crate) view: ReadView,
    pub(crate) bounds: KeyBounds,
    pub(crate) yields: Yield,
}

impl ReadContext {
    /// The sequence number read at.
    #[inline]
    fn seq(&self) -> SeqNo {
        self.view.seq
    }

    /// Resolves `operands_newest_first` over `base` (or skips it, keys only).
    fn resolve(
        &self,
        user_key: &[u8],
        operands_newest_first: &[Bytes],
        base: Option<&[u8]>,
    ) -> Result<Bytes> {
        match self.yields {
            Yield::KeysOnly => Ok(Bytes::new()),
            Yield::KeysAndValues => self.db.resolve(user_key, operands_newest_first, base),
        }
    }

    /// The value of an expiring put's `stored` value now (the clock is read
    /// per key, so an iterator never yields a value expired by then), or
    /// `None` once it has expired.
    fn live(&self, stored: &Bytes) -> Result<Option<Bytes>> {
        crate::engine::live_now(stored, self.db.options().clock.as_ref())
    }
}

/// The user key of an encoded internal key.
#[inline]
fn user_key_of(encoded: &[u8]) -> &[u8] {
    &encoded[..encoded.len().saturating_sub(TRAILER_BYTES)]
}

fn parse_entry(encoded: &[u8]) -> Result<ParsedInternalKey<'_>> {
    ParsedInternalKey::parse(encoded).map_err(|error: DecodeError| {
        Error::Corruption(Corruption::new(
            "(iterator entry)",
            0,
            format!(
                "bad internal key {:?}: {error}",
                encoded.escape_ascii().to_string()
            ),
        ))
    })
}

/// The trailer of the first internal key of a user key visible at every
/// sequence number ([`InternalKey::seek_key`] at [`MAX_SEQ`]).
fn first_version_trailer() -> u64 {
    InternalKey::seek_key(Bytes::new(), MAX_SEQ).trailer()
}

/// The trailer of the last possible internal key of a user key (sequence
/// number 0, the smallest kind byte): internal keys order a user key's
/// versions by descending trailer.
const LAST_VERSION_TRAILER: u64 = 0;

/// Writes `user_key | trailer` into `buffer` (kept for the next target).
fn encode_target<'b>(buffer: &'b mut Vec<u8>, user_key: &[u8], trailer: u64) -> &'b [u8] {
    buffer.clear();
    buffer.extend_from_slice(user_key);
    buffer.extend_from_slice(&trailer.to_le_bytes());
    buffer
}

/// A key's visible versions folded oldest first (the backward walk).
#[derive(Debug, Default)]
struct OldestFirstFold {
    /// The newest put value so far (`None`: absent or deleted).
    base: Option<Bytes>,
    /// Merge operands above `base`, oldest first.
    operands: Vec<Bytes>,
}

impl OldestFirstFold {
    fn feed(&mut self, context: &ReadContext, kind: ValueKind, value: &Bytes) -> Result<()> {
        match kind {
            ValueKind::Put => {
                self.base = Some(value.clone());
                self.operands.clear();
            }
            ValueKind::ExpiringPut => {
                self.base = context.live(value)?;
                self.operands.clear();
            }
            ValueKind::Delete => {
                self.base = None;
                self.operands.clear();
            }
            ValueKind::Merge => self.operands.push(value.clone()),
        }
        Ok(())
    }

    /// The key's value, or `None` when it is absent or deleted; leaves the
    /// fold empty (its operand buffer kept) for the next key.
    fn finish(&mut self, context: &ReadContext, user_key: &[u8]) -> Result<Option<Bytes>> {
        let base = self.base.take();
        if self.operands.is_empty() {
            return Ok(base);
        }
        self.operands.reverse();
        let resolved = context.resolve(user_key, &self.operands, base.as_deref());
        self.operands.clear();
        resolved.map(Some)
    }
}

/// Where the merged cursor rests relative to the current user entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Past every version of the current key (after a forward move).
    After,
    /// Before every version of the current key (after a backward move).
    Before,
}

/// A walk over the user entries of a [`ReadContext`] in either direction;
/// see the [module documentation](self).
pub(crate) struct VisibleCursor {
    cursor: MergedCursor,
    side: Side,
    /// Whether the cursor is on a user entry (`key`, `value`).
    valid: bool,
    /// The current user key.
    key: Vec<u8>,
    /// The current value (empty when keys only).
    value: Bytes,
    /// The last encoded seek target, kept for its allocation.
    target: Vec<u8>,
    /// The backward fold, kept for its operand buffer.
    fold: OldestFirstFold,
}

impl VisibleCursor {
    /// A cursor over `context` (not positioned).
    pub(crate) fn new(context: &ReadContext) -> Self {
        Self {
            cursor: merged_cursor(&context.db, &context.view, &context.bounds),
            side: Side::After,
            valid: false,
            key: Vec::new(),
            value: Bytes::new(),
            target: Vec::new(),
            fold: OldestFirstFold::default(),
        }
    }

    /// Whether the cursor is on a user entry.
    #[inline]
    pub(crate) fn valid(&self) -> bool {
        self.valid
    }

    /// The current user key (empty when not valid).
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        if self.valid {
            &self.key
        } else {
            &[]
        }
    }

    /// The current value (empty when not valid or keys only).
    #[inline]
    pub(crate) fn value(&self) -> &Bytes {
        &self.value
    }

    /// Replaces the current value with a copy in its own allocation (for
    /// [`DBOptions::owned_values`](crate::DBOptions::owned_values)).
    pub(crate) fn own_value(&mut self) {
        if self.valid {
            self.value = Bytes::copy_from_slice(&self.value);
        }
    }

    /// Rebuilds the merged cursor over `context` (a new view), keeping the
    /// buffers; the cursor is left unpositioned.
    pub(crate) fn rebuild(&mut self, context: &ReadContext) {
        self.cursor = merged_cursor(&context.db, &context.view, &context.bounds);
        self.valid = false;
        self.value = Bytes::new();
    }

    /// Runs `moved` and invalidates the cursor when it fails.
    fn settle(&mut self, moved: Result<()>) -> Result<()> {
        if moved.is_err() {
            self.valid = false;
        }
        moved
    }

    /// To the first visible user entry at or after `user_key` (clamped to
    /// the lower bound).
    pub(crate) fn seek(&mut self, context: &ReadContext, user_key: &[u8]) -> Result<()> {
        let user_key = match context.bounds.lower.as_deref() {
            Some(lower) if user_key < lower => lower,
            _ => user_key,
        };
        let target = encode_target(&mut self.target, user_key, first_version_trailer());
        let moved = self
            .cursor
            .seek(target)
            .and_then(|()| self.find_forward(context));
        self.settle(moved)
    }

    /// To the first visible user entry within the bounds.
    pub(crate) fn seek_to_first(&mut self, context: &ReadContext) -> Result<()> {
        if let Some(lower) = context.bounds.lower.as_deref() {
            return self.seek(context, lower);
        }
        let moved = self
            .cursor
            .seek_to_first()
            .and_then(|()| self.find_forward(context));
        self.settle(moved)
    }

    /// To the last visible user entry at or before `user_key` (clamped to
    /// the upper bound).
    pub(crate) fn seek_for_prev(&mut self, context: &ReadContext, user_key: &[u8]) -> Result<()> {
        if !context.bounds.below_upper(user_key) {
            return self.seek_to_last(context);
        }
        let target = encode_target(&mut self.target, user_key, LAST_VERSION_TRAILER);
        let moved = self
            .cursor
            .seek_for_prev(target)
            .and_then(|()| self.find_backward(context));
        self.settle(moved)
    }

    /// To the last visible user entry within the bounds.
    pub(crate) fn seek_to_last(&mut self, context: &ReadContext) -> Result<()> {
        let moved = match context.bounds.upper.as_deref() {
            Some(upper) => {
                let target = encode_target(&mut self.target, upper, first_version_trailer());
                self.cursor.seek_for_prev(target)
            }
            None => self.cursor.seek_to_last(),
        }
        .and_then(|()| self.find_backward(context));
        self.settle(moved)
    }

    /// To the next visible user entry; stays invalid if it was.
    pub(crate) fn next(&mut self, context: &ReadContext) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        let moved = self
            .rest_after_current()
            .and_then(|()| self.find_forward(context));
        self.settle(moved)
    }

    /// To the previous visible user entry; stays invalid if it was.
    pub(crate) fn prev(&mut self, context: &ReadContext) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        let moved = self
            .rest_before_current()
            .and_then(|()| self.find_backward(context));
        self.settle(moved)
    }

    /// Moves the merged cursor past every version of the current key (a
    /// re-seek when it rests before them).
    fn rest_after_current(&mut self) -> Result<()> {
        if self.side == Side::After {
            return Ok(());
        }
        let target = encode_target(&mut self.target, &self.key, first_version_trailer());
        self.cursor.seek(target)?;
        skip_forward_past(&mut self.cursor, &self.key)
    }

    /// Moves the merged cursor before every version of the current key (a
    /// re-seek when it rests past them).
    fn rest_before_current(&mut self) -> Result<()> {
        if self.side == Side::Before {
            return Ok(());
        }
        let target = encode_target(&mut self.target, &self.key, first_version_trailer());
        self.cursor.seek_for_prev(target)?;
        while self.cursor.valid() && user_key_of(self.cursor.key()) == self.key.as_slice() {
            self.cursor.prev()?;
        }
        Ok(())
    }

    /// From the merged cursor's position forward, to the first visible user
    /// entry below the upper bound.
    fn find_forward(&mut self, context: &ReadContext) -> Result<()> {
        self.side = Side::After;
        self.valid = false;
        while self.cursor.valid() {
            let entry = parse_entry(self.cursor.key())?;
            if !context.bounds.below_upper(entry.user_key) {
                return Ok(());
            }
            if entry.seq > context.seq() {
                self.cursor.next()?;
                continue;
            }
            self.key.clear();
            self.key.extend_from_slice(entry.user_key);
            let kind = entry.kind;
            let value = self.cursor.value().clone();
            self.cursor.next()?;
            let found = match kind {
                ValueKind::Put => Some(value),
                ValueKind::ExpiringPut => context.live(&value)?,
                ValueKind::Delete => None,
                ValueKind::Merge => {
                    Some(merge_forward(&mut self.cursor, context, &self.key, value)?)
                }
            };
            skip_forward_past(&mut self.cursor, &self.key)?;
            if let Some(value) = found {
                self.value = value;
                self.valid = true;
                return Ok(());
            }
        }
        Ok(())
    }

    /// From the merged cursor's position backward, to the last visible user
    /// entry at or above the lower bound.
    fn find_backward(&mut self, context: &ReadContext) -> Result<()> {
        self.side = Side::Before;
        self.valid = false;
        while self.cursor.valid() {
            let current_user_key = user_key_of(self.cursor.key());
            if !context.bounds.above_lower(current_user_key) {
                return Ok(());
            }
            if !context.bounds.below_upper(current_user_key) {
                self.cursor.prev()?;
                continue;
            }
            self.key.clear();
            self.key.extend_from_slice(current_user_key);
            while self.cursor.valid() && user_key_of(self.cursor.key()) == self.key.as_slice() {
                let entry = parse_entry(self.cursor.key())?;
                if entry.seq <= context.seq() {
                    self.fold.feed(context, entry.kind, self.cursor.value())?;
                }
                self.cursor.prev()?;
            }
            if let Some(value) = self.fold.finish(context, &self.key)? {
                self.value = value;
                self.valid = true;
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Collects the operands after `newest_operand` down to their base and
/// resolves them.
fn merge_forward(
    cursor: &mut MergedCursor,
    context: &ReadContext,
    user_key: &[u8],
    newest_operand: Bytes,
) -> Result<Bytes> {
    let mut fold = NewestFirstFold {
        operands: vec![newest_operand],
        base: None,
    };
    while cursor.valid() && user_key_of(cursor.key()) == user_key {
        let kind = parse_entry(cursor.key())?.kind;
        let value = cursor.value().clone();
        cursor.next()?;
        if !fold.feed(kind, value, context.db.options().clock.as_ref())? {
            break;
        }
    }
    context.resolve(user_key, &fold.operands, fold.base.as_deref())
}

/// Moves `cursor` past the older versions of `user_key`.
fn skip_forward_past(cursor: &mut MergedCursor, user_key: &[u8]) -> Result<()> {
    while cursor.valid() && user_key_of(cursor.key()) == user_key {
        cursor.next()?;
    }
    Ok(())
}
