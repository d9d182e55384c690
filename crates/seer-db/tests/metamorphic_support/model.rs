//! The model the database is compared with: a `BTreeMap` of user keys to
//! values with the sequence's merge semantics, and the scan walk that the
//! database's iterators and the model's entries both go through.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::ops::{Bounds, Direction, MergeKind, Scan, Universe, Write};

/// An owned `(key, value)` pair.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The expected contents of the database (snapshots are clones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    universe: Universe,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A scan's key range in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpan {
    /// A range of keys.
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
    /// The keys starting with this prefix.
    Prefix(Vec<u8>),
}

impl KeySpan {
    /// The bytes of `bounds` in `universe` (a `Between` is ordered by its
    /// keys' bytes).
    pub fn of(universe: &Universe, bounds: Bounds) -> Self {
        let bound = |id, inclusive| {
            if inclusive {
                Bound::Included(universe.key(id))
            } else {
                Bound::Excluded(universe.key(id))
            }
        };
        match bounds {
            Bounds::All => Self::Range(Bound::Unbounded, Bound::Unbounded),
            Bounds::From { start, inclusive } => {
                Self::Range(bound(start, inclusive), Bound::Unbounded)
            }
            Bounds::To { end, inclusive } => Self::Range(Bound::Unbounded, bound(end, inclusive)),
            Bounds::Between {
                start,
                end,
                end_inclusive,
            } => {
                let (low, high) = if universe.key(start) <= universe.key(end) {
                    (start, end)
                } else {
                    (end, start)
                };
                Self::Range(bound(low, true), bound(high, end_inclusive))
            }
            Bounds::Prefix { index } => Self::Prefix(universe.prefix(index)),
        }
    }
}

impl Model {
    /// An empty database of `universe`.
    pub fn new(universe: Universe) -> Self {
        Self {
            universe,
            map: BTreeMap::new(),
        }
    }

    /// Applies one write.
    pub fn apply(&mut self, write: Write) {
        let universe = self.universe;
        match write {
            Write::Put { key, value } => {
                self.map
                    .insert(universe.key(key), universe.value(key, value));
            }
            Write::Delete { key } => {
                self.map.remove(&universe.key(key));
            }
            Write::Merge { key, operand } => {
                let key = universe.key(key);
                let base = self.map.get(&key).map(Vec::as_slice);
                let value = merged(universe.merge, base, &universe.operand(operand));
                self.map.insert(key, value);
            }
        }
    }

    /// Deletes every key in `low..high`.
    pub fn delete_range(&mut self, low: &[u8], high: &[u8]) {
        self.map
            .retain(|key, _| !(low <= key.as_slice() && key.as_slice() < high));
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    /// Every entry within `span`, in key order.
    pub fn entries(&self, span: &KeySpan) -> Vec<Entry> {
        let pairs: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> = match span {
            KeySpan::Range(low, high) => Box::new(self.map.range((low.clone(), high.clone()))),
            KeySpan::Prefix(prefix) => Box::new(
                self.map
                    .range(prefix.clone()..)
                    .take_while(|(key, _)| key.starts_with(prefix)),
            ),
        };
        pairs.map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// What `scan` yields over this model, in yield order.
    pub fn scan(&self, scan: &Scan) -> Vec<Entry> {
        let entries = self.entries(&KeySpan::of(&self.universe, scan.bounds));
        walk(
            entries.into_iter().map(Ok::<_, std::convert::Infallible>),
            scan,
        )
        .unwrap_or_else(|never| match never {})
    }
}

/// The model's merge: `base` (when present) combined with `operand`.
fn merged(kind: MergeKind, base: Option<&[u8]>, operand: &[u8]) -> Vec<u8> {
    match kind {
        MergeKind::U64Add => {
            let decode = |bytes: &[u8]| {
                u64::from_le_bytes(bytes.try_into().expect("counter keys hold eight bytes"))
            };
            let total = base.map_or(0, decode).wrapping_add(decode(operand));
            total.to_le_bytes().to_vec()
        }
        MergeKind::StringAppend => match base {
            Some(base) => [base, b",", operand].concat(),
            None => operand.to_vec(),
        },
    }
}

/// Walks a double-ended iterator as `scan` says and returns what it
/// yielded, in yield order (the first error ends the walk).
pub fn walk<I, E>(mut iter: I, scan: &Scan) -> Result<Vec<Entry>, E>
where
    I: DoubleEndedIterator<Item = Result<Entry, E>>,
{
    let limit = scan.limit.map_or(usize::MAX, usize::from);
    let mut yielded = Vec::new();
    while yielded.len() < limit {
        let front = match scan.direction {
            Direction::Forward => true,
            Direction::Reverse => false,
            Direction::Alternating => yielded.len().is_multiple_of(2),
        };
        let item = if front { iter.next() } else { iter.next_back() };
        match item {
            Some(entry) => yielded.push(entry?),
            None => break,
        }
    }
    Ok(yielded)
}
