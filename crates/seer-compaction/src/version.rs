//! [`Version`]: one immutable snapshot of the tree's shape, shared with
//! `Arc`. Levels hold sorted runs, newest first; a run holds tables with
//! disjoint key ranges, ordered by key; level 0 receives one run per flush.
//!
//! A version is built from the previous one by [`Version::apply`], which
//! shares the unchanged tables' `Arc<TableMeta>`s, so a table is referenced
//! exactly as long as some live version lists it.

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
