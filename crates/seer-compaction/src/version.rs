//! [`Version`]: one immutable snapshot of the tree's shape, shared with
//! `Arc`. Levels hold sorted runs, newest first; a run holds tables with
//! disjoint key ranges, ordered by key; level 0 receives one run per flush.
//!
//! A version is built from the previous one by [`Version::apply`], which
//! shares the unchanged tables' `Arc<TableMeta>`s, so a table is referenced
//! exactly as long as some live version lists it.
//!
//! [`Version::check_invariants`] is the net under the picker: every run
//! sorted and disjoint, file numbers unique, runs of a level newest first,
//! and newer data never read after older data (see the method for the exact
//! rule). The version set runs it on every version it installs or recovers
//! when [`INVARIANT_CHECKS`] is on.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::cost::{monkey_bits_per_key, LevelShape};
use crate::edit::VersionEdit;
use crate::TableMeta;

/// An edit that does not fit the version it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The edit names a level the version does not have.
    #[error("level {level} out of range (the tree has {levels_count} levels)")]
    LevelOutOfRange {
        /// The level named.
        level: usize,
        /// Levels of the version.
        levels_count: usize,
    },
    /// A removed table is not on the named level.
    #[error("table {file_number} is not on level {level}")]
    MissingTable {
        /// The level named.
        level: usize,
        /// The table.
        file_number: u64,
    },
    /// A created keyspace has id 0 (the default's), or an id or a name a
    /// live keyspace has.
    #[error("keyspace {name:?} (id {id}) clashes with a live keyspace")]
    KeyspaceClash {
        /// The id created.
        id: u32,
        /// The name created.
        name: String,
    },
    /// An added table is already in the version.
    #[error("table {file_number} is already in the version")]
    DuplicateTable {
        /// The table.
        file_number: u64,
    },
    /// An added table's key range overlaps a table of the same run.
    #[error("table {file_number} overlaps table {other} in run {run_id} of level {level}")]
    OverlapInRun {
        /// The level.
        level: usize,
        /// The run.
        run_id: u64,
        /// The added table.
        file_number: u64,
        /// The table it overlaps.
        other: u64,
    },
}

/// Whether [`Version::check_invariants`] runs on every installed version:
/// in debug builds (every test build) and with the `invariants` feature
/// (the fuzz targets turn it on); release builds without it skip the
/// `O(tables)` walk.
pub const INVARIANT_CHECKS: bool = cfg!(any(debug_assertions, feature = "invariants"));

/// A version that breaks one of the tree's invariants (a bug in whatever
/// built it: the picker, the executor or a hand-made edit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// A table's bounds are inconsistent: its smallest key above its
    /// largest, or its boundary keys' sequence numbers outside its sequence
    /// range.
    #[error("table {file_number} on level {level} has inconsistent bounds: {detail}")]
    TableBounds {
        /// The level.
        level: usize,
        /// The table.
        file_number: u64,
        /// What is wrong.
        detail: String,
    },
    /// Two tables of a run are out of key order or share user keys.
    #[error(
        "run {run_id} of level {level}: table {file_number} does not start after table {previous} ends"
    )]
    RunNotSorted {
        /// The level.
        level: usize,
        /// The run.
        run_id: u64,
        /// The earlier table of the run.
        previous: u64,
        /// The table that should start after it.
        file_number: u64,
    },
    /// A file number is listed twice.
    #[error("table {file_number} is listed twice (levels {first_level} and {second_level})")]
    DuplicateFile {
        /// The table.
        file_number: u64,
        /// Where it is listed first.
        first_level: usize,
        /// Where it is listed again.
        second_level: usize,
    },
    /// A level's runs are not in strictly decreasing id order, or a run is
    /// empty.
    #[error("level {level}: run {run_id} follows run {previous} (runs must be newest first and non-empty)")]
    RunOrder {
        /// The level.
        level: usize,
        /// The run before it (0 when the run itself is empty).
        previous: u64,
        /// The run out of place.
        run_id: u64,
    },
    /// A table a flush or compaction wrote is out of order, reads back
    /// differently from what was written, or holds keys or sequence numbers
    /// its inputs did not.
    #[error("output table {file_number} {detail}")]
    Output {
        /// The table.
        file_number: u64,
        /// What is wrong.
        detail: String,
    },
    /// A compaction kept an expiring put that had expired at its start, or
    /// one whose value is too short for its expiry.
    #[error("compaction kept expiring put {key}: {detail}")]
    ExpiringSurvivor {
        /// The entry's internal key, printed.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// A table read later holds data newer than a table read earlier whose
    /// key range overlaps it: a point read could return the older version.
    #[error(
        "newer data below older data: table {later_file_number} (run {later_run_id} of level {later_level}) holds sequence numbers up to {later_largest_seq} \
         but is read after table {earlier_file_number} (run {earlier_run_id} of level {earlier_level}), whose data goes down to {earlier_smallest_seq}, and their key ranges overlap"
    )]
    NewerBelowOlder {
        /// The level of the table read first.
        earlier_level: usize,
        /// Its run.
        earlier_run_id: u64,
        /// The table read first.
        earlier_file_number: u64,
        /// Its smallest sequence number.
        earlier_smallest_seq: u64,
        /// The level of the table read later.
        later_level: usize,
        /// Its run.
        later_run_id: u64,
        /// The table read later.
        later_file_number: u64,
        /// Its largest sequence number.
        later_largest_seq: u64,
    },
}

/// A sorted run: tables with disjoint key ranges, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedRun {
    run_id: u64,
    tables: Vec<Arc<TableMeta>>,
    size_bytes: u64,
    entry_count: u64,
}

impl SortedRun {
    fn new(run_id: u64) -> Self {
        Self {
            run_id,
            tables: Vec::new(),
            size_bytes: 0,
            entry_count: 0,
        }
    }

    /// The run's id; a larger id is a newer run.
    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// The tables, in key order.
    pub fn tables(&self) -> &[Arc<TableMeta>] {
        &self.tables
    }

    /// Bytes of all its table files.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Entries of all its tables.
    pub fn entry_count(&self) -> u64 {
        self.entry_count
    }

    /// The smallest and largest user key of the run.
    pub fn user_key_range(&self) -> Option<(&[u8], &[u8])> {
        let first = self.tables.first()?;
        let last = self.tables.last()?;
        Some((first.smallest.user_key(), last.largest.user_key()))
    }

    /// The one table that may hold `user_key`.
    pub fn table_for_key(&self, user_key: &[u8]) -> Option<&Arc<TableMeta>> {
        let index = self
            .tables
            .partition_point(|t| t.largest.user_key().as_ref() < user_key);
        self.tables
            .get(index)
            .filter(|t| t.smallest.user_key().as_ref() <= user_key)
    }

    /// The smallest and largest sequence number of any entry of the run.
    pub fn seq_range(&self) -> Option<(u64, u64)> {
        let smallest = self.tables.iter().map(|t| t.smallest_seq).min()?;
        let largest = self.tables.iter().map(|t| t.largest_seq).max()?;
        Some((smallest, largest))
    }

    /// The tables whose user-key range meets `[start, end]`.
    pub fn overlapping_tables(&self, start: &[u8], end: &[u8]) -> &[Arc<TableMeta>] {
        let from = self
            .tables
            .partition_point(|t| t.largest.user_key().as_ref() < start);
        let to = self
            .tables
            .partition_point(|t| t.smallest.user_key().as_ref() <= end);
        &self.tables[from..to.max(from)]
    }

    /// Whether any table meets `[start, end]`.
    pub fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        !self.overlapping_tables(start, end).is_empty()
    }

    fn insert(&mut self, level: usize, meta: Arc<TableMeta>) -> Result<(), EditError> {
        let index = self
            .tables
            .partition_point(|t| compare_smallest(t, &meta) == Ordering::Less);
        let neighbours = [index.checked_sub(1), Some(index)];
        for other in neighbours.into_iter().flatten() {
            if let Some(other) = self.tables.get(other) {
                if user_ranges_meet(other, &meta) {
                    return Err(EditError::OverlapInRun {
                        level,
                        run_id: self.run_id,
                        file_number: meta.file_number,
                        other: other.file_number,
                    });
                }
            }
        }
        self.size_bytes += meta.file_size_bytes;
        self.entry_count += meta.entry_count;
        self.tables.insert(index, meta);
        Ok(())
    }

    fn remove(&mut self, file_number: u64) -> bool {
        let Some(index) = self
            .tables
            .iter()
            .position(|t| t.file_number == file_number)
        else {
            return false;
        };
        let meta = self.tables.remove(index);
        self.size_bytes -= meta.file_size_bytes;
        self.entry_count -= meta.entry_count;
        true
    }
}

/// A run's tables: consistent bounds, in key order, disjoint.
fn check_run_tables(level: usize, run: &SortedRun) -> Result<(), InvariantViolation> {
    for table in &run.tables {
        let bad_bounds = |detail: String| InvariantViolation::TableBounds {
            level,
            file_number: table.file_number,
            detail,
        };
        if table.smallest > table.largest {
            return Err(bad_bounds("smallest key above largest key".to_owned()));
        }
        let seqs = table.smallest_seq..=table.largest_seq;
        if !seqs.contains(&table.smallest.seq()) || !seqs.contains(&table.largest.seq()) {
            return Err(bad_bounds(format!(
                "boundary keys at sequence numbers {} and {} outside {}..={}",
                table.smallest.seq(),
                table.largest.seq(),
                table.smallest_seq,
                table.largest_seq
            )));
        }
    }
    for pair in run.tables.windows(2) {
        if pair[0].largest.user_key() >= pair[1].smallest.user_key() {
            return Err(InvariantViolation::RunNotSorted {
                level,
                run_id: run.run_id,
                previous: pair[0].file_number,
                file_number: pair[1].file_number,
            });
        }
    }
    Ok(())
}

fn compare_smallest(a: &TableMeta, b: &TableMeta) -> Ordering {
    a.smallest.cmp(&b.smallest)
}

fn user_ranges_meet(a: &TableMeta, b: &TableMeta) -> bool {
    a.smallest.user_key() <= b.largest.user_key() && b.smallest.user_key() <= a.largest.user_key()
}

/// One level: its sorted runs, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Level {
    runs: Vec<SortedRun>,
}

impl Level {
    /// The runs, newest (largest id) first.
    pub fn runs(&self) -> &[SortedRun] {
        &self.runs
    }

    /// Bytes of all tables on the level.
    pub fn size_bytes(&self) -> u64 {
        self.runs.iter().map(SortedRun::size_bytes).sum()
    }

    /// Entries of all tables on the level.
    pub fn entry_count(&self) -> u64 {
        self.runs.iter().map(SortedRun::entry_count).sum()
    }

    /// Tables on the level.
    pub fn table_count(&self) -> usize {
        self.runs.iter().map(|r| r.tables.len()).sum()
    }

    /// Whether the level holds no table.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Whether any run meets `[start, end]`.
    pub fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        self.runs.iter().any(|r| r.overlaps(start, end))
    }

    fn run_mut(&mut self, run_id: u64) -> &mut SortedRun {
        let index = self.runs.partition_point(|r| r.run_id > run_id);
        if self.runs.get(index).is_none_or(|r| r.run_id != run_id) {
            self.runs.insert(index, SortedRun::new(run_id));
        }
        &mut self.runs[index]
    }
}

/// The tree's shape at one moment: a fixed number of levels of sorted runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    levels: Vec<Level>,
}

impl Version {
    /// An empty tree of `levels_count` levels (level 0 included).
    pub fn empty(levels_count: usize) -> Self {
        Self {
            levels: vec![Level::default(); levels_count.max(2)],
        }
    }

    /// The levels, level 0 first.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Level `index`.
    pub fn level(&self, index: usize) -> Option<&Level> {
        self.levels.get(index)
    }

    /// Index of the largest (last) level.
    pub fn last_level(&self) -> usize {
        self.levels.len() - 1
    }

    /// Every run in read order (newest data first): level 0's runs newest
    /// first, then level 1's, and so on.
    pub fn runs_newest_first(&self) -> impl Iterator<Item = (usize, &SortedRun)> + '_ {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(index, level)| level.runs.iter().map(move |run| (index, run)))
    }

    /// Every table with its level.
    pub fn tables(&self) -> impl Iterator<Item = (usize, &Arc<TableMeta>)> + '_ {
        self.runs_newest_first()
            .flat_map(|(level, run)| run.tables.iter().map(move |t| (level, t)))
    }

    /// The file numbers of every table.
    pub fn live_file_numbers(&self) -> BTreeSet<u64> {
        self.tables().map(|(_, t)| t.file_number).collect()
    }

    /// Sorted runs in the whole tree (what a lookup may probe).
    pub fn runs_count(&self) -> usize {
        self.levels.iter().map(|l| l.runs.len()).sum()
    }

    /// Bytes of all tables.
    pub fn size_bytes(&self) -> u64 {
        self.levels.iter().map(Level::size_bytes).sum()
    }

    /// Entries of all tables.
    pub fn entry_count(&self) -> u64 {
        self.levels.iter().map(Level::entry_count).sum()
    }

    /// The level shapes the filter allocation works on.
    pub fn level_shapes(&self) -> Vec<LevelShape> {
        self.levels
            .iter()
            .map(|level| LevelShape {
                entries_count: level.entry_count() as f64,
                runs_count: level.runs.len() as f64,
            })
            .collect()
    }

    /// Monkey's bloom bits per key for a new run of `entries_count` entries
    /// written to `level`, keeping the whole tree at `bits_per_entry` on
    /// average: smaller runs get more bits.
    pub fn filter_bits_per_key(
        &self,
        level: usize,
        entries_count: u64,
        bits_per_entry: f64,
    ) -> f64 {
        let mut shapes = self.level_shapes();
        let Some(shape) = shapes.get_mut(level) else {
            return bits_per_entry;
        };
        shape.entries_count += entries_count as f64;
        shape.runs_count += 1.0;
        monkey_bits_per_key(&shapes, bits_per_entry)[level]
    }

    /// The version after `edit`: removals first, then additions. The input
    /// is untouched; unchanged tables are shared.
    pub fn apply(&self, edit: &VersionEdit) -> Result<Self, EditError> {
        let mut next = self.clone();
        for removed in &edit.removed_tables {
            let level = next.level_mut(removed.level)?;
            let found = level
                .runs
                .iter_mut()
                .any(|run| run.remove(removed.file_number));
            if !found {
                return Err(EditError::MissingTable {
                    level: removed.level,
                    file_number: removed.file_number,
                });
            }
            level.runs.retain(|run| !run.tables.is_empty());
        }
        let live = next.live_file_numbers();
        let mut added = BTreeSet::new();
        for table in &edit.added_tables {
            let file_number = table.meta.file_number;
            if live.contains(&file_number) || !added.insert(file_number) {
                return Err(EditError::DuplicateTable { file_number });
            }
            next.level_mut(table.level)?
                .run_mut(table.run_id)
                .insert(table.level, Arc::clone(&table.meta))?;
        }
        Ok(next)
    }

    fn level_mut(&mut self, level: usize) -> Result<&mut Level, EditError> {
        let levels_count = self.levels.len();
        self.levels
            .get_mut(level)
            .ok_or(EditError::LevelOutOfRange {
                level,
                levels_count,
            })
    }

    /// Checks the tree's invariants, in read order (level 0 first, each
    /// level's runs newest first, which is the order point reads and
    /// iterators consult them):
    ///
    /// - each table's smallest key is at most its largest, and its boundary
    ///   keys' sequence numbers lie in its `[smallest_seq, largest_seq]`;
    /// - each run's tables are in key order with disjoint user-key ranges;
    /// - no file number is listed twice;
    /// - each level's runs are non-empty, with strictly decreasing ids;
    /// - **age order**: for tables `A` read before `B` (in an earlier run
    ///   of read order) whose user-key ranges overlap, `A.smallest_seq >=
    ///   B.largest_seq`: everything in `A` is at least as new as everything
    ///   in `B`.
    ///
    /// The age rule is per table, so it holds in trees that compactions
    /// change a few tables at a time (partial compactions into leveled runs).
    /// It is stronger than what reads need (newest version of each key
    /// first): an output table spanning old and new data can break it
    /// against a neighbouring table that shares no key with it. The
    /// executor therefore cuts its outputs so that each one keeps the rule
    /// against every table outside the compaction ([`AgeBounds`]); one user
    /// key always fits, because the inputs holding it met the rule. It is
    /// false for a level-0 run compacted below older data left above the
    /// base level, and for a level whose run ids disagree with the age of
    /// their data.
    ///
    /// [`AgeBounds`]: crate::executor::AgeBounds
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let mut seen: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        for (level_index, level) in self.levels.iter().enumerate() {
            let mut previous_run: Option<u64> = None;
            for run in &level.runs {
                if run.tables.is_empty() || previous_run.is_some_and(|p| p <= run.run_id) {
                    return Err(InvariantViolation::RunOrder {
                        level: level_index,
                        previous: previous_run.unwrap_or(0),
                        run_id: run.run_id,
                    });
                }
                previous_run = Some(run.run_id);
                check_run_tables(level_index, run)?;
                for table in &run.tables {
                    if let Some(first_level) = seen.insert(table.file_number, level_index) {
                        return Err(InvariantViolation::DuplicateFile {
                            file_number: table.file_number,
                            first_level,
                            second_level: level_index,
                        });
                    }
                }
            }
        }
        self.check_age_order()
    }

    fn check_age_order(&self) -> Result<(), InvariantViolation> {
        let runs: Vec<(usize, &SortedRun)> = self.runs_newest_first().collect();
        for (index, &(earlier_level, earlier)) in runs.iter().enumerate() {
            for &(later_level, later) in &runs[index + 1..] {
                let violation =
                    |a: &TableMeta, b: &TableMeta| InvariantViolation::NewerBelowOlder {
                        earlier_level,
                        earlier_run_id: earlier.run_id,
                        earlier_file_number: a.file_number,
                        earlier_smallest_seq: a.smallest_seq,
                        later_level,
                        later_run_id: later.run_id,
                        later_file_number: b.file_number,
                        later_largest_seq: b.largest_seq,
                    };
                // Both runs are sorted and disjoint: walk their overlapping
                // pairs in one pass.
                let (mut i, mut j) = (0, 0);
                while let (Some(a), Some(b)) = (earlier.tables.get(i), later.tables.get(j)) {
                    if user_ranges_meet(a, b) && a.smallest_seq < b.largest_seq {
                        return Err(violation(a, b));
                    }
                    if a.largest.user_key() < b.largest.user_key() {
                        i += 1;
                    } else {
                        j += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// An edit that builds this version from an empty tree.
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut edit = VersionEdit::new();
        for (level, run) in self.runs_newest_first() {
            for table in &run.tables {
                edit.add_table(level, run.run_id, Arc::clone(table));
            }
        }
        edit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::tests::table;
    use bytes::Bytes;
    use seer_core::{InternalKey, ValueKind};

    #[test]
    fn apply_builds_runs_in_order_and_shares_tables() {
        let mut edit = VersionEdit::new();
        edit.add_table(0, 5, table(5, "a", "z", 100))
            .add_table(0, 6, table(6, "c", "d", 100))
            .add_table(2, 3, table(4, "m", "p", 1000))
            .add_table(2, 3, table(3, "a", "k", 1000))
            .add_table(2, 1, table(1, "a", "z", 5000));
        let v1 = Version::empty(4).apply(&edit).unwrap();
        let order: Vec<(usize, u64)> = v1
            .runs_newest_first()
            .map(|(l, r)| (l, r.run_id()))
            .collect();
        assert_eq!(order, vec![(0, 6), (0, 5), (2, 3), (2, 1)]);
        let run = &v1.levels()[2].runs()[0];
        assert_eq!(
            run.tables()
                .iter()
                .map(|t| t.file_number)
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(run.size_bytes(), 2000);
        assert_eq!(run.table_for_key(b"l"), None);
        assert_eq!(run.table_for_key(b"n").unwrap().file_number, 4);
        assert_eq!(run.overlapping_tables(b"j", b"n").len(), 2);
        assert_eq!(run.overlapping_tables(b"q", b"z").len(), 0);
        assert_eq!(v1.runs_count(), 4);
        assert_eq!(v1.size_bytes(), 7200);

        let mut next = VersionEdit::new();
        next.remove_table(0, 5)
            .remove_table(0, 6)
            .add_table(1, 7, table(7, "a", "z", 200));
        let v2 = v1.apply(&next).unwrap();
        assert!(v2.levels()[0].is_empty());
        assert_eq!(
            v2.live_file_numbers().into_iter().collect::<Vec<_>>(),
            vec![1, 3, 4, 7]
        );
        // The untouched tables are the same allocations.
        assert!(Arc::ptr_eq(
            &v1.levels()[2].runs()[1].tables()[0],
            &v2.levels()[2].runs()[1].tables()[0]
        ));
        // A snapshot edit rebuilds the version.
        assert_eq!(Version::empty(4).apply(&v2.snapshot_edit()).unwrap(), v2);
    }

    #[test]
    fn bad_edits_are_refused() {
        let base = Version::empty(3)
            .apply(VersionEdit::new().add_table(1, 1, table(1, "a", "f", 10)))
            .unwrap();
        let cases = [
            VersionEdit::new().remove_table(1, 9).clone(),
            VersionEdit::new().remove_table(2, 1).clone(),
            VersionEdit::new()
                .add_table(3, 1, table(2, "x", "y", 1))
                .clone(),
            VersionEdit::new()
                .add_table(2, 1, table(1, "x", "y", 1))
                .clone(),
            VersionEdit::new()
                .add_table(1, 1, table(2, "f", "g", 1))
                .clone(),
        ];
        for edit in cases {
            assert!(base.apply(&edit).is_err(), "{edit:?}");
        }
        // A neighbouring, disjoint table is fine.
        base.apply(VersionEdit::new().add_table(1, 1, table(2, "g", "h", 1)))
            .unwrap();
    }

    /// Table `file_number` over user keys `smallest..=largest` holding data
    /// written at sequence numbers `seqs`.
    fn aged(file_number: u64, smallest: &str, largest: &str, seqs: (u64, u64)) -> Arc<TableMeta> {
        let mut meta = (*table(file_number, smallest, largest, 1000)).clone();
        meta.smallest = InternalKey::new(Bytes::from(smallest.to_owned()), seqs.1, ValueKind::Put);
        meta.largest = InternalKey::new(Bytes::from(largest.to_owned()), seqs.0, ValueKind::Put);
        meta.smallest_seq = seqs.0;
        meta.largest_seq = seqs.1;
        Arc::new(meta)
    }

    /// A version of `(level, run_id, table)`s, unchecked.
    fn tree(tables: Vec<(usize, u64, Arc<TableMeta>)>) -> Version {
        let mut edit = VersionEdit::new();
        for (level, run_id, meta) in tables {
            edit.add_table(level, run_id, meta);
        }
        Version::empty(5).apply(&edit).unwrap()
    }

    #[test]
    fn checker_accepts_a_tree_whose_runs_are_read_newest_first() {
        let v = tree(vec![
            (0, 30, aged(30, "a", "m", (300, 310))),
            (0, 20, aged(20, "c", "d", (200, 250))),
            (1, 12, aged(12, "a", "f", (150, 180))),
            (1, 12, aged(13, "g", "k", (100, 190))),
            // Disjoint key ranges may be in any age order.
            (1, 11, aged(11, "x", "y", (500, 600))),
            (3, 5, aged(5, "a", "z", (1, 100))),
        ]);
        assert_eq!(v.check_invariants(), Ok(()));
        assert_eq!(Version::empty(3).check_invariants(), Ok(()));
    }

    /// Defect 1 of issue 11: level 0 compacted into the base level (3)
    /// while level 1 still held older data for the same keys.
    #[test]
    fn checker_finds_newer_data_compacted_below_older_data() {
        let v = tree(vec![
            (1, 7, aged(7, "a", "m", (10, 20))),
            // The base level's run merged the old base data (1..5) with the
            // newer level-0 runs (30..40).
            (3, 9, aged(9, "b", "z", (1, 40))),
        ]);
        assert!(matches!(
            v.check_invariants(),
            Err(InvariantViolation::NewerBelowOlder {
                earlier_level: 1,
                later_level: 3,
                later_largest_seq: 40,
                ..
            })
        ));
    }

    #[test]
    fn checker_finds_a_tiered_level_whose_run_order_disagrees_with_data_age() {
        let v = tree(vec![
            (4, 20, aged(20, "a", "k", (1, 10))),
            (4, 10, aged(10, "c", "z", (11, 30))),
        ]);
        assert!(matches!(
            v.check_invariants(),
            Err(InvariantViolation::NewerBelowOlder {
                earlier_level: 4,
                earlier_run_id: 20,
                later_level: 4,
                later_run_id: 10,
                ..
            })
        ));
    }

    #[test]
    fn checker_finds_unsorted_runs_duplicate_files_bad_bounds_and_empty_runs() {
        let good = tree(vec![
            (2, 5, aged(5, "a", "c", (1, 2))),
            (2, 5, aged(6, "e", "g", (1, 2))),
            (3, 1, aged(1, "a", "z", (0, 0))),
        ]);
        assert_eq!(good.check_invariants(), Ok(()));

        let mut unsorted = good.clone();
        unsorted.levels[2].runs[0].tables.swap(0, 1);
        assert!(matches!(
            unsorted.check_invariants(),
            Err(InvariantViolation::RunNotSorted {
                level: 2,
                run_id: 5,
                previous: 6,
                file_number: 5
            })
        ));

        let mut touching = good.clone();
        touching.levels[2].runs[0].tables[1] = aged(6, "c", "g", (1, 2));
        assert!(matches!(
            touching.check_invariants(),
            Err(InvariantViolation::RunNotSorted { .. })
        ));

        let mut duplicate = good.clone();
        duplicate.levels[3].runs[0].tables[0] = aged(5, "a", "z", (0, 0));
        assert!(matches!(
            duplicate.check_invariants(),
            Err(InvariantViolation::DuplicateFile {
                file_number: 5,
                first_level: 2,
                second_level: 3
            })
        ));

        let mut bounds = good.clone();
        let mut meta = (*aged(1, "a", "z", (0, 0))).clone();
        meta.largest_seq = 7;
        meta.smallest_seq = 3;
        bounds.levels[3].runs[0].tables[0] = Arc::new(meta);
        assert!(matches!(
            bounds.check_invariants(),
            Err(InvariantViolation::TableBounds {
                level: 3,
                file_number: 1,
                ..
            })
        ));

        let mut inverted = good.clone();
        inverted.levels[3].runs[0].tables[0] = aged(1, "z", "a", (0, 0));
        assert!(matches!(
            inverted.check_invariants(),
            Err(InvariantViolation::TableBounds {
                level: 3,
                file_number: 1,
                ..
            })
        ));

        let mut misordered_ids = good.clone();
        misordered_ids.levels[2].runs.push(SortedRun::new(9));
        misordered_ids.levels[2].runs[1]
            .tables
            .push(aged(9, "x", "y", (0, 0)));
        assert!(matches!(
            misordered_ids.check_invariants(),
            Err(InvariantViolation::RunOrder {
                level: 2,
                previous: 5,
                run_id: 9
            })
        ));

        let mut empty_run = good;
        empty_run.levels[1].runs.push(SortedRun::new(4));
        assert!(matches!(
            empty_run.check_invariants(),
            Err(InvariantViolation::RunOrder {
                level: 1,
                run_id: 4,
                ..
            })
        ));
    }

    #[test]
    fn monkey_gives_small_levels_more_bits() {
        let base = Version::empty(4)
            .apply(VersionEdit::new().add_table(3, 1, table(1, "a", "z", 1_000_000)))
            .unwrap();
        let small = base.filter_bits_per_key(1, 100, 10.0);
        let large = base.filter_bits_per_key(3, 100_000, 10.0);
        assert!(small > 10.0 && large < 10.0 + 1e-9, "{small} {large}");
        assert_eq!(base.filter_bits_per_key(9, 1, 10.0), 10.0);
    }
}
