//! The operations of a metamorphic sequence, as data: what a sequence's
//! keys, values and merge operands are ([`Universe`]), the operations
//! ([`Op`]), their generator ([`generate`]) and their printing as Rust
//! literals (so a reduced sequence pastes into a regression test).

use std::fmt;

use seer_db::{DBOptions, StringAppendOperator, U64AddOperator};

use super::options::DrawnOptions;
use super::rng::Rng;

/// A key, by its index in the sequence's key space.
pub type KeyId = u16;

/// Snapshot slots a sequence juggles.
pub const SNAPSHOT_SLOTS: u8 = 4;

/// The merge operator of a whole sequence (it cannot change between
/// reopens: operands on disk need it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// `U64AddOperator`: counters; merges go to counter keys only, whose
    /// values are always eight bytes.
    U64Add,
    /// `StringAppendOperator` with `,`: merges go to every key.
    StringAppend,
}

impl MergeKind {
    /// `options` with this operator installed.
    pub fn install(self, options: DBOptions) -> DBOptions {
        match self {
            Self::U64Add => options.merge_operator(U64AddOperator),
            Self::StringAppend => options.merge_operator(StringAppendOperator::new(",")),
        }
    }
}

/// What a sequence's key ids, value tags and operand numbers stand for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Universe {
    /// The merge operator.
    pub merge: MergeKind,
    /// Writes touch keys `0..key_count`; reads also ask a few beyond.
    pub key_count: KeyId,
}

/// Prefixes that prefix scans ask for (the empty one and one no key has
/// among them).
const PREFIXES: [&[u8]; 8] = [b"a", b"b", b"c", b"a00", b"b001", b"c0005", b"d", b""];

impl Universe {
    /// The bytes of key `id`: `a`, `b` or `c`, four digits, and for one id
    /// in eleven a long tail (100 to 800 bytes).
    pub fn key(&self, id: KeyId) -> Vec<u8> {
        let lead = b"abc"[usize::from(id % 3)] as char;
        let mut key = format!("{lead}{id:04}").into_bytes();
        if id % 11 == 5 {
            let tail_bytes = 100 + (usize::from(id) * 37) % 700;
            key.push(b'-');
            key.extend((0..tail_bytes).map(|i| b'k' + (i % 7) as u8));
        }
        key
    }

    /// Whether `id` takes merges (its values are then operator-shaped).
    pub fn is_counter(&self, id: KeyId) -> bool {
        match self.merge {
            MergeKind::U64Add => id.is_multiple_of(4),
            MergeKind::StringAppend => true,
        }
    }

    /// The value a put of tag `tag` writes to key `id`: eight bytes on a
    /// counter key, otherwise a tagged string, long (500 B to 4.5 KiB) for
    /// one tag in seven.
    pub fn value(&self, id: KeyId, tag: u32) -> Vec<u8> {
        if self.merge == MergeKind::U64Add && self.is_counter(id) {
            return u64::from(tag).to_le_bytes().to_vec();
        }
        let length_bytes = if tag.is_multiple_of(7) {
            500 + (tag as usize % 4000)
        } else {
            tag as usize % 48
        };
        let mut value = format!("{id}={tag};").into_bytes();
        let fill = length_bytes.saturating_sub(value.len());
        value.extend((0..fill).map(|i| b'a' + (i % 26) as u8));
        value
    }

    /// The merge operand numbered `n`.
    pub fn operand(&self, n: u32) -> Vec<u8> {
        match self.merge {
            MergeKind::U64Add => u64::from(n % 1000).to_le_bytes().to_vec(),
            MergeKind::StringAppend => format!("+{n}").into_bytes(),
        }
    }

    /// The bytes of prefix number `index`.
    pub fn prefix(&self, index: u8) -> Vec<u8> {
        PREFIXES[usize::from(index) % PREFIXES.len()].to_vec()
    }
}

/// A single write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `put(key, universe.value(key, value))`.
    Put {
        /// The key.
        key: KeyId,
        /// The value's tag.
        value: u32,
    },
    /// `delete(key)`.
    Delete {
        /// The key.
        key: KeyId,
    },
    /// `merge(key, universe.operand(operand))`.
    Merge {
        /// The key.
        key: KeyId,
        /// The operand's number.
        operand: u32,
    },
}

impl Write {
    /// The key written.
    pub fn key(&self) -> KeyId {
        match *self {
            Self::Put { key, .. } | Self::Delete { key } | Self::Merge { key, .. } => key,
        }
    }
}

/// The key range of a scan.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// Every key.
    All,
    /// From a key on.
    From {
        /// The first key.
        start: KeyId,
        /// Whether `start` itself is in.
        inclusive: bool,
    },
    /// Up to a key.
    To {
        /// The last key.
        end: KeyId,
        /// Whether `end` itself is in.
        inclusive: bool,
    },
    /// Between two keys (the runner orders them by their bytes).
    Between {
        /// One end, included.
        start: KeyId,
        /// The other end.
        end: KeyId,
        /// Whether the upper end is in.
        end_inclusive: bool,
    },
    /// The keys starting with prefix number `index`.
    Prefix {
        /// Index into the prefixes.
        index: u8,
    },
}

/// How a scan walks its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `next` only.
    Forward,
    /// `next_back` only.
    Reverse,
    /// `next`, `next_back`, `next`, ... until the ends meet.
    Alternating,
}

/// A scan: range, direction and how many entries to take at most.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// The range.
    pub bounds: Bounds,
    /// The walk.
    pub direction: Direction,
    /// Stop after this many entries (`None`: to the end).
    pub limit: Option<u16>,
}

/// One step inside a transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TxnStep {
    /// `transaction.get(key)`.
    Get(KeyId),
    /// A buffered write.
    Write(Write),
    /// A scan through the transaction (its yielded keys join the read set).
    Scan(Scan),
}

/// One operation of a sequence.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// A single put, delete or merge.
    Write(Write),
    /// An atomic batch.
    Batch(Vec<Write>),
    /// Begin, the steps, then (if any) a plain write by someone else, then
    /// commit: a conflict is expected exactly when the transaction wrote
    /// something and the other write hit a key it read or wrote.
    Transaction {
        /// What the transaction does.
        steps: Vec<TxnStep>,
        /// The plain write between the steps and the commit.
        interfere: Option<Write>,
    },
    /// `delete_range(low..high)` of two keys ordered by their bytes (empty
    /// when they are equal).
    DeleteRange(KeyId, KeyId),
    /// `get`.
    Get(KeyId),
    /// `multi_get`.
    MultiGet(Vec<KeyId>),
    /// A scan of the database.
    Scan(Scan),
    /// Takes a snapshot into a slot (releasing the one there).
    TakeSnapshot(u8),
    /// `get` through a held snapshot (nothing when the slot is empty).
    SnapshotGet(u8, KeyId),
    /// A scan through a held snapshot (nothing when the slot is empty).
    SnapshotScan(u8, Scan),
    /// Drops a held snapshot.
    ReleaseSnapshot(u8),
    /// `flush`.
    Flush,
    /// An atomic batch across the default keyspace and the named keyspace
    /// `second` (each write's flag: in `second`; puts and deletes only
    /// there, which has no merge operator).
    SecondBatch(Vec<(bool, Write)>),
    /// `flush` of the keyspace `second`.
    SecondFlush,
    /// `compact_range` over two keys (ordered by their bytes), or `..`.
    CompactRange(Option<(KeyId, KeyId)>),
    /// Close and reopen; configurations that redraw options draw them from
    /// this salt.
    Reopen(u64),
    /// Compares the whole contents, forward and backward, with the model
    /// (the generator puts one after every reopen, and its churn).
    CheckContents,
    /// Close and reopen with these options (what a reduced sequence prints
    /// for each `Reopen`, so it does not depend on the option draw).
    ReopenWith(Box<DrawnOptions>),
}

/// Draws a sequence from `seed`.
pub fn generate(seed: u64) -> (Universe, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let universe = Universe {
        merge: if rng.chance(1, 2) {
            MergeKind::U64Add
        } else {
            MergeKind::StringAppend
        },
        key_count: rng.between(8, 300) as KeyId,
    };
    let length = rng.between_usize(300, 2500);
    let mut generator = Generator { rng, universe };
    let mut ops = Vec::with_capacity(length);
    while ops.len() < length {
        let op = generator.op();
        let reopened = matches!(op, Op::Reopen(_));
        ops.push(op);
        if reopened {
            if generator.rng.chance(1, 2) {
                generator.churn(&mut ops);
            }
            ops.push(Op::CheckContents);
        }
    }
    (universe, ops)
}

/// Draws operations for one [`Universe`].
struct Generator {
    rng: Rng,
    universe: Universe,
}

impl Generator {
    /// A key that writes touch: half the time one of the eight hottest.
    fn written_key(&mut self) -> KeyId {
        let count = u64::from(self.universe.key_count);
        let id = if self.rng.chance(1, 2) {
            self.rng.below(count.min(8))
        } else {
            self.rng.below(count)
        };
        id as KeyId
    }

    /// A key that reads ask for: mostly written ones, a few never written.
    fn read_key(&mut self) -> KeyId {
        if self.rng.chance(1, 10) {
            self.universe.key_count + self.rng.below(4) as KeyId
        } else {
            self.written_key()
        }
    }

    fn write(&mut self) -> Write {
        loop {
            let key = self.written_key();
            match self.rng.weighted(&[5, 2, 3]) {
                0 => {
                    return Write::Put {
                        key,
                        value: self.rng.below(1 << 20) as u32,
                    }
                }
                1 => return Write::Delete { key },
                _ if self.universe.is_counter(key) => {
                    return Write::Merge {
                        key,
                        operand: self.rng.below(1 << 20) as u32,
                    }
                }
                _ => continue,
            }
        }
    }

    fn bounds(&mut self) -> Bounds {
        match self.rng.weighted(&[1, 2, 2, 4, 2]) {
            0 => Bounds::All,
            1 => Bounds::From {
                start: self.read_key(),
                inclusive: self.rng.chance(1, 2),
            },
            2 => Bounds::To {
                end: self.read_key(),
                inclusive: self.rng.chance(1, 2),
            },
            3 => Bounds::Between {
                start: self.read_key(),
                end: self.read_key(),
                end_inclusive: self.rng.chance(1, 2),
            },
            _ => Bounds::Prefix {
                index: self.rng.below(PREFIXES.len() as u64) as u8,
            },
        }
    }

    fn scan(&mut self) -> Scan {
        let direction = match self.rng.weighted(&[3, 2, 1]) {
            0 => Direction::Forward,
            1 => Direction::Reverse,
            _ => Direction::Alternating,
        };
        Scan {
            bounds: self.bounds(),
            direction,
            limit: self
                .rng
                .chance(1, 3)
                .then(|| self.rng.between(1, 20) as u16),
        }
    }

    fn slot(&mut self) -> u8 {
        self.rng.below(u64::from(SNAPSHOT_SLOTS)) as u8
    }

    fn transaction(&mut self) -> Op {
        let count = self.rng.between_usize(1, 8);
        let steps = (0..count)
            .map(|_| match self.rng.weighted(&[3, 4, 1]) {
                0 => TxnStep::Get(self.read_key()),
                1 => TxnStep::Write(self.write()),
                _ => TxnStep::Scan(self.scan()),
            })
            .collect();
        let interfere = self.rng.chance(1, 3).then(|| self.write());
        Op::Transaction { steps, interfere }
    }

    /// Right after a reopen, while the background work the new options
    /// call for (a tree reshaped by a new size ratio or base level) is
    /// still running: a full compaction (of what recovery flushed), writes
    /// to the hot keys, a flush and another compaction.
    fn churn(&mut self, ops: &mut Vec<Op>) {
        if self.rng.chance(1, 2) {
            ops.push(Op::CompactRange(None));
        }
        for _ in 0..self.rng.between(1, 8) {
            ops.push(Op::Write(self.write()));
        }
        ops.push(Op::Flush);
        if self.rng.chance(1, 2) {
            ops.push(Op::CompactRange(None));
        }
    }

    fn op(&mut self) -> Op {
        let weights = [30, 5, 4, 15, 4, 6, 2, 4, 2, 1, 3, 4, 2, 2, 4, 1];
        match self.rng.weighted(&weights) {
            0 => Op::Write(self.write()),
            1 => {
                let count = self.rng.between_usize(1, 12);
                Op::Batch((0..count).map(|_| self.write()).collect())
            }
            2 => self.transaction(),
            3 => Op::Get(self.read_key()),
            4 => {
                let count = self.rng.between_usize(1, 10);
                Op::MultiGet((0..count).map(|_| self.read_key()).collect())
            }
            5 => Op::Scan(self.scan()),
            6 => Op::TakeSnapshot(self.slot()),
            7 => Op::SnapshotGet(self.slot(), self.read_key()),
            8 => Op::SnapshotScan(self.slot(), self.scan()),
            9 => Op::ReleaseSnapshot(self.slot()),
            10 => Op::Flush,
            11 => Op::CompactRange(
                self.rng
                    .chance(1, 2)
                    .then(|| (self.read_key(), self.read_key())),
            ),
            12 => Op::Reopen(self.rng.next_u64()),
            13 => Op::DeleteRange(self.written_key(), self.written_key()),
            14 => {
                let count = self.rng.between_usize(1, 8);
                Op::SecondBatch(
                    (0..count)
                        .map(|_| {
                            let write = self.write();
                            let in_second =
                                !matches!(write, Write::Merge { .. }) && self.rng.chance(2, 3);
                            (in_second, write)
                        })
                        .collect(),
                )
            }
            _ => Op::SecondFlush,
        }
    }
}

/// `vec![a, b, ...]` of the items' Debug forms.
struct VecLiteral<'a, T>(&'a [T]);

impl<T: fmt::Debug> fmt::Debug for VecLiteral<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("vec![")?;
        for (index, item) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item:?}")?;
        }
        f.write_str("]")
    }
}

// The Debug forms below are Rust expressions, so a printed sequence can be
// pasted into a regression test as it is.

impl fmt::Debug for Universe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Universe {{ merge: MergeKind::{:?}, key_count: {} }}",
            self.merge, self.key_count
        )
    }
}

impl fmt::Debug for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Put { key, value } => write!(f, "Write::Put {{ key: {key}, value: {value} }}"),
            Self::Delete { key } => write!(f, "Write::Delete {{ key: {key} }}"),
            Self::Merge { key, operand } => {
                write!(f, "Write::Merge {{ key: {key}, operand: {operand} }}")
            }
        }
    }
}

impl fmt::Debug for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::All => f.write_str("Bounds::All"),
            Self::From { start, inclusive } => write!(
                f,
                "Bounds::From {{ start: {start}, inclusive: {inclusive} }}"
            ),
            Self::To { end, inclusive } => {
                write!(f, "Bounds::To {{ end: {end}, inclusive: {inclusive} }}")
            }
            Self::Between {
                start,
                end,
                end_inclusive,
            } => write!(
                f,
                "Bounds::Between {{ start: {start}, end: {end}, end_inclusive: {end_inclusive} }}"
            ),
            Self::Prefix { index } => write!(f, "Bounds::Prefix {{ index: {index} }}"),
        }
    }
}

impl fmt::Debug for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Scan {{ bounds: {:?}, direction: Direction::{:?}, limit: {:?} }}",
            self.bounds, self.direction, self.limit
        )
    }
}

impl fmt::Debug for TxnStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Get(key) => write!(f, "TxnStep::Get({key})"),
            Self::Write(write) => write!(f, "TxnStep::Write({write:?})"),
            Self::Scan(scan) => write!(f, "TxnStep::Scan({scan:?})"),
        }
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write(write) => write!(f, "Op::Write({write:?})"),
            Self::Batch(writes) => write!(f, "Op::Batch({:?})", VecLiteral(writes)),
            Self::Transaction { steps, interfere } => write!(
                f,
                "Op::Transaction {{ steps: {:?}, interfere: {interfere:?} }}",
                VecLiteral(steps)
            ),
            Self::DeleteRange(a, b) => write!(f, "Op::DeleteRange({a}, {b})"),
            Self::Get(key) => write!(f, "Op::Get({key})"),
            Self::MultiGet(keys) => write!(f, "Op::MultiGet({:?})", VecLiteral(keys)),
            Self::Scan(scan) => write!(f, "Op::Scan({scan:?})"),
            Self::TakeSnapshot(slot) => write!(f, "Op::TakeSnapshot({slot})"),
            Self::SnapshotGet(slot, key) => write!(f, "Op::SnapshotGet({slot}, {key})"),
            Self::SnapshotScan(slot, scan) => write!(f, "Op::SnapshotScan({slot}, {scan:?})"),
            Self::ReleaseSnapshot(slot) => write!(f, "Op::ReleaseSnapshot({slot})"),
            Self::Flush => f.write_str("Op::Flush"),
            Self::SecondBatch(writes) => write!(f, "Op::SecondBatch({:?})", VecLiteral(writes)),
            Self::SecondFlush => f.write_str("Op::SecondFlush"),
            Self::CompactRange(range) => write!(f, "Op::CompactRange({range:?})"),
            Self::Reopen(salt) => write!(f, "Op::Reopen({salt})"),
            Self::CheckContents => f.write_str("Op::CheckContents"),
            Self::ReopenWith(options) => write!(f, "Op::ReopenWith(Box::new({options:?}))"),
        }
    }
}
