//! From internal entries to user entries: a [`VisibleCursor`] walks a merged
//! cursor in one direction and yields, per user key, the newest version
//! visible at the read's sequence number, hiding tombstones and resolving
//! merge operands (through the DB's one merge-resolution path).
//!
//! Forward, a key's versions arrive newest first: the first visible one
//! decides, and older ones are skipped (merge operands are collected down to
//! their base). Backward they arrive oldest first: every visible version is
//! folded in (a put or tombstone resets the operands collected so far), and
//! the key is decided when the cursor leaves it.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::{
    Corruption, DecodeError, InternalIterator, InternalKey, MergingIterator, ParsedInternalKey,
    SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES,
};

use crate::engine::Engine;
use crate::engine::ReadView;
use crate::error::{Error, Result};
use crate::iter::bounds::KeyBounds;
use crate::iter::source::{merged_cursor, SourceCursor};

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

/// A key's visible versions folded oldest first (the backward walk).
#[derive(Debug, Default)]
struct OldestFirstFold {
    /// The newest put value so far (`None`: absent or deleted).
    base: Option<Bytes>,
    /// Merge operands above `base`, oldest first.
    operands: Vec<Bytes>,
}

impl OldestFirstFold {
    fn feed(&mut self, kind: ValueKind, value: &Bytes) {
        match kind {
            ValueKind::Put => {
                self.base = Some(value.clone());
                self.operands.clear();
            }
            ValueKind::Delete => {
                self.base = None;
                self.operands.clear();
            }
            ValueKind::Merge => self.operands.push(value.clone()),
        }
    }

    /// The key's value, or `None` when it is absent or deleted.
    fn finish(mut self, context: &ReadContext, user_key: &[u8]) -> Result<Option<Bytes>> {
        if self.operands.is_empty() {
            return Ok(self.base);
        }
        self.operands.reverse();
        context
            .resolve(user_key, &self.operands, self.base.as_deref())
            .map(Some)
    }
}

/// A one-directional walk over the user entries of a [`ReadContext`]; see
/// the [module documentation](self).
pub(crate) struct VisibleCursor {
    cursor: MergingIterator<SourceCursor>,
    positioned: bool,
}

impl VisibleCursor {
    /// A cursor over `context` (positioned on first use).
    pub(crate) fn new(context: &ReadContext) -> Self {
        Self {
            cursor: merged_cursor(&context.db, &context.view, &context.bounds),
            positioned: false,
        }
    }

    /// The next user entry in ascending key order.
    pub(crate) fn next_forward(&mut self, context: &ReadContext) -> Result<Option<(Bytes, Bytes)>> {
        if !self.positioned {
            self.positioned = true;
            match &context.bounds.lower {
                Some(lower) => self
                    .cursor
                    .seek(&InternalKey::seek_key(lower.clone(), MAX_SEQ).encode())?,
                None => self.cursor.seek_to_first()?,
            }
        }
        while self.cursor.valid() {
            let entry = parse_entry(self.cursor.key())?;
            if !context.bounds.below_upper(entry.user_key) {
                return Ok(None);
            }
            if entry.seq > context.seq() {
                self.cursor.next()?;
                continue;
            }
            let user_key = Bytes::copy_from_slice(entry.user_key);
            let kind = entry.kind;
            let value = self.cursor.value().clone();
            self.cursor.next()?;
            let found = match kind {
                ValueKind::Put => Some(value),
                ValueKind::Delete => None,
                ValueKind::Merge => Some(self.merge_forward(context, &user_key, value)?),
            };
            self.skip_forward_past(&user_key)?;
            if let Some(value) = found {
                return Ok(Some((user_key, value)));
            }
        }
        Ok(None)
    }

    /// Collects the operands after `newest_operand` down to their base and
    /// resolves them.
    fn merge_forward(
        &mut self,
        context: &ReadContext,
        user_key: &[u8],
        newest_operand: Bytes,
    ) -> Result<Bytes> {
        let mut operands = vec![newest_operand];
        let mut base = None;
        while self.cursor.valid() && user_key_of(self.cursor.key()) == user_key {
            let kind = parse_entry(self.cursor.key())?.kind;
            let value = self.cursor.value().clone();
            self.cursor.next()?;
            match kind {
                ValueKind::Merge => operands.push(value),
                ValueKind::Put => {
                    base = Some(value);
                    break;
                }
                ValueKind::Delete => break,
            }
        }
        context.resolve(user_key, &operands, base.as_deref())
    }

    /// Moves past the older versions of `user_key`.
    fn skip_forward_past(&mut self, user_key: &[u8]) -> Result<()> {
        while self.cursor.valid() && user_key_of(self.cursor.key()) == user_key {
            self.cursor.next()?;
        }
        Ok(())
    }

    /// The next user entry in descending key order.
    pub(crate) fn next_backward(
        &mut self,
        context: &ReadContext,
    ) -> Result<Option<(Bytes, Bytes)>> {
        if !self.positioned {
            self.positioned = true;
            match &context.bounds.upper {
                Some(upper) => self
                    .cursor
                    .seek_for_prev(&InternalKey::seek_key(upper.clone(), MAX_SEQ).encode())?,
                None => self.cursor.seek_to_last()?,
            }
        }
        while self.cursor.valid() {
            let current_user_key = user_key_of(self.cursor.key());
            if !context.bounds.above_lower(current_user_key) {
                return Ok(None);
            }
            let user_key = Bytes::copy_from_slice(current_user_key);
            let mut fold = OldestFirstFold::default();
            while self.cursor.valid() && user_key_of(self.cursor.key()) == user_key {
                let entry = parse_entry(self.cursor.key())?;
                if entry.seq <= context.seq() {
                    fold.feed(entry.kind, self.cursor.value());
                }
                self.cursor.prev()?;
            }
            if let Some(value) = fold.finish(context, &user_key)? {
                return Ok(Some((user_key, value)));
            }
        }
        Ok(None)
    }
}
