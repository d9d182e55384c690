//! The compaction picker: given a version, the policy `(T, K, Z)` and the
//! compactions already running, decide what to merge next.
//!
//! Shape (Dostoevsky's fluid LSM with dynamic level sizing):
//! - the largest level is the last slot of the version; its capacity is its
//!   actual size, and each level above has `1/T` of the one below. The *base
//!   level* is the highest level whose capacity is at least
//!   [`PickerOptions::base_level_bytes`] over `T`. Levels above the base
//!   normally stay empty; they hold data only after the base moved down (`T`
//!   grew, `base_level_bytes` was raised, the largest level shrank), and
//!   that data moves down before anything else;
//! - level 0 compacts when it holds [`PickerOptions::l0_trigger_runs`] runs
//!   (one run per flush), into the base level, or, while a level above the
//!   base holds data, into the highest such level (as a new run): level 0
//!   never jumps over a level holding data;
//! - a level below the largest compacts into the next when its size reaches
//!   its capacity or it holds more than `K` runs; data arriving at a level
//!   merges into its newest run while that run is under `capacity / K` (so
//!   `K = 1` is leveling) and starts a new run otherwise;
//! - at the largest level an arrival starts a new run while there are fewer
//!   than `Z`, and otherwise merges with all of them.
//!
//! Granularity: a compaction into a *leveled* target (a level below the
//! largest with `K = 1`, the largest with `Z = 1`) is table-granular: it
//! takes the key range of one table of the source level's oldest run (the
//! one whose merge rewrites the least of the target per byte moved, then
//! the oldest data, then the densest in tombstones; RocksDB's
//! `kMinOverlappingRatio`), the newer runs' tables inside that range
//! (`slice_within`; a leveled level has one run), and only the target
//! run's tables that meet those; the outputs join the target run
//! ([`Compaction::output_run_id`]). Level 0 into a leveled base is sliced
//! the same way: flushes cut their runs at the base run's table boundaries
//! ([`Picker::flush_split_keys`]), so a slice of level 0 is about one base
//! table's keys and meets about one base table. Into a tiered target (or a
//! level above the base) compactions move whole runs as Dostoevsky's model
//! has them.
//!
//! Age order: a table leaves a level only together with every older run's
//! tables meeting it, so no older version of a key stays above a newer
//! one. The tables' sequence ranges stay ordered the way reads consult
//! them, table by table, which
//! [`Version::check_invariants`] checks; the executor cuts outputs where a
//! table would break that rule ([`crate::executor::AgeBounds`]). A
//! compaction is *bottommost* (drops tombstones) only when no other table
//! at or below its highest input level meets its key range.
//!
//! A manual compaction of a key range takes, at each step, the slice of
//! the source level meeting the range and the leveled target's tables
//! meeting it.
//! Compactions run at once when [`CompactionsInProgress::admits`] says so.
//! The level with the highest score goes first.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::edit::VersionEdit;
use crate::policy::PolicyParams;
use crate::version::{Level, SortedRun, Version};
use crate::TableMeta;

/// Score of a level above the base level that still holds data (after `T`
/// grew): it must move down before anything else.
const ABOVE_BASE_SCORE: f64 = 1e6;

/// The picker's size knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PickerOptions {
    /// Level-0 runs (flushes) that trigger a level-0 compaction.
    pub l0_trigger_runs: usize,
    /// The least capacity of the base level (the one level 0 compacts into).
    pub base_level_bytes: u64,
    /// Output tables are cut at about this size.
    pub target_file_size_bytes: u64,
    /// A space-amplification compaction starts when the bytes of every
    /// level, level 0 included, pass this multiple of the bytes of the
    /// largest level's oldest run (the live-data estimate, as RocksDB
    /// universal compaction's `max_size_amplification_percent` takes it);
    /// `f64::INFINITY`: never.
    pub max_space_amplification: f64,
}

impl Default for PickerOptions {
    fn default() -> Self {
        Self {
            l0_trigger_runs: 4,
            base_level_bytes: 256 << 20,
            target_file_size_bytes: 64 << 20,
            max_space_amplification: DEFAULT_MAX_SPACE_AMPLIFICATION,
        }
    }
}

/// The default bound on space amplification (bytes on disk over live
/// bytes): RocksDB universal compaction's anchor, 50% extra.
pub const DEFAULT_MAX_SPACE_AMPLIFICATION: f64 = 1.5;

/// Level capacities derived from `T` and the largest level's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTargets {
    /// The level level 0 compacts into.
    pub base_level: usize,
    /// Capacity of each level (0 for level 0 and levels above the base).
    pub capacity_bytes: Vec<u64>,
}

/// Why a compaction was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionReason {
    /// Level 0 reached its run trigger.
    L0Runs {
        /// Runs on level 0.
        runs: usize,
        /// The trigger.
        trigger: usize,
    },
    /// A level reached its capacity.
    LevelSize {
        /// The level.
        level: usize,
        /// Its size.
        size_bytes: u64,
        /// Its capacity.
        capacity_bytes: u64,
    },
    /// A level holds more runs than the policy allows.
    RunCount {
        /// The level.
        level: usize,
        /// Its runs.
        runs: usize,
        /// `K` or `Z`.
        max_runs: u32,
    },
    /// A level above the base level holds data.
    AboveBaseLevel {
        /// The level.
        level: usize,
        /// The base level.
        base_level: usize,
    },
    /// The tree's bytes (every level, level 0 included) passed
    /// [`PickerOptions::max_space_amplification`] times the live-data
    /// estimate.
    SpaceAmplification {
        /// Bytes of every level, level 0 included.
        tree_bytes: u64,
        /// Bytes of the largest level's oldest run (the live-data estimate).
        live_bytes: u64,
    },
    /// A manual `compact_range`.
    Manual,
    /// The tree was otherwise idle and a table's earliest expiry had
    /// passed: the table is rewritten in place (its expired puts dropped
    /// or turned into tombstones), so expired data's space comes back.
    Expired {
        /// The table's level.
        level: usize,
        /// Its earliest expiry.
        earliest_expiry_unix_ms: u64,
    },
}

impl fmt::Display for CompactionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::L0Runs { runs, trigger } => write!(f, "L0 holds {runs} runs (trigger {trigger})"),
            Self::LevelSize {
                level,
                size_bytes,
                capacity_bytes,
            } => write!(
                f,
                "L{level} holds {size_bytes} bytes (capacity {capacity_bytes})"
            ),
            Self::RunCount {
                level,
                runs,
                max_runs,
            } => write!(f, "L{level} holds {runs} runs (at most {max_runs})"),
            Self::AboveBaseLevel { level, base_level } => {
                write!(f, "L{level} lies above the base level L{base_level}")
            }
            Self::SpaceAmplification {
                tree_bytes,
                live_bytes,
            } => write!(
                f,
                "the tree holds {tree_bytes} bytes over {live_bytes} bytes of live data"
            ),
            Self::Manual => write!(f, "manual compaction"),
            Self::Expired {
                level,
                earliest_expiry_unix_ms,
            } => write!(
                f,
                "a table of L{level} holds data expired since {earliest_expiry_unix_ms} ms"
            ),
        }
    }
}

/// What [`Picker::build`] builds a compaction for.
#[derive(Debug, Clone, Copy)]
enum Request<'r> {
    /// A level whose score is at least 1.
    Scored(CompactionReason),
    /// A manual compaction of the user keys `[start, end]` (`None`: all).
    Manual(Option<(&'r [u8], &'r [u8])>),
}

/// One input run of a compaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionInput {
    /// Its level.
    pub level: usize,
    /// Its run id.
    pub run_id: u64,
    /// Its tables, in key order.
    pub tables: Vec<Arc<TableMeta>>,
}

/// A chosen compaction: merge `inputs` into one new run of `output_level`,
/// or into the run [`Compaction::output_run_id`] names.
#[derive(Debug, Clone, PartialEq)]
pub struct Compaction {
    /// The input runs, newest first.
    pub inputs: Vec<CompactionInput>,
    /// The level receiving the output run.
    pub output_level: usize,
    /// Why.
    pub reason: CompactionReason,
    /// The score that ranked it (1.0 or more triggers).
    pub score: f64,
    /// No data older than the inputs lies in the inputs' key range, so
    /// tombstones can be dropped and merges resolved without a base.
    pub bottommost: bool,
    /// Output tables are cut at about this size.
    pub target_file_size_bytes: u64,
    /// The existing run of `output_level` the outputs join (a compaction
    /// into a leveled target run: its tables outside the inputs' key range
    /// stay); `None`: the outputs form a new run.
    pub output_run_id: Option<u64>,
}

impl Compaction {
    /// Every input table.
    pub fn input_tables(&self) -> impl Iterator<Item = &Arc<TableMeta>> + '_ {
        self.inputs.iter().flat_map(|input| input.tables.iter())
    }

    /// Bytes of the input tables.
    pub fn input_bytes(&self) -> u64 {
        self.input_tables().map(|t| t.file_size_bytes).sum()
    }

    /// Entries of the input tables.
    pub fn input_entry_count(&self) -> u64 {
        self.input_tables().map(|t| t.entry_count).sum()
    }

    /// The smallest and largest user key of the inputs.
    pub fn user_key_range(&self) -> Option<(Bytes, Bytes)> {
        let smallest = self.input_tables().map(|t| t.smallest.user_key()).min()?;
        let largest = self.input_tables().map(|t| t.largest.user_key()).max()?;
        Some((smallest.clone(), largest.clone()))
    }

    /// Whether the compaction only moves one run to another level, so the
    /// tables can be relinked without rewriting them.
    pub fn is_trivial_move(&self) -> bool {
        matches!(self.inputs.as_slice(), [only] if only.level != self.output_level)
    }

    /// The edit removing every input table.
    pub fn removal_edit(&self) -> VersionEdit {
        let mut edit = VersionEdit::new();
        for input in &self.inputs {
            for table in &input.tables {
                edit.remove_table(input.level, table.file_number);
            }
        }
        edit
    }

    /// The edit of a trivial move: the input tables join run `run_id` of the
    /// output level unchanged.
    pub fn trivial_move_edit(&self, run_id: u64) -> VersionEdit {
        let mut edit = self.removal_edit();
        for table in self.input_tables() {
            edit.add_table(self.output_level, run_id, Arc::clone(table));
        }
        edit
    }
}

/// The compactions the DB is running: their tables, and for each its key
/// range, sequence range and output level.
///
/// A new compaction may run beside them ([`CompactionsInProgress::admits`])
/// when it shares no table with any of them and, for each one whose key
/// range meets its own, writes to another level, the one writing higher up
/// holding only data newer than the other's. Then the outputs of either keep
/// the age rule against the outputs of the other whatever their order of
/// installation (each one checked its own outputs against the other's
/// inputs): compactions of disjoint key ranges of one pair of levels run
/// at once, and level 0 drains while a deeper merge of older data runs.
#[derive(Debug, Clone, Default)]
pub struct CompactionsInProgress {
    tables: HashSet<u64>,
    running: Vec<Running>,
}

/// What [`CompactionsInProgress`] keeps of one running compaction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Running {
    key_range: Option<(Bytes, Bytes)>,
    smallest_seq: u64,
    largest_seq: u64,
    output_level: usize,
}

impl Running {
    fn of(compaction: &Compaction) -> Self {
        Self {
            key_range: compaction.user_key_range(),
            smallest_seq: compaction
                .input_tables()
                .map(|t| t.smallest_seq)
                .min()
                .unwrap_or(0),
            largest_seq: compaction
                .input_tables()
                .map(|t| t.largest_seq)
                .max()
                .unwrap_or(0),
            output_level: compaction.output_level,
        }
    }

    /// Whether `self` and `other` may run at once (their tables aside).
    fn compatible(&self, other: &Running) -> bool {
        let (Some((start, end)), Some((other_start, other_end))) =
            (&self.key_range, &other.key_range)
        else {
            return true;
        };
        if end < other_start || other_end < start {
            return true;
        }
        match self.output_level.cmp(&other.output_level) {
            std::cmp::Ordering::Less => self.smallest_seq >= other.largest_seq,
            std::cmp::Ordering::Greater => other.smallest_seq >= self.largest_seq,
            std::cmp::Ordering::Equal => false,
        }
    }
}

impl CompactionsInProgress {
    /// Nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `compaction` as running.
    pub fn register(&mut self, compaction: &Compaction) {
        self.tables
            .extend(compaction.input_tables().map(|t| t.file_number));
        self.running.push(Running::of(compaction));
    }

    /// Marks `compaction` as finished (applied or failed).
    pub fn finish(&mut self, compaction: &Compaction) {
        for table in compaction.input_tables() {
            self.tables.remove(&table.file_number);
        }
        let running = Running::of(compaction);
        if let Some(index) = self.running.iter().position(|r| *r == running) {
            self.running.swap_remove(index);
        }
    }

    /// Whether table `file_number` is an input of a running compaction.
    pub fn is_compacting(&self, file_number: u64) -> bool {
        self.tables.contains(&file_number)
    }

    /// Whether nothing is running.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Whether `compaction` may run beside the running ones: no shared
    /// table, and with each one whose key range meets its own, another
    /// output level and the higher one's data newer than the lower one's.
    pub fn admits(&self, compaction: &Compaction) -> bool {
        let candidate = Running::of(compaction);
        !compaction
            .input_tables()
            .any(|t| self.is_compacting(t.file_number))
            && self.running.iter().all(|r| r.compatible(&candidate))
    }
}

/// A level's urgency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelScore {
    /// The level.
    pub level: usize,
    /// 1.0 or more means it should compact.
    pub score: f64,
    /// What the score measures.
    pub reason: CompactionReason,
}

/// The answer to a manual compaction request.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualPick {
    /// Run this next, then ask again.
    Compaction(Compaction),
    /// The range's data is under running compactions: ask again later.
    Busy,
    /// The range's data is in one run of the largest level.
    Done,
}

/// Picks compactions; stateless apart from its options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Picker {
    options: PickerOptions,
}

impl Picker {
    /// A picker with `options`.
    pub fn new(options: PickerOptions) -> Self {
        Self { options }
    }

    /// The options.
    pub fn options(&self) -> &PickerOptions {
        &self.options
    }

    /// Capacities from `T` and the largest level's actual size.
    pub fn level_targets(&self, version: &Version, params: PolicyParams) -> LevelTargets {
        let last = version.last_level();
        let t = u64::from(params.size_ratio_t());
        let base_bytes = self.options.base_level_bytes.max(1);
        let mut capacity_bytes = vec![0; last + 1];
        capacity_bytes[last] = version.levels()[last].size_bytes().max(base_bytes);
        for level in (1..last).rev() {
            capacity_bytes[level] = capacity_bytes[level + 1] / t;
        }
        let mut base_level = last;
        while base_level > 1 && capacity_bytes[base_level - 1] >= base_bytes {
            base_level -= 1;
        }
        for capacity in &mut capacity_bytes[1..base_level] {
            *capacity = 0;
        }
        LevelTargets {
            base_level,
            capacity_bytes,
        }
    }

    /// Every level's score, highest first.
    pub fn scores(&self, version: &Version, params: PolicyParams) -> Vec<LevelScore> {
        let targets = self.level_targets(version, params);
        let last = version.last_level();
        let mut scores: Vec<LevelScore> = version
            .levels()
            .iter()
            .enumerate()
            .filter(|(_, level)| !level.is_empty())
            .map(|(index, level)| {
                let runs = level.runs().len();
                if index == 0 {
                    let trigger = self.options.l0_trigger_runs.max(1);
                    let reason = CompactionReason::L0Runs { runs, trigger };
                    return score(index, runs as f64 / trigger as f64, reason);
                }
                if index < targets.base_level {
                    let reason = CompactionReason::AboveBaseLevel {
                        level: index,
                        base_level: targets.base_level,
                    };
                    return score(index, ABOVE_BASE_SCORE, reason);
                }
                let max_runs = params.max_runs(index == last);
                let run_score = if runs > max_runs as usize {
                    runs as f64 / f64::from(max_runs)
                } else {
                    0.0
                };
                let run_reason = CompactionReason::RunCount {
                    level: index,
                    runs,
                    max_runs,
                };
                if index == last {
                    return score(index, run_score, run_reason);
                }
                let capacity_bytes = targets.capacity_bytes[index].max(1);
                let size_bytes = level.size_bytes();
                let size_score = size_bytes as f64 / capacity_bytes as f64;
                if size_score >= run_score {
                    let reason = CompactionReason::LevelSize {
                        level: index,
                        size_bytes,
                        capacity_bytes,
                    };
                    score(index, size_score, reason)
                } else {
                    score(index, run_score, run_reason)
                }
            })
            .collect();
        scores.extend(self.space_amplification_score(version));
        scores.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.level.cmp(&b.level)));
        scores
    }

    /// The space-amplification score: every level's bytes, level 0's
    /// included, over the bytes of the largest level's oldest run, relative
    /// to the bound; it goes to the largest level while it holds several
    /// runs (they merge into one), else to the deepest level above it
    /// holding data (which moves down), level 0 last. Level 0 counts: after
    /// an overwrite its flushes below the trigger hold the newer versions of
    /// the largest level's keys, which stay on disk until they move down.
    fn space_amplification_score(&self, version: &Version) -> Option<LevelScore> {
        let last = version.last_level();
        let levels = version.levels();
        let live_bytes = levels[last].runs().last().map_or(0, SortedRun::size_bytes);
        let tree_bytes: u64 = levels.iter().map(Level::size_bytes).sum();
        let bound = self.options.max_space_amplification;
        let ratio = tree_bytes as f64 / live_bytes.max(1) as f64;
        if live_bytes == 0 || ratio.partial_cmp(&bound) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let level = if levels[last].runs().len() > 1 {
            last
        } else {
            (0..last).rev().find(|&level| !levels[level].is_empty())?
        };
        let reason = CompactionReason::SpaceAmplification {
            tree_bytes,
            live_bytes,
        };
        Some(score(level, ratio / bound, reason))
    }

    /// The most urgent compaction that does not collide with running ones.
    pub fn pick(
        &self,
        version: &Version,
        params: PolicyParams,
        in_progress: &CompactionsInProgress,
    ) -> Option<Compaction> {
        let targets = self.level_targets(version, params);
        self.scores(version, params)
            .into_iter()
            .take_while(|s| s.score >= 1.0)
            .find_map(|s| {
                let request = Request::Scored(s.reason);
                self.build(version, params, &targets, in_progress, s.level, request)
                    .map(|mut compaction| {
                        compaction.score = s.score;
                        compaction
                    })
            })
    }

    /// For a tree with nothing else to do: the rewrite in place of the
    /// table (of level 1 or below) whose earliest expiry is the earliest
    /// at or before `now_unix_ms`, among those no running compaction holds
    /// (RocksDB's TTL compaction). Its outputs join its own run, within its
    /// key range, so the run's order and every level's shape are kept; the
    /// compaction drops its expired puts (or turns them into tombstones
    /// where older data lies below). `None` when no table has expired data.
    /// Level 0 is left to the level-0 compactions.
    pub fn pick_expired(
        &self,
        version: &Version,
        now_unix_ms: u64,
        in_progress: &CompactionsInProgress,
    ) -> Option<Compaction> {
        let (level, run_id, table, expiry) = version
            .levels()
            .iter()
            .enumerate()
            .skip(1)
            .flat_map(|(level, runs)| {
                runs.runs().iter().flat_map(move |run| {
                    run.tables().iter().filter_map(move |table| {
                        let expiry = table.earliest_expiry_unix_ms?;
                        Some((level, run.run_id(), table, expiry))
                    })
                })
            })
            .filter(|(_, _, table, expiry)| {
                seer_core::expiry::is_expired(*expiry, now_unix_ms)
                    && !in_progress.is_compacting(table.file_number)
            })
            .min_by_key(|(_, _, _, expiry)| *expiry)?;
        let mut compaction = Compaction {
            inputs: vec![CompactionInput {
                level,
                run_id,
                tables: vec![Arc::clone(table)],
            }],
            output_level: level,
            reason: CompactionReason::Expired {
                level,
                earliest_expiry_unix_ms: expiry,
            },
            score: 0.0,
            bottommost: false,
            target_file_size_bytes: self.options.target_file_size_bytes,
            output_run_id: Some(run_id),
        };
        compaction.bottommost = nothing_older_below(version, &compaction);
        Some(compaction).filter(|c| in_progress.admits(c))
    }

    /// The next step of compacting the user keys `[start, end]` (everything
    /// for `None`) down into one run of the largest level.
    pub fn pick_manual(
        &self,
        version: &Version,
        params: PolicyParams,
        range: Option<(&[u8], &[u8])>,
        in_progress: &CompactionsInProgress,
    ) -> ManualPick {
        let targets = self.level_targets(version, params);
        let last = version.last_level();
        let overlapping_runs = |level: usize| {
            version.levels()[level]
                .runs()
                .iter()
                .filter(|run| range.is_none_or(|(start, end)| run.overlaps(start, end)))
                .count()
        };
        let source = (0..=last).find(|&level| {
            let runs = overlapping_runs(level);
            runs > 1 || (runs == 1 && level < last)
        });
        let Some(level) = source else {
            return ManualPick::Done;
        };
        match self.build(
            version,
            params,
            &targets,
            in_progress,
            level,
            Request::Manual(range),
        ) {
            Some(compaction) => ManualPick::Compaction(compaction),
            None => ManualPick::Busy,
        }
    }

    fn build(
        &self,
        version: &Version,
        params: PolicyParams,
        targets: &LevelTargets,
        in_progress: &CompactionsInProgress,
        level: usize,
        request: Request<'_>,
    ) -> Option<Compaction> {
        let last = version.last_level();
        let source_runs = version.levels()[level].runs();
        let output_level = match level {
            0 => level0_output_level(version, targets),
            _ if level == last => last,
            _ => level + 1,
        };
        let target_runs = if output_level == level {
            &[][..]
        } else {
            self.target_runs_to_merge(version, params, targets, output_level)
        };
        let reason = match request {
            Request::Scored(reason) => reason,
            Request::Manual(_) => CompactionReason::Manual,
        };
        let compaction = |inputs: Vec<CompactionInput>, output_run_id: Option<u64>| {
            let mut compaction = Compaction {
                inputs,
                output_level,
                reason,
                score: 0.0,
                bottommost: false,
                target_file_size_bytes: self.options.target_file_size_bytes,
                output_run_id,
            };
            compaction.bottommost = nothing_older_below(version, &compaction);
            compaction
        };
        let leveled_target = match target_runs {
            [target] if is_leveled(params, output_level == last) => Some(target),
            _ => None,
        };
        let Some(target) = leveled_target else {
            // Whole runs: the source level and the target runs.
            let inputs = source_runs
                .iter()
                .map(|run| whole_run(level, run))
                .chain(target_runs.iter().map(|run| whole_run(output_level, run)))
                .collect();
            return Some(compaction(inputs, None)).filter(|c| in_progress.admits(c));
        };
        // A leveled target: only its tables meeting the inputs' keys (and
        // a manual compaction's range) are rewritten; the outputs join it.
        // A manual compaction rewrites the target's tables meeting its range
        // too (dropping what no snapshot needs any more), as it did whole.
        let manual_range = match request {
            Request::Manual(range) => range,
            Request::Scored(_) => None,
        };
        let with_target = |mut inputs: Vec<CompactionInput>| {
            let hull = inputs
                .iter()
                .flat_map(|input| input.tables.iter())
                .map(|t| {
                    (
                        t.smallest.user_key().as_ref(),
                        t.largest.user_key().as_ref(),
                    )
                })
                .chain(manual_range)
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
            if let Some((start, end)) = hull {
                let tables = target.overlapping_tables(start, end).to_vec();
                if !tables.is_empty() {
                    inputs.push(CompactionInput {
                        level: output_level,
                        run_id: target.run_id(),
                        tables,
                    });
                }
            }
            compaction(inputs, Some(target.run_id()))
        };
        match request {
            Request::Scored(_) => {
                // About one target file of each run: the key range of the
                // oldest run's table whose merge rewrites the least of the
                // target (per byte moved). Level 0 too: its runs are cut at
                // the target's table boundaries (`Picker::flush_split_keys`),
                // so a slice is about one target table's keys.
                let oldest = source_runs.last()?;
                let overlap_ratio = |t: &TableMeta| {
                    let overlapping: u64 = target
                        .overlapping_tables(t.smallest.user_key(), t.largest.user_key())
                        .iter()
                        .map(|o| o.file_size_bytes)
                        .sum();
                    overlapping as f64 / t.file_size_bytes.max(1) as f64
                };
                let tombstone_density =
                    |t: &TableMeta| t.tombstone_count as f64 / t.entry_count.max(1) as f64;
                let mut ranked: Vec<(f64, u64, f64, &Arc<TableMeta>)> = oldest
                    .tables()
                    .iter()
                    .filter(|t| !in_progress.is_compacting(t.file_number))
                    .map(|t| (overlap_ratio(t), t.largest_seq, tombstone_density(t), t))
                    .collect();
                ranked.sort_by(|a, b| {
                    a.0.total_cmp(&b.0)
                        .then(a.1.cmp(&b.1))
                        .then(b.2.total_cmp(&a.2))
                });
                let candidates = ranked.into_iter().map(|(_, _, _, table)| table);
                candidates.into_iter().find_map(|table| {
                    let inputs = if level == 0 {
                        // Flushes cut at the base's boundaries when they
                        // ran, which merges have moved since: the newer
                        // runs' tables crossing the seed's ends come too
                        // (a few level-0 runs, each giving a table or two
                        // more), else most of them would stay behind and
                        // each base table would be rewritten once per run.
                        let range = (table.smallest.user_key(), table.largest.user_key());
                        slice_of_level(level, source_runs, (&range.0[..], &range.1[..]))
                    } else {
                        slice_within(level, source_runs, table)
                    };
                    Some(with_target(inputs)).filter(|c| in_progress.admits(c))
                })
            }
            Request::Manual(Some(range)) if level > 0 => {
                let inputs = slice_of_level(level, source_runs, range);
                Some(with_target(inputs)).filter(|c| in_progress.admits(c))
            }
            _ => {
                // A manual compaction of level 0 or of everything moves whole.
                let inputs = source_runs
                    .iter()
                    .map(|run| whole_run(level, run))
                    .collect();
                Some(with_target(inputs)).filter(|c| in_progress.admits(c))
            }
        }
    }

    /// Where a flush cuts its level-0 run (Pebble's flush splits): when
    /// level 0 compacts into a leveled run, the first user key of each of
    /// that run's tables but the first, so that each level-0 table meets
    /// about one table there and a level-0 compaction takes one key range
    /// and about one target table instead of the whole target run. None
    /// when level 0 goes into a tiered level (it moves whole there).
    pub fn flush_split_keys(&self, version: &Version, params: PolicyParams) -> Vec<Bytes> {
        let targets = self.level_targets(version, params);
        let output_level = level0_output_level(version, &targets);
        match self.target_runs_to_merge(version, params, &targets, output_level) {
            [target] if is_leveled(params, output_level == version.last_level()) => target
                .tables()
                .iter()
                .skip(1)
                .map(|t| t.smallest.user_key().clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The runs of `output_level` an arriving run merges with: the newest
    /// run while it has room (or the level is at `K` runs), or all runs of
    /// the largest level once it holds `Z`.
    fn target_runs_to_merge<'v>(
        &self,
        version: &'v Version,
        params: PolicyParams,
        targets: &LevelTargets,
        output_level: usize,
    ) -> &'v [SortedRun] {
        let runs = version.levels()[output_level].runs();
        if runs.is_empty() || output_level < targets.base_level {
            return &[];
        }
        if output_level == version.last_level() {
            let z = params.runs_at_largest_z() as usize;
            return if runs.len() >= z { runs } else { &[] };
        }
        let k = params.runs_per_level_k();
        let run_capacity_bytes = targets.capacity_bytes[output_level] / u64::from(k);
        if runs.len() >= k as usize || runs[0].size_bytes() < run_capacity_bytes {
            &runs[..1]
        } else {
            &[]
        }
    }
}

fn whole_run(level: usize, run: &SortedRun) -> CompactionInput {
    CompactionInput {
        level,
        run_id: run.run_id(),
        tables: run.tables().to_vec(),
    }
}

/// The tables of a level's `runs` (newest first) that must move with its
/// keys in `range`: each run's tables meeting the range and the tables the
/// newer runs gave, so that no older version of a moved key stays above it
/// (newer ones may: they are read first). One pass: a run's tables only
/// widen the range for the older runs after it.
fn slice_of_level(level: usize, runs: &[SortedRun], range: (&[u8], &[u8])) -> Vec<CompactionInput> {
    let mut hull = (
        Bytes::copy_from_slice(range.0),
        Bytes::copy_from_slice(range.1),
    );
    let mut inputs = Vec::new();
    for run in runs {
        let tables = run.overlapping_tables(&hull.0, &hull.1);
        let (Some(first), Some(last)) = (tables.first(), tables.last()) else {
            continue;
        };
        hull.0 = hull.0.min(first.smallest.user_key().clone());
        hull.1 = hull.1.max(last.largest.user_key().clone());
        inputs.push(CompactionInput {
            level,
            run_id: run.run_id(),
            tables: tables.to_vec(),
        });
    }
    inputs
}

/// The tables of a level's `runs` (newest first) that can move with
/// `seed`, a table of the oldest run, without widening its key range: from
/// each newer run, oldest to newest, the tables inside the range, which
/// then shrinks to exclude that run's tables crossing its ends. So every
/// table of an older run meeting a moved table moves too, and the slice
/// stays within `seed`'s keys (taking whatever meets them from every run
/// would widen the range run by run, up to the whole level).
fn slice_within(level: usize, runs: &[SortedRun], seed: &Arc<TableMeta>) -> Vec<CompactionInput> {
    let Some((oldest, newer)) = runs.split_last() else {
        return Vec::new();
    };
    // The range still open, each end with whether it is included.
    let mut low = (seed.smallest.user_key().clone(), true);
    let mut high = (seed.largest.user_key().clone(), true);
    let above_low =
        |key: &[u8], low: &(Bytes, bool)| key > &low.0[..] || (low.1 && key == &low.0[..]);
    let below_high =
        |key: &[u8], high: &(Bytes, bool)| key < &high.0[..] || (high.1 && key == &high.0[..]);
    let mut inputs = vec![CompactionInput {
        level,
        run_id: oldest.run_id(),
        tables: vec![Arc::clone(seed)],
    }];
    for run in newer.iter().rev() {
        let mut tables = Vec::new();
        let (mut next_low, mut next_high) = (low.clone(), high.clone());
        for table in run.tables() {
            let starts_inside = above_low(table.smallest.user_key(), &low);
            let ends_inside = below_high(table.largest.user_key(), &high);
            let meets = above_low(table.largest.user_key(), &low)
                && below_high(table.smallest.user_key(), &high);
            match (meets, starts_inside, ends_inside) {
                (true, true, true) => tables.push(Arc::clone(table)),
                (true, false, _) => next_low = (table.largest.user_key().clone(), false),
                (true, true, false) => next_high = (table.smallest.user_key().clone(), false),
                (false, ..) => {}
            }
        }
        if !tables.is_empty() {
            inputs.push(CompactionInput {
                level,
                run_id: run.run_id(),
                tables,
            });
        }
        (low, high) = (next_low, next_high);
    }
    inputs.reverse();
    inputs
}

/// Whether arrivals at a level merge into its one run table by table:
/// levels below the largest with `K = 1`, the largest with `Z = 1`.
fn is_leveled(params: PolicyParams, is_largest_level: bool) -> bool {
    params.max_runs(is_largest_level) == 1
}

/// Where level 0 compacts: the highest level above the base that holds
/// data (left there when the base moved down), else the base level. Level 0
/// must not jump over older data: its runs would be read after it.
fn level0_output_level(version: &Version, targets: &LevelTargets) -> usize {
    (1..targets.base_level)
        .find(|&level| !version.levels()[level].is_empty())
        .unwrap_or(targets.base_level)
}

fn score(level: usize, score: f64, reason: CompactionReason) -> LevelScore {
    LevelScore {
        level,
        score,
        reason,
    }
}

/// Whether no table outside the compaction, at or below its highest input
/// level, meets its key range: then nothing older than the inputs exists
/// for those keys (levels above hold newer data), tombstones can go and
/// merges resolve without a base. Every level below the inputs counts, the
/// ones between a source and its output level included.
fn nothing_older_below(version: &Version, compaction: &Compaction) -> bool {
    let Some((start, end)) = compaction.user_key_range() else {
        return true;
    };
    let Some(highest_input_level) = compaction.inputs.iter().map(|input| input.level).min() else {
        return true;
    };
    let inputs: HashSet<u64> = compaction.input_tables().map(|t| t.file_number).collect();
    version.levels()[highest_input_level..].iter().all(|level| {
        level.runs().iter().all(|run| {
            run.overlapping_tables(&start, &end)
                .iter()
                .all(|table| inputs.contains(&table.file_number))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::tests::table;
    use seer_core::{InternalKey, ValueKind};

    const MIB: u64 = 1 << 20;

    fn options() -> PickerOptions {
        PickerOptions {
            l0_trigger_runs: 4,
            base_level_bytes: 10 * MIB,
            target_file_size_bytes: MIB,
            max_space_amplification: f64::INFINITY,
        }
    }

    /// A version with `(level, run_id, file_number, size)` runs of one
    /// full-range table each.
    fn version(runs: &[(usize, u64, u64, u64)]) -> Version {
        let mut edit = VersionEdit::new();
        for &(level, run_id, file, size) in runs {
            edit.add_table(level, run_id, table(file, "a", "z", size));
        }
        Version::empty(5).apply(&edit).unwrap()
    }

    /// `table` with an earliest expiry.
    fn expiring(file: u64, smallest: &str, largest: &str, expiry_unix_ms: u64) -> Arc<TableMeta> {
        let mut meta = (*table(file, smallest, largest, MIB)).clone();
        meta.earliest_expiry_unix_ms = Some(expiry_unix_ms);
        Arc::new(meta)
    }

    #[test]
    fn an_expired_table_is_rewritten_in_place_in_its_run_earliest_first() {
        let mut edit = VersionEdit::new();
        edit.add_table(4, 1, table(1, "a", "f", MIB));
        edit.add_table(4, 1, expiring(2, "g", "m", 1_000));
        edit.add_table(4, 1, expiring(3, "n", "z", 2_000));
        // Level 0 is left to its own compactions.
        let mut newer = (*expiring(4, "a", "z", 10)).clone();
        newer.smallest = InternalKey::new(&b"a"[..], 19, ValueKind::Put);
        newer.largest = InternalKey::new(&b"z"[..], 10, ValueKind::Put);
        (newer.smallest_seq, newer.largest_seq) = (10, 19);
        edit.add_table(0, 9, Arc::new(newer));
        let version = Version::empty(5).apply(&edit).unwrap();
        let picker = Picker::new(options());
        let mut in_progress = CompactionsInProgress::new();
        assert_eq!(picker.pick_expired(&version, 999, &in_progress), None);
        let compaction = picker.pick_expired(&version, 2_000, &in_progress).unwrap();
        assert_eq!(
            compaction.reason,
            CompactionReason::Expired {
                level: 4,
                earliest_expiry_unix_ms: 1_000
            }
        );
        assert_eq!(compaction.output_level, 4);
        assert_eq!(compaction.output_run_id, Some(1));
        let inputs: Vec<u64> = compaction.input_tables().map(|t| t.file_number).collect();
        assert_eq!(inputs, [2]);
        assert!(compaction.bottommost);
        assert!(!compaction.is_trivial_move());
        // The outputs join the run within the input's range: the version
        // stays valid.
        let mut rewrite = compaction.removal_edit();
        rewrite.add_table(4, 1, table(5, "g", "i", MIB));
        rewrite.add_table(4, 1, table(6, "j", "m", MIB));
        let rewritten = version.apply(&rewrite).unwrap();
        rewritten.check_invariants().unwrap();
        assert_eq!(rewritten.level(4).unwrap().runs().len(), 1);
        // A table a running compaction holds is skipped.
        in_progress.register(&compaction);
        let next = picker.pick_expired(&version, 2_000, &in_progress).unwrap();
        let inputs: Vec<u64> = next.input_tables().map(|t| t.file_number).collect();
        assert_eq!(inputs, [3]);
    }

    #[test]
    fn dynamic_targets_follow_the_largest_level() {
        let picker = Picker::new(options());
        let leveling = PolicyParams::leveling(10).unwrap();
        let small = picker.level_targets(&Version::empty(5), leveling);
        assert_eq!(small.base_level, 4);
        assert_eq!(small.capacity_bytes[4], 10 * MIB);
        let big = version(&[(4, 1, 1, 1000 * MIB)]);
        let targets = picker.level_targets(&big, leveling);
        assert_eq!(targets.base_level, 2);
        assert_eq!(
            targets.capacity_bytes,
            vec![0, 0, 10 * MIB, 100 * MIB, 1000 * MIB]
        );
        let t2 = picker.level_targets(&big, PolicyParams::leveling(2).unwrap());
        assert_eq!(t2.base_level, 1);
        assert_eq!(t2.capacity_bytes[1], 125 * MIB);
    }

    #[test]
    fn l0_trigger_merges_into_the_base_level_run() {
        let picker = Picker::new(options());
        let params = PolicyParams::leveling(10).unwrap();
        let v = version(&[
            (0, 10, 10, MIB),
            (0, 11, 11, MIB),
            (0, 12, 12, MIB),
            (4, 1, 1, 5 * MIB),
        ]);
        assert!(picker
            .pick(&v, params, &CompactionsInProgress::new())
            .is_none());
        let v = v
            .apply(VersionEdit::new().add_table(0, 13, table(13, "a", "b", MIB)))
            .unwrap();
        let c = picker
            .pick(&v, params, &CompactionsInProgress::new())
            .unwrap();
        assert_eq!(c.output_level, 4);
        assert_eq!(c.inputs.len(), 5);
        assert_eq!(c.inputs[0].run_id, 13);
        assert_eq!(c.inputs[4].level, 4);
        assert!(c.bottommost);
        assert!(!c.is_trivial_move());
        assert_eq!(
            c.reason,
            CompactionReason::L0Runs {
                runs: 4,
                trigger: 4
            }
        );
        assert_eq!(c.input_bytes(), 9 * MIB);
        // While it runs, nothing else may take those tables or that level.
        let mut running = CompactionsInProgress::new();
        running.register(&c);
        assert!(running.is_compacting(13));
        assert!(picker.pick(&v, params, &running).is_none());
        running.finish(&c);
        assert!(running.is_empty());
    }

    #[test]
    fn tiering_starts_new_runs_and_merges_full_levels() {
        let picker = Picker::new(options());
        let tiering = PolicyParams::tiering(4).unwrap();
        // Largest level 160 MiB: L3 capacity 40, L2 10 (base).
        let mut runs = vec![(4, 1, 1, 160 * MIB)];
        let v = version(&runs);
        assert_eq!(picker.level_targets(&v, tiering).base_level, 2);
        runs.extend([(3, 2, 2, 14 * MIB), (3, 3, 3, 14 * MIB)]);
        // L3 has room for a new run (newest run 14 >= 40/3).
        let l0: Vec<_> = (10..14).map(|n| (0, n, n, MIB)).collect();
        let v0 = version(&[runs.clone(), l0.clone()].concat());
        let c = picker
            .pick(&v0, tiering, &CompactionsInProgress::new())
            .unwrap();
        assert_eq!(c.output_level, 2);
        assert!(c.inputs.iter().all(|i| i.level == 0));
        assert!(!c.bottommost);
        // A third 14 MiB run fills L3 (42 >= 40): all three runs go down and,
        // L4 holding fewer than Z runs, become a new run there.
        runs.push((3, 4, 4, 14 * MIB));
        let v = version(&runs);
        let c = picker
            .pick(&v, tiering, &CompactionsInProgress::new())
            .unwrap();
        assert_eq!(c.output_level, 4);
        assert_eq!(c.inputs.len(), 3);
        assert!(!c.bottommost, "the older L4 run lies below");
        assert!(matches!(
            c.reason,
            CompactionReason::LevelSize { level: 3, .. }
        ));
    }

    #[test]
    fn largest_level_merges_everything_at_z_runs_and_run_count_triggers() {
        let picker = Picker::new(options());
        let leveling = PolicyParams::leveling(10).unwrap();
        let v = version(&[(4, 1, 1, 50 * MIB), (4, 2, 2, 5 * MIB)]);
        let c = picker
            .pick(&v, leveling, &CompactionsInProgress::new())
            .unwrap();
        assert_eq!(c.output_level, 4);
        assert!(c.bottommost);
        assert!(matches!(
            c.reason,
            CompactionReason::RunCount {
                level: 4,
                runs: 2,
                max_runs: 1
            }
        ));
        assert!(picker
            .pick(
                &v,
                PolicyParams::tiering(10).unwrap(),
                &CompactionsInProgress::new()
            )
            .is_none());
    }

    #[test]
    fn data_above_the_base_level_moves_down_first() {
        let picker = Picker::new(options());
        let v = version(&[(1, 5, 5, MIB), (4, 1, 1, 20 * MIB)]);
        let c = picker
            .pick(
                &v,
                PolicyParams::leveling(10).unwrap(),
                &CompactionsInProgress::new(),
            )
            .unwrap();
        assert_eq!(c.output_level, 2);
        assert!(c.is_trivial_move());
        let edit = c.trivial_move_edit(99);
        let moved = v.apply(&edit).unwrap();
        assert_eq!(moved.levels()[2].runs()[0].run_id(), 99);
    }

    /// A table of `file_number` over `smallest..=largest` written at
    /// sequence numbers `seqs`.
    fn aged(file_number: u64, smallest: &str, largest: &str, seqs: (u64, u64)) -> Arc<TableMeta> {
        let mut meta = (*table(file_number, smallest, largest, MIB)).clone();
        meta.smallest = seer_core::InternalKey::new(
            Bytes::from(smallest.to_owned()),
            seqs.1,
            seer_core::ValueKind::Put,
        );
        meta.largest = seer_core::InternalKey::new(
            Bytes::from(largest.to_owned()),
            seqs.0,
            seer_core::ValueKind::Put,
        );
        meta.smallest_seq = seqs.0;
        meta.largest_seq = seqs.1;
        Arc::new(meta)
    }

    /// `meta` with a file of `size_bytes`.
    fn sized(meta: Arc<TableMeta>, size_bytes: u64) -> Arc<TableMeta> {
        let mut meta = (*meta).clone();
        meta.file_size_bytes = size_bytes;
        Arc::new(meta)
    }

    /// The version after `compaction`, its outputs one table spanning its
    /// inputs (in run `run_id` unless it joins an existing run).
    fn applied(v: &Version, compaction: &Compaction, run_id: u64) -> Version {
        if compaction.is_trivial_move() {
            return v
                .apply(&compaction.trivial_move_edit(compaction.output_run_id.unwrap_or(run_id)))
                .unwrap();
        }
        let (start, end) = compaction.user_key_range().unwrap();
        let smallest_seq = compaction
            .input_tables()
            .map(|t| t.smallest_seq)
            .min()
            .unwrap();
        let largest_seq = compaction
            .input_tables()
            .map(|t| t.largest_seq)
            .max()
            .unwrap();
        let start = std::str::from_utf8(&start).unwrap();
        let end = std::str::from_utf8(&end).unwrap();
        let mut edit = compaction.removal_edit();
        edit.add_table(
            compaction.output_level,
            compaction.output_run_id.unwrap_or(run_id),
            aged(run_id, start, end, (smallest_seq, largest_seq)),
        );
        v.apply(&edit).unwrap()
    }

    /// Issue 11, defect 1: `T` grew, so the base level moved down to L4 and
    /// L2 still holds older data. Level 0 must compact into L2 (above the
    /// older data), also while L2's own move down runs, and never drop its
    /// tombstones.
    #[test]
    fn level0_never_compacts_below_data_above_the_base_level() {
        let picker = Picker::new(options());
        let params = PolicyParams::leveling(10).unwrap();
        let mut tables = vec![
            (4, 1, aged(1, "a", "z", (1, 10))),
            (2, 5, aged(5, "a", "z", (11, 20))),
        ];
        for n in 0..4 {
            tables.push((
                0,
                10 + n,
                aged(10 + n, "a", "z", (30 + 10 * n, 35 + 10 * n)),
            ));
        }
        let mut edit = VersionEdit::new();
        for (level, run_id, meta) in tables {
            edit.add_table(level, run_id, meta);
        }
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(v.check_invariants(), Ok(()));
        assert_eq!(picker.level_targets(&v, params).base_level, 4);

        // L2 moves down first; while it does, level 0 goes to L2 as a new run.
        let idle = CompactionsInProgress::new();
        let above_base = picker.pick(&v, params, &idle).unwrap();
        assert_eq!(
            (above_base.inputs[0].level, above_base.output_level),
            (2, 3)
        );
        let mut running = CompactionsInProgress::new();
        running.register(&above_base);
        let level0 = picker.pick(&v, params, &running).unwrap();
        assert_eq!(level0.output_level, 2);
        assert!(level0.inputs.iter().all(|input| input.level == 0));
        assert!(!level0.bottommost, "older data lies below");
        // Either order of installing them keeps newer data above older data.
        for order in [[0, 1], [1, 0]] {
            let picks = [&above_base, &level0];
            let mut next = v.clone();
            for index in order {
                next = applied(&next, picks[index], 100 + index as u64);
                assert_eq!(next.check_invariants(), Ok(()), "order {order:?}");
            }
        }
        // A manual compaction starts from level 0 and goes to L2 as well.
        match picker.pick_manual(&v, params, None, &idle) {
            ManualPick::Compaction(c) => assert_eq!(c.output_level, 2),
            other => panic!("{other:?}"),
        }
        // Once L2 is empty, level 0 compacts into L3, which now holds data.
        let moved = applied(&v, &above_base, 100);
        let down = picker.pick(&moved, params, &idle).unwrap();
        assert_eq!(down.output_level, 4, "L3 is above the base too");
        let mut running = CompactionsInProgress::new();
        running.register(&down);
        let c = picker.pick(&moved, params, &running).unwrap();
        assert_eq!(c.output_level, 3);
        assert!(!c.bottommost);
    }

    /// The three ways the base level moves down (issue 11, defect 1): `T`
    /// grows, `base_level_bytes` is raised, the largest level shrinks. Each
    /// leaves L3 above the new base; level 0 then compacts into L3.
    #[test]
    fn level0_compacts_above_data_left_behind_however_the_base_moves_down() {
        let leveling = |t| PolicyParams::leveling(t).unwrap();
        let shape = |largest_bytes: u64| {
            let mut largest = (*aged(1, "a", "z", (1, 10))).clone();
            largest.file_size_bytes = largest_bytes;
            let mut edit = VersionEdit::new();
            edit.add_table(4, 1, Arc::new(largest));
            edit.add_table(3, 2, aged(2, "a", "z", (11, 20)));
            for n in 0..4 {
                edit.add_table(0, 10 + n, aged(10 + n, "a", "z", (30 + n, 30 + n)));
            }
            Version::empty(5).apply(&edit).unwrap()
        };
        let big = shape(100 * MIB);
        let base_before = Picker::new(options())
            .level_targets(&big, leveling(4))
            .base_level;
        assert_eq!(base_before, 3);
        let cases = [
            ("T grows", Picker::new(options()), big.clone(), leveling(16)),
            (
                "base_level_bytes raised",
                Picker::new(PickerOptions {
                    base_level_bytes: 40 * MIB,
                    ..options()
                }),
                big.clone(),
                leveling(4),
            ),
            (
                "largest level shrank",
                Picker::new(options()),
                shape(20 * MIB),
                leveling(4),
            ),
        ];
        for (case, picker, v, params) in cases {
            assert_eq!(picker.level_targets(&v, params).base_level, 4, "{case}");
            let mut running = CompactionsInProgress::new();
            let down = picker.pick(&v, params, &running).unwrap();
            assert_eq!((down.inputs[0].level, down.output_level), (3, 4), "{case}");
            running.register(&down);
            let level0 = picker.pick(&v, params, &running).unwrap();
            assert_eq!(level0.output_level, 3, "{case}");
            assert!(!level0.bottommost, "{case}");
            let after = applied(&applied(&v, &level0, 100), &down, 101);
            assert_eq!(after.check_invariants(), Ok(()), "{case}");
        }
    }

    /// Tombstones may be dropped only when no level below the inputs' highest
    /// level holds their keys, the levels between a source and its output
    /// included.
    #[test]
    fn bottommost_considers_levels_between_the_source_and_the_output() {
        let between = version(&[(0, 10, 10, MIB), (2, 5, 5, MIB)]);
        let compaction = Compaction {
            inputs: vec![whole_run(0, &between.levels()[0].runs()[0])],
            output_level: 4,
            reason: CompactionReason::Manual,
            score: 1.0,
            bottommost: false,
            target_file_size_bytes: MIB,
            output_run_id: None,
        };
        assert!(!nothing_older_below(&between, &compaction));
        let alone = version(&[(0, 10, 10, MIB)]);
        assert!(nothing_older_below(&alone, &compaction));
        // A disjoint table below does not count.
        let mut edit = VersionEdit::new();
        edit.add_table(3, 7, aged(7, "zz", "zzz", (1, 1)));
        let disjoint = alone.apply(&edit).unwrap();
        assert!(nothing_older_below(&disjoint, &compaction));
    }

    /// Issue 11, defect 13: a manual compaction of a small range merging
    /// into a leveled run rewrites only the run's tables that meet the
    /// source level's keys; the others stay, and the outputs join the run.
    #[test]
    fn manual_compaction_takes_only_the_target_tables_meeting_the_range() {
        let picker = Picker::new(options());
        let params = PolicyParams::leveling(10).unwrap();
        let mut edit = VersionEdit::new();
        let bounds = [("a", "c"), ("d", "f"), ("g", "i"), ("j", "l"), ("m", "o")];
        for (n, (smallest, largest)) in bounds.into_iter().enumerate() {
            edit.add_table(4, 1, aged(n as u64 + 1, smallest, largest, (1, 10)));
        }
        edit.add_table(0, 20, aged(20, "e", "h", (20, 30)));
        let v = Version::empty(5).apply(&edit).unwrap();
        let idle = CompactionsInProgress::new();
        let ManualPick::Compaction(c) = picker.pick_manual(&v, params, Some((b"e", b"e")), &idle)
        else {
            panic!("expected a compaction");
        };
        assert_eq!(c.output_level, 4);
        assert_eq!(c.output_run_id, Some(1));
        let target: Vec<u64> = c
            .inputs
            .iter()
            .filter(|input| input.level == 4)
            .flat_map(|input| input.tables.iter().map(|t| t.file_number))
            .collect();
        assert_eq!(target, vec![2, 3]);
        assert!(c.bottommost);
        let after = applied(&v, &c, 50);
        assert_eq!(after.check_invariants(), Ok(()));
        assert_eq!(after.levels()[4].runs().len(), 1);
        assert_eq!(after.levels()[4].runs()[0].tables().len(), 4);
        // While it runs, no other compaction of those keys into L4 may.
        let mut running = CompactionsInProgress::new();
        running.register(&c);
        assert!(!running.admits(&c));
        running.finish(&c);
        assert!(running.admits(&c));
        // Level 0 moves whole, into the target's tables meeting it.
        let mut edit = VersionEdit::new();
        for n in 21..24 {
            edit.add_table(0, n, aged(n, "e", "h", (10 * n, 10 * n + 5)));
        }
        let full = v.apply(&edit).unwrap();
        let automatic = picker.pick(&full, params, &idle).unwrap();
        assert_eq!(automatic.output_run_id, Some(1));
        assert_eq!(automatic.input_tables().count(), 6);
    }

    /// With a tiered largest level, level 0 compacted below data left above
    /// the base level gave that data, moved down later, a newer run id than
    /// the newer level-0 data: point reads returned the older value.
    #[test]
    fn level0_goes_on_top_of_data_left_above_the_base_level_of_a_tiered_tree() {
        let picker = Picker::new(options());
        let tiering = PolicyParams::tiering(4).unwrap();
        // Largest level 20 MiB: base level 4 (L3 capacity 5 MiB < 10 MiB),
        // yet L3 still holds an older run.
        let mut edit = VersionEdit::new();
        for n in 10..14 {
            edit.add_table(0, n, sized(aged(n, "a", "z", (10 * n, 10 * n + 5)), MIB));
        }
        edit.add_table(3, 5, sized(aged(5, "a", "z", (50, 60)), MIB));
        edit.add_table(4, 1, sized(aged(1, "a", "z", (1, 10)), 20 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(v.check_invariants(), Ok(()));
        assert_eq!(picker.level_targets(&v, tiering).base_level, 4);
        let running = CompactionsInProgress::new();
        // The older run moves down first; a manual compaction starts at
        // level 0, which goes into L3, on top of that run.
        let above_base = picker.pick(&v, tiering, &running).unwrap();
        assert_eq!(above_base.inputs[0].level, 3);
        let ManualPick::Compaction(manual) = picker.pick_manual(&v, tiering, None, &running) else {
            panic!("a manual compaction has work");
        };
        assert_eq!((manual.inputs[0].level, manual.output_level), (0, 3));
        assert!(!manual.bottommost);
        // While the L3 run moves down, level 0 may go to L3, not to L4.
        let mut busy = CompactionsInProgress::new();
        busy.register(&above_base);
        let level0 = picker.pick(&v, tiering, &busy).unwrap();
        assert_eq!((level0.inputs[0].level, level0.output_level), (0, 3));
    }

    /// A leveled level over capacity moves one table, the one whose merge
    /// rewrites the least of the next level, and only the next level's
    /// tables meeting it; the rest of both levels stays. Two such merges of
    /// disjoint key ranges run at once; the version after both keeps the
    /// age rule, whose outputs were cut where it needs it.
    #[test]
    fn a_leveled_compaction_takes_one_table_and_the_target_tables_meeting_it() {
        let picker = Picker::new(options());
        let params = PolicyParams::leveling(4).unwrap();
        let mut edit = VersionEdit::new();
        // L4 (largest, 40 MiB): ten tables a..t, old data.
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
        let keys = [keys.as_slice(), &["m", "n", "o", "p", "q", "r", "s", "t"]].concat();
        for (n, pair) in keys.chunks(2).enumerate() {
            let n = n as u64;
            let meta = aged(1 + n, pair[0], pair[1], (1 + n, 1 + n));
            edit.add_table(4, 1, sized(meta, 4 * MIB));
        }
        // L3 (capacity 10 MiB) holds 12 MiB of newer data in three tables;
        // the middle one meets three L4 tables, the outer ones two and one.
        edit.add_table(3, 2, sized(aged(20, "a", "c", (20, 25)), 4 * MIB));
        edit.add_table(3, 2, sized(aged(21, "d", "i", (26, 30)), 4 * MIB));
        edit.add_table(3, 2, sized(aged(22, "s", "t", (31, 35)), 4 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(v.check_invariants(), Ok(()));
        let idle = CompactionsInProgress::new();
        let first = picker.pick(&v, params, &idle).unwrap();
        let files = |c: &Compaction, level: usize| -> Vec<u64> {
            c.inputs
                .iter()
                .filter(|input| input.level == level)
                .flat_map(|input| input.tables.iter().map(|t| t.file_number))
                .collect()
        };
        assert_eq!(files(&first, 3), vec![22], "least overlap first");
        assert_eq!(files(&first, 4), vec![10]);
        assert_eq!(first.output_run_id, Some(1));
        assert!(first.bottommost);
        let mut running = CompactionsInProgress::new();
        running.register(&first);
        let second = picker.pick(&v, params, &running).unwrap();
        assert_eq!(files(&second, 3), vec![20]);
        assert_eq!(files(&second, 4), vec![1, 2]);
        running.register(&second);
        // The middle table meets L4 table 2, which the second one takes.
        assert_eq!(picker.pick(&v, params, &running), None);
        assert!(!running.admits(&first), "its own tables are taken");
        let mut after = v.clone();
        for c in [&second, &first] {
            after = applied(&after, c, 100 + c.inputs[0].tables[0].file_number);
            assert_eq!(after.check_invariants(), Ok(()));
        }
        assert_eq!(after.levels()[3].table_count(), 1);
        assert_eq!(after.levels()[4].runs().len(), 1);
        // One output table each (the helper), for tables 1, 2 and 10.
        assert_eq!(after.levels()[4].table_count(), 9);
        // A manual compaction of a key of the middle table takes just it.
        let ManualPick::Compaction(manual) =
            picker.pick_manual(&after, params, Some((b"e", b"e")), &idle)
        else {
            panic!("the middle table is left");
        };
        assert_eq!(files(&manual, 3), vec![21]);
        assert_eq!(files(&manual, 4).len(), 4);
        let after = applied(&after, &manual, 200);
        assert_eq!(after.check_invariants(), Ok(()));
        assert!(after.levels()[3].is_empty());
    }

    /// An output spanning old target data and new source data would break
    /// the age rule against a table above it that shares no key with the
    /// source (the old data is older than that table, the new data newer):
    /// the executor's cursor cuts the output between them.
    #[test]
    fn outputs_are_cut_where_the_age_rule_needs_it() {
        let mut edit = VersionEdit::new();
        // L3: the source (keys m..p, new) and a neighbour (c..e, seq 20).
        edit.add_table(3, 2, aged(20, "c", "e", (20, 20)));
        edit.add_table(3, 2, aged(21, "m", "p", (30, 40)));
        // L4: one old table spanning both (seq 1..10).
        edit.add_table(4, 1, aged(1, "a", "z", (1, 10)));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(v.check_invariants(), Ok(()));
        let compaction = Compaction {
            inputs: vec![
                whole_run(3, &v.levels()[3].runs()[0]),
                whole_run(4, &v.levels()[4].runs()[0]),
            ],
            output_level: 4,
            reason: CompactionReason::Manual,
            score: 1.0,
            bottommost: true,
            target_file_size_bytes: MIB,
            output_run_id: Some(1),
        };
        // The input tables are its own: take only table 21 from L3.
        let mut partial = compaction.clone();
        partial.inputs[0].tables.retain(|t| t.file_number == 21);
        let bounds = crate::executor::AgeBounds::new(&v, &partial, 1);
        let mut cursor = bounds.cursor();
        // Old keys a, d (seq 5) may share a table; the new key n (seq 35)
        // may not join them: table 20 above (seq 20) meets that table.
        assert!(!cursor.needs_cut(b"a", 5, 5));
        assert!(!cursor.needs_cut(b"d", 5, 5));
        assert!(cursor.needs_cut(b"n", 35, 35));
        // From n on, a table meets only tables it is newer than (below) or
        // nothing above: old and new data may mix again.
        assert!(!cursor.needs_cut(b"o", 35, 35));
        assert!(!cursor.needs_cut(b"x", 2, 2));
    }

    /// Issue 14: a tiered largest level within its `Z` runs but holding
    /// more than the space bound over its oldest run merges its runs into
    /// one; a leveled tree over the bound moves its upper level down.
    #[test]
    fn passing_the_space_bound_starts_a_space_amplification_compaction() {
        let bounded = Picker::new(PickerOptions {
            max_space_amplification: 1.5,
            ..options()
        });
        let tiering = PolicyParams::tiering(4).unwrap();
        let idle = CompactionsInProgress::new();
        let mut edit = VersionEdit::new();
        edit.add_table(4, 3, sized(aged(3, "a", "z", (21, 30)), 6 * MIB));
        edit.add_table(4, 2, sized(aged(2, "a", "z", (11, 20)), 6 * MIB));
        edit.add_table(4, 1, sized(aged(1, "a", "z", (1, 10)), 20 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(Picker::new(options()).pick(&v, tiering, &idle), None);
        let c = bounded.pick(&v, tiering, &idle).unwrap();
        assert_eq!(
            c.reason,
            CompactionReason::SpaceAmplification {
                tree_bytes: 32 * MIB,
                live_bytes: 20 * MIB,
            }
        );
        assert_eq!((c.output_level, c.inputs.len()), (4, 3));
        assert!(c.reason.to_string().contains("live data"));
        // Within the bound: nothing to do.
        let mut edit = VersionEdit::new();
        edit.add_table(4, 2, sized(aged(2, "a", "z", (11, 20)), 6 * MIB));
        edit.add_table(4, 1, sized(aged(1, "a", "z", (1, 10)), 20 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(bounded.pick(&v, tiering, &idle), None);
        // Leveled with T = 2: L2 and L3 under their capacities (10 and 20
        // MiB), the tree (64 MiB) over 1.5 times the largest level (40).
        let leveling = PolicyParams::leveling(2).unwrap();
        let mut edit = VersionEdit::new();
        edit.add_table(2, 4, sized(aged(4, "a", "z", (21, 30)), 8 * MIB));
        edit.add_table(3, 2, sized(aged(2, "a", "m", (11, 20)), 8 * MIB));
        edit.add_table(3, 2, sized(aged(3, "n", "z", (11, 20)), 8 * MIB));
        edit.add_table(4, 1, sized(aged(1, "a", "z", (1, 10)), 40 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(Picker::new(options()).pick(&v, leveling, &idle), None);
        let c = bounded.pick(&v, leveling, &idle).unwrap();
        assert!(matches!(
            c.reason,
            CompactionReason::SpaceAmplification { .. }
        ));
        assert_eq!((c.inputs[0].level, c.output_level), (3, 4));
        assert_eq!(c.inputs[0].tables.len(), 1, "one table at a time");
    }

    /// Issue 14: after an overwrite, level-0 flushes below the trigger hold
    /// the newer versions of the bottom's keys; the space bound counts them
    /// (RocksDB universal's estimate: every level over the largest), so
    /// they move down into the bottom, one slice at a time, and the
    /// overwritten versions go.
    #[test]
    fn level0_tables_overwriting_the_bottom_start_a_space_amplification_compaction() {
        let bounded = Picker::new(PickerOptions {
            max_space_amplification: 1.5,
            ..options()
        });
        let lazy = PolicyParams::lazy_leveling(3).unwrap();
        let idle = CompactionsInProgress::new();
        let mut edit = VersionEdit::new();
        edit.add_table(0, 3, sized(aged(3, "a", "z", (21, 30)), 3 * MIB));
        edit.add_table(0, 2, sized(aged(2, "a", "z", (11, 20)), 3 * MIB));
        edit.add_table(4, 1, sized(aged(1, "a", "z", (1, 10)), 4 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        v.check_invariants().unwrap();
        // Two runs under the trigger of 4: no level-0 compaction.
        assert_eq!(Picker::new(options()).pick(&v, lazy, &idle), None);
        let c = bounded.pick(&v, lazy, &idle).unwrap();
        assert_eq!(
            c.reason,
            CompactionReason::SpaceAmplification {
                tree_bytes: 10 * MIB,
                live_bytes: 4 * MIB,
            }
        );
        assert_eq!((c.inputs[0].level, c.output_level), (0, 4));
        assert_eq!(c.output_run_id, Some(1), "joins the bottom run");
        assert_eq!(c.input_bytes(), 10 * MIB);
        // One small flush over the bottom stays within the bound.
        let mut edit = VersionEdit::new();
        edit.add_table(0, 2, sized(aged(2, "a", "z", (11, 20)), MIB));
        edit.add_table(4, 1, sized(aged(1, "a", "z", (1, 10)), 4 * MIB));
        let v = Version::empty(5).apply(&edit).unwrap();
        assert_eq!(bounded.pick(&v, lazy, &idle), None);
    }

    #[test]
    fn manual_compaction_walks_the_range_down_to_one_run() {
        let picker = Picker::new(options());
        let params = PolicyParams::tiering(10).unwrap();
        let mut v = version(&[(0, 10, 10, MIB), (4, 1, 1, 50 * MIB), (4, 2, 2, 5 * MIB)]);
        let running = CompactionsInProgress::new();
        let mut next_number = 100;
        for step in 0.. {
            assert!(step < 10, "manual compaction does not converge");
            match picker.pick_manual(&v, params, Some((b"b", b"c")), &running) {
                ManualPick::Done => break,
                ManualPick::Busy => panic!("nothing is running"),
                ManualPick::Compaction(c) => {
                    let mut edit = c.removal_edit();
                    let size = c.input_bytes();
                    edit.add_table(
                        c.output_level,
                        next_number,
                        table(next_number, "a", "z", size),
                    );
                    next_number += 1;
                    v = v.apply(&edit).unwrap();
                }
            }
        }
        assert_eq!(v.runs_count(), 1);
        assert_eq!(v.levels()[4].size_bytes(), 56 * MIB);
        assert_eq!(
            picker.pick_manual(&v, params, None, &running),
            ManualPick::Done
        );
    }
}
