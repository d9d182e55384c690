//! Runs one sequence under one configuration against the model: every read
//! (get, multi_get, scans, snapshot and transaction reads, the whole
//! contents after each reopen and at the end) is compared with the model,
//! and the first difference, error or panic becomes a [`Failure`].

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Bound;
use std::panic::{self, AssertUnwindSafe};

use bytes::Bytes;
use seer_db::{Error, Keyspace, Snapshot, WriteOptions, DB};
use tempfile::TempDir;

use super::model::{walk, Entry, KeySpan, Model};
use super::ops::{KeyId, Op, Scan, TxnStep, Universe, Write, SNAPSHOT_SLOTS};
use super::options::DrawnOptions;
use super::rng::Rng;

/// How one run sets its options: the first ones, and whether each reopen
/// draws new ones (from the reopen's salt and this seed) or keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The options of the first open.
    pub first_options: DrawnOptions,
    /// `Some(seed)`: every `Op::Reopen` draws new options.
    pub redraw_seed: Option<u64>,
}

impl Config {
    /// Configuration `index` of the sequence `seed`: the first keeps its
    /// options at every reopen (the reference run; the issue found that
    /// runs with unchanged options always agreed), the others draw new
    /// ones at every reopen.
    pub fn of_sequence(seed: u64, index: u64) -> Self {
        Self {
            first_options: DrawnOptions::draw(Rng::derived(seed, 1 + index).next_u64()),
            redraw_seed: (index > 0).then(|| Rng::derived(seed, 100 + index).next_u64()),
        }
    }

    /// The options `op` reopens with, given those in force (`None`: `op`
    /// does not reopen).
    pub fn reopen_options(&self, op: &Op, current: &DrawnOptions) -> Option<DrawnOptions> {
        match (op, self.redraw_seed) {
            (Op::Reopen(salt), Some(seed)) => {
                Some(DrawnOptions::draw(Rng::derived(*salt, seed).next_u64()))
            }
            (Op::Reopen(_), None) => Some(current.clone()),
            (Op::ReopenWith(options), _) => Some((**options).clone()),
            _ => None,
        }
    }

    /// `ops` with every `Op::Reopen` replaced by the `Op::ReopenWith` of
    /// the options this configuration draws there.
    pub fn explicit_reopens(&self, ops: &[Op]) -> Vec<Op> {
        let mut current = self.first_options.clone();
        ops.iter()
            .map(|op| match self.reopen_options(op, &current) {
                Some(options) => {
                    current = options.clone();
                    Op::ReopenWith(Box::new(options))
                }
                None => op.clone(),
            })
            .collect()
    }
}

/// What a run that agreed with the model did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Operations run.
    pub ops_count: u64,
    /// Reopens (each with a check of the whole contents).
    pub reopens_count: u64,
    /// Reopens with newly drawn options.
    pub redrawn_reopens_count: u64,
    /// Reads compared with the model.
    pub checks_count: u64,
    /// A digest of everything the database returned, equal across
    /// configurations of one sequence.
    pub digest: u64,
}

/// A difference between the database and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The index of the failing op (`ops.len()` for the final check).
    pub step: usize,
    /// The failing op (or "final check").
    pub op: String,
    /// What the model says.
    pub expected: String,
    /// What the database did.
    pub got: String,
    /// The options in force.
    pub options: Box<DrawnOptions>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "step {}: {}", self.step, self.op)?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  got:      {}", self.got)?;
        write!(f, "  options in force: {:?}", self.options)
    }
}

/// A difference at the current step, before it is placed.
struct Mismatch {
    expected: String,
    got: String,
}

impl Mismatch {
    fn engine(error: &Error) -> Self {
        Self {
            expected: "success".into(),
            got: format!("error: {error}"),
        }
    }
}

type Checked<T = ()> = Result<T, Mismatch>;

/// Runs `ops` under `config` in a fresh directory.
pub fn run(universe: Universe, ops: &[Op], config: &Config) -> Result<RunStats, Failure> {
    let mut runner = Runner::new(universe, config);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| runner.run_all(ops)));
    let mismatch = match outcome {
        Ok(Ok(())) => return Ok(runner.stats),
        Ok(Err(mismatch)) => mismatch,
        Err(payload) => Mismatch {
            expected: "no panic".into(),
            got: format!("panic: {}", panic_message(&payload)),
        },
    };
    Err(Failure {
        step: runner.step,
        op: ops
            .get(runner.step)
            .map_or_else(|| "final check".to_owned(), |op| format!("{op:?}")),
        expected: mismatch.expected,
        got: mismatch.got,
        options: Box::new(runner.options.clone()),
    })
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(not a string)".into())
}

struct Runner<'a> {
    universe: Universe,
    config: &'a Config,
    dir: TempDir,
    options: DrawnOptions,
    db: Option<DB>,
    model: Model,
    /// The named keyspace `second`, open with the database, and its model.
    second: Option<Keyspace>,
    second_model: Model,
    /// Held snapshots and the model as each was taken.
    snapshots: Vec<Option<(Snapshot, Model)>>,
    step: usize,
    stats: RunStats,
    hasher: DefaultHasher,
}

impl<'a> Runner<'a> {
    fn new(universe: Universe, config: &'a Config) -> Self {
        Self {
            universe,
            config,
            dir: tempfile::tempdir().expect("a temporary directory"),
            options: config.first_options.clone(),
            db: None,
            model: Model::new(universe),
            second: None,
            second_model: Model::new(universe),
            snapshots: (0..SNAPSHOT_SLOTS).map(|_| None).collect(),
            step: 0,
            stats: RunStats::default(),
            hasher: DefaultHasher::new(),
        }
    }

    fn run_all(&mut self, ops: &[Op]) -> Checked {
        self.open()?;
        for (step, op) in ops.iter().enumerate() {
            self.step = step;
            self.apply(op)?;
            self.stats.ops_count += 1;
        }
        self.step = ops.len();
        self.check_contents()?;
        let options = self.options.clone();
        self.reopen(options)?;
        self.check_contents()?;
        self.close()?;
        self.stats.digest = self.hasher.finish();
        Ok(())
    }

    fn db(&self) -> &DB {
        self.db.as_ref().expect("the database is open between ops")
    }

    fn open(&mut self) -> Checked {
        let options = self.options.to_db_options(self.universe.merge);
        let db = options
            .open(self.dir.path())
            .map_err(|e| Mismatch::engine(&e))?;
        self.second = Some(db.keyspace("second").map_err(|e| Mismatch::engine(&e))?);
        self.db = Some(db);
        Ok(())
    }

    fn close(&mut self) -> Checked {
        self.snapshots.iter_mut().for_each(|slot| *slot = None);
        self.second = None;
        if let Some(db) = self.db.take() {
            db.close().map_err(|e| Mismatch::engine(&e))?;
        }
        Ok(())
    }

    fn reopen(&mut self, options: DrawnOptions) -> Checked {
        self.close()?;
        self.stats.reopens_count += 1;
        if options != self.options {
            self.stats.redrawn_reopens_count += 1;
        }
        self.options = options;
        self.open()
    }

    fn apply(&mut self, op: &Op) -> Checked {
        match op {
            Op::Write(write) => {
                self.write(*write)?;
                self.model.apply(*write);
                Ok(())
            }
            Op::Batch(writes) => self.batch(writes),
            Op::DeleteRange(a, b) => self.delete_range(*a, *b),
            Op::Transaction { steps, interfere } => self.transaction(steps, *interfere),
            Op::Get(id) => {
                let key = self.universe.key(*id);
                let got = self.db().get(&key).map_err(|e| Mismatch::engine(&e))?;
                self.check_values(vec![self.model.get(&key)], vec![owned(got)])
            }
            Op::MultiGet(ids) => {
                let keys: Vec<Vec<u8>> = ids.iter().map(|&id| self.universe.key(id)).collect();
                let got = self
                    .db()
                    .multi_get(&keys)
                    .map_err(|e| Mismatch::engine(&e))?;
                let expected = keys.iter().map(|key| self.model.get(key)).collect();
                self.check_values(expected, got.into_iter().map(owned).collect())
            }
            Op::Scan(scan) => {
                let db = self.db();
                let got = walk_span(scan, &self.span(scan), |r| db.range(r), |p| db.prefix(p))?;
                self.check_entries(self.model.scan(scan), got)
            }
            Op::TakeSnapshot(slot) => {
                let snapshot = self.db().snapshot();
                self.snapshots[usize::from(*slot)] = Some((snapshot, self.model.clone()));
                Ok(())
            }
            Op::SnapshotGet(slot, id) => {
                let Some((snapshot, model)) = &self.snapshots[usize::from(*slot)] else {
                    return Ok(());
                };
                let key = self.universe.key(*id);
                let got = snapshot.get(&key).map_err(|e| Mismatch::engine(&e))?;
                let expected = model.get(&key);
                self.check_values(vec![expected], vec![owned(got)])
            }
            Op::SnapshotScan(slot, scan) => {
                let span = self.span(scan);
                let Some((snapshot, model)) = &self.snapshots[usize::from(*slot)] else {
                    return Ok(());
                };
                let got = walk_span(scan, &span, |r| snapshot.range(r), |p| snapshot.prefix(p))?;
                let expected = model.scan(scan);
                self.check_entries(expected, got)
            }
            Op::ReleaseSnapshot(slot) => {
                self.snapshots[usize::from(*slot)] = None;
                Ok(())
            }
            Op::Flush => self.db().flush().map_err(|e| Mismatch::engine(&e)),
            Op::SecondBatch(writes) => self.second_batch(writes),
            Op::SecondFlush => self.second().flush().map_err(|e| Mismatch::engine(&e)),
            Op::CheckContents => self.check_contents(),
            Op::CompactRange(range) => self.compact_range(*range),
            Op::Reopen(_) | Op::ReopenWith(_) => {
                let options = self
                    .config
                    .reopen_options(op, &self.options)
                    .expect("a reopen op has options");
                self.reopen(options)
            }
        }
    }

    fn span(&self, scan: &Scan) -> KeySpan {
        KeySpan::of(&self.universe, scan.bounds)
    }

    fn write(&self, write: Write) -> Checked {
        let u = self.universe;
        let db = self.db();
        let outcome = match write {
            Write::Put { key, value } => db.put(u.key(key), u.value(key, value)),
            Write::Delete { key } => db.delete(u.key(key)),
            Write::Merge { key, operand } => db.merge(u.key(key), u.operand(operand)),
        };
        outcome.map_err(|e| Mismatch::engine(&e))
    }

    fn batch(&mut self, writes: &[Write]) -> Checked {
        let u = self.universe;
        let mut batch = self.db().batch();
        for write in writes {
            match *write {
                Write::Put { key, value } => batch.put(u.key(key), u.value(key, value)),
                Write::Delete { key } => batch.delete(u.key(key)),
                Write::Merge { key, operand } => batch.merge(u.key(key), u.operand(operand)),
            };
        }
        self.db()
            .write(batch, WriteOptions::default())
            .map_err(|e| Mismatch::engine(&e))?;
        writes.iter().for_each(|write| self.model.apply(*write));
        Ok(())
    }

    fn second(&self) -> &Keyspace {
        self.second
            .as_ref()
            .expect("the keyspace is open between ops")
    }

    /// A batch across the default keyspace and `second`.
    fn second_batch(&mut self, writes: &[(bool, Write)]) -> Checked {
        let u = self.universe;
        let mut batch = self.db().batch();
        let second = self.second();
        for &(in_second, write) in writes {
            match (in_second, write) {
                (true, Write::Put { key, value }) => {
                    batch.put_in(second, u.key(key), u.value(key, value))
                }
                (true, Write::Delete { key }) => batch.delete_in(second, u.key(key)),
                (_, Write::Put { key, value }) => batch.put(u.key(key), u.value(key, value)),
                (_, Write::Delete { key }) => batch.delete(u.key(key)),
                (_, Write::Merge { key, operand }) => batch.merge(u.key(key), u.operand(operand)),
            };
        }
        self.db()
            .write(batch, WriteOptions::default())
            .map_err(|e| Mismatch::engine(&e))?;
        for &(in_second, write) in writes {
            match (in_second, write) {
                (true, Write::Put { .. } | Write::Delete { .. }) => self.second_model.apply(write),
                _ => self.model.apply(write),
            }
        }
        Ok(())
    }

    fn transaction(&mut self, steps: &[TxnStep], interfere: Option<Write>) -> Checked {
        let u = self.universe;
        let db = self.db().clone();
        let mut transaction = db.begin_transaction();
        let mut view = self.model.clone();
        let mut touched = BTreeSet::new();
        let mut writes = Vec::new();
        for step in steps {
            match *step {
                TxnStep::Get(id) => {
                    let key = u.key(id);
                    let got = transaction.get(&key).map_err(|e| Mismatch::engine(&e))?;
                    self.check_values(vec![view.get(&key)], vec![owned(got)])?;
                    touched.insert(key);
                }
                TxnStep::Write(write) => {
                    match write {
                        Write::Put { key, value } => {
                            transaction.put(u.key(key), u.value(key, value))
                        }
                        Write::Delete { key } => transaction.delete(u.key(key)),
                        Write::Merge { key, operand } => {
                            transaction.merge(u.key(key), u.operand(operand))
                        }
                    }
                    view.apply(write);
                    writes.push(write);
                    touched.insert(u.key(write.key()));
                }
                TxnStep::Scan(scan) => {
                    let span = self.span(&scan);
                    let got = walk_span(
                        &scan,
                        &span,
                        |r| transaction.range(r),
                        |p| transaction.prefix(p),
                    )?;
                    touched.extend(got.iter().map(|(key, _)| key.clone()));
                    self.check_entries(view.scan(&scan), got)?;
                }
            }
        }
        if let Some(write) = interfere {
            self.write(write)?;
            self.model.apply(write);
        }
        let conflict_expected = !writes.is_empty()
            && interfere.is_some_and(|write| touched.contains(&u.key(write.key())));
        match (transaction.commit(), conflict_expected) {
            (Ok(()), false) => {
                writes.into_iter().for_each(|write| self.model.apply(write));
                Ok(())
            }
            (Err(Error::TransactionConflict { .. }), true) => Ok(()),
            (outcome, _) => Err(Mismatch {
                expected: if conflict_expected {
                    "commit fails with TransactionConflict".into()
                } else {
                    "commit succeeds".into()
                },
                got: match outcome {
                    Ok(()) => "commit succeeded".into(),
                    Err(error) => format!("error: {error}"),
                },
            }),
        }
    }

    /// The keys of `a` and `b`, ordered by their bytes.
    fn ordered_keys(&self, a: KeyId, b: KeyId) -> (Vec<u8>, Vec<u8>) {
        let (low, high) = (self.universe.key(a), self.universe.key(b));
        if low > high {
            (high, low)
        } else {
            (low, high)
        }
    }

    fn compact_range(&self, range: Option<(KeyId, KeyId)>) -> Checked {
        let db = self.db();
        let outcome = match range {
            None => db.compact_range::<&[u8]>(..),
            Some((a, b)) => {
                let (low, high) = self.ordered_keys(a, b);
                db.compact_range(low..=high)
            }
        };
        outcome.map_err(|e| Mismatch::engine(&e))
    }

    fn delete_range(&mut self, a: KeyId, b: KeyId) -> Checked {
        let (low, high) = self.ordered_keys(a, b);
        self.db()
            .delete_range(low.as_slice()..high.as_slice())
            .map_err(|e| Mismatch::engine(&e))?;
        self.model.delete_range(&low, &high);
        Ok(())
    }

    /// The whole contents, forward and backward, against the model.
    fn check_contents(&mut self) -> Checked {
        let expected = self
            .model
            .entries(&KeySpan::Range(Bound::Unbounded, Bound::Unbounded));
        let forward = collect(self.db().iter())?;
        self.check_entries(expected.clone(), forward)?;
        let mut backward = collect(self.db().iter().rev())?;
        backward.reverse();
        self.check_entries(expected, backward)?;
        let expected = self
            .second_model
            .entries(&KeySpan::Range(Bound::Unbounded, Bound::Unbounded));
        let second = collect(self.second().iter())?;
        self.check_entries(expected, second)
    }

    fn check_values(
        &mut self,
        expected: Vec<Option<Vec<u8>>>,
        got: Vec<Option<Vec<u8>>>,
    ) -> Checked {
        self.stats.checks_count += 1;
        got.hash(&mut self.hasher);
        if expected == got {
            return Ok(());
        }
        let show = |values: &[Option<Vec<u8>>]| {
            let shown: Vec<String> = values
                .iter()
                .map(|value| value.as_deref().map_or_else(|| "None".into(), show_bytes))
                .collect();
            format!("[{}]", shown.join(", "))
        };
        Err(Mismatch {
            expected: show(&expected),
            got: show(&got),
        })
    }

    fn check_entries(&mut self, expected: Vec<Entry>, got: Vec<Entry>) -> Checked {
        self.stats.checks_count += 1;
        got.hash(&mut self.hasher);
        if expected == got {
            return Ok(());
        }
        let first_difference = expected
            .iter()
            .zip(&got)
            .position(|(e, g)| e != g)
            .unwrap_or(expected.len().min(got.len()));
        let show = |entries: &[Entry]| {
            let shown: Vec<String> = entries
                .iter()
                .skip(first_difference)
                .take(4)
                .map(|(key, value)| format!("{}={}", show_bytes(key), show_bytes(value)))
                .collect();
            format!(
                "{} entries; from #{first_difference}: [{}]",
                entries.len(),
                shown.join(", ")
            )
        };
        Err(Mismatch {
            expected: show(&expected),
            got: show(&got),
        })
    }
}

/// Walks the iterator `range` or `prefix` makes for `span` as `scan` says.
fn walk_span<I>(
    scan: &Scan,
    span: &KeySpan,
    range: impl FnOnce((Bound<Vec<u8>>, Bound<Vec<u8>>)) -> I,
    prefix: impl FnOnce(&[u8]) -> I,
) -> Checked<Vec<Entry>>
where
    I: DoubleEndedIterator<Item = seer_db::Result<(Bytes, Bytes)>>,
{
    let iter = match span {
        KeySpan::Range(low, high) => range((low.clone(), high.clone())),
        KeySpan::Prefix(bytes) => prefix(bytes),
    };
    walk(
        iter.map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec()))),
        scan,
    )
    .map_err(|e| Mismatch::engine(&e))
}

fn collect(iter: impl Iterator<Item = seer_db::Result<(Bytes, Bytes)>>) -> Checked<Vec<Entry>> {
    iter.map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<seer_db::Result<_>>()
        .map_err(|e| Mismatch::engine(&e))
}

fn owned(value: Option<Bytes>) -> Option<Vec<u8>> {
    value.map(|bytes| bytes.to_vec())
}

/// Bytes as escaped text, long ones cut (with their length).
fn show_bytes(bytes: &[u8]) -> String {
    const SHOWN_BYTES: usize = 24;
    if bytes.len() <= SHOWN_BYTES + 8 {
        bytes.escape_ascii().to_string()
    } else {
        format!(
            "{}..({} bytes)",
            bytes[..SHOWN_BYTES].escape_ascii(),
            bytes.len()
        )
    }
}
