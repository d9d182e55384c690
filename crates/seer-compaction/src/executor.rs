//! The executor: runs a [`Compaction`] (or a flush) by merging sorted input
//! streams, deciding per user key which versions survive, and writing the
//! survivors to new tables cut at a target size on user-key boundaries,
//! and wherever a table would otherwise break the tree's age rule against a
//! table outside the compaction ([`AgeBounds`]).
//!
//! Rules per user key ([`KeyCompactor`]), for live snapshots `s_1 < ... <
//! s_n`: the versions are cut into *stripes*, the versions between two
//! adjacent snapshots; a reader at any snapshot sees the newest version of
//! its stripe or an older stripe, so each stripe keeps only its newest
//! version. Merge operands on top of a stripe are collapsed with the
//! [`MergeOperator`] once a base is known (a put or tombstone in the stripe,
//! the resolved value of the stripe below, or nothing at all at the
//! bottom), and partially merged otherwise; an expiring put is not a known
//! base (it may expire later, and readers then merge onto nothing), so
//! operands above it stay, partially merged, over it. At the bottom (nothing older
//! below the compaction), tombstones with nothing older left are dropped
//! once no snapshot is older than them (the oldest live snapshot sees them),
//! so a transaction still finds every key written since it began.
//!
//! The executor does no scheduling: it syncs the new tables and the
//! directory, returns the [`VersionEdit`] for the caller to log, and counts
//! the bytes read and written. When [`INVARIANT_CHECKS`] is on it also
//! checks its outputs: in key order and disjoint, each read back with the
//! meta it was written with, and within the inputs' keys and sequence
//! numbers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::filename::file_name;
use seer_core::{
    Clock, FileKind, FragmentedTombstones, InternalIterator, InternalKey, MergeOperator,
    MergingIterator, ParsedInternalKey, SeqNo, SharedFileSystem, ValueKind,
};
use seer_sstable::{BlockCache, Table, TableBuilder, TableOptions};

use crate::edit::VersionEdit;
use crate::error::{Error, Result};
use crate::filter::{CompactionFilter, EntryFilter, FilterContext};
use crate::picker::Compaction;
use crate::range_del::{OutputSplitter, RangeDelCompaction};
use crate::version::{InvariantViolation, Version, INVARIANT_CHECKS};
use crate::TableMeta;

/// Filter bits per key are kept within this range whatever Monkey says
/// (and the database refuses a larger average).
pub const MAX_FILTER_BITS_PER_KEY: f64 = 24.0;

/// What the executor needs from the database.
#[derive(Clone)]
pub struct ExecutorContext {
    /// The file system.
    pub fs: SharedFileSystem,
    /// The database directory (tables are `NNN.sst` in it).
    pub dir: PathBuf,
    /// Options of output tables; `bloom_bits_per_key` is replaced per output
    /// level by Monkey's allocation.
    pub table_options: TableOptions,
    /// Average bloom bits per entry over the whole tree (Monkey's budget).
    pub filter_bits_per_entry: f64,
    /// Sequence numbers of the live snapshots, ascending.
    pub snapshots: Vec<SeqNo>,
    /// The merge operator; without one, operands are kept as they are.
    pub merge_operator: Option<Arc<dyn MergeOperator>>,
    /// The compaction filter compactions (not flushes) ask about the puts
    /// they keep ([`crate::filter`]); `None`: no filter.
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
    /// The newest sequence number a registered reader (snapshot,
    /// transaction, iterator) reads at, without the database's visible
    /// one, which `snapshots` also lists: the compaction filter sees only
    /// versions above it. `None`: no registered reader.
    pub newest_reader_seq: Option<SeqNo>,
    /// The clock that decides which expiring puts a compaction turns into
    /// tombstones; `None`: none (flushes never do).
    pub clock: Option<Arc<dyn Clock>>,
    /// The block cache for reading compressed input tables.
    pub block_cache: Option<Arc<BlockCache>>,
    /// Input tables the database already has open, by file number: a
    /// compaction reads through these instead of mapping the files a second
    /// time (a second map counts every page it touches once more in the
    /// process's resident memory). Inputs not listed are opened from `dir`.
    pub open_inputs: HashMap<u64, Arc<Table>>,
    /// When set (by the owner, e.g. a closing database), the work stops at
    /// the next key it writes, removes its outputs and fails with
    /// [`Error::Cancelled`]; `None`: never cancelled.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for ExecutorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorContext")
            .field("dir", &self.dir)
            .field("snapshots", &self.snapshots)
            .field("filter_bits_per_entry", &self.filter_bits_per_entry)
            .finish_non_exhaustive()
    }
}

/// Bytes and entries moved by one compaction or flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Bytes of the input tables (0 for a flush or a trivial move).
    pub input_bytes: u64,
    /// Bytes of the output tables.
    pub output_bytes: u64,
    /// Entries read.
    pub input_entries: u64,
    /// Entries written.
    pub output_entries: u64,
}

/// The outcome of a compaction or flush: the edit to log, and its tables.
#[derive(Debug, Clone)]
pub struct CompactionResult {
    /// Removes the inputs and adds the outputs as one new run.
    pub edit: VersionEdit,
    /// The new tables, in key order.
    pub outputs: Vec<Arc<TableMeta>>,
    /// What was read and written.
    pub stats: CompactionStats,
}

/// Bytes a compaction reads from an input table at a time. The inputs are
/// read with positional reads into one buffer each, not through their
/// memory maps, so a merge does not leave every page of its inputs mapped
/// in the process (`seer-sstable`'s `readahead.rs`); RocksDB's
/// `compaction_readahead_size` defaults to 2 MiB per input, and seerdb's
/// merges may open more inputs at once (every table of every input run).
pub const COMPACTION_READAHEAD_BYTES: usize = 512 << 10;

/// Runs `compaction` over `version` (the version it was picked from),
/// taking new file numbers from `new_file_number`. A trivial move relinks
/// the input run without rewriting it. The outputs form a new run, or join
/// [`Compaction::output_run_id`]. [`prepare_compaction`] and
/// [`PreparedCompaction::run`] in one step.
pub fn run_compaction(
    compaction: &Compaction,
    version: &Version,
    context: &ExecutorContext,
    new_file_number: &dyn Fn() -> u64,
) -> Result<CompactionResult> {
    prepare_compaction(compaction, version, context, new_file_number)?.run(context, new_file_number)
}

/// A compaction with what it takes from the version it was picked from
/// (the tables its outputs must keep the age rule against, the outputs'
/// filter bits), so that the caller can release that version while the
/// merge runs: a version held for a whole merge keeps every table other
/// compactions replace meanwhile on disk until the merge ends.
pub struct PreparedCompaction<'c> {
    compaction: &'c Compaction,
    run_id: u64,
    plan: Plan,
}

/// What a prepared compaction does.
enum Plan {
    /// Relinks its input run (a trivial move): it needs nothing of the
    /// version.
    Move,
    /// Merges its inputs into outputs written to `target`, keeping the
    /// age rule against `age_bounds`.
    Merge {
        age_bounds: AgeBounds,
        target: OutputTarget,
    },
}

/// Prepares `compaction`, picked from `version`, to run
/// ([`PreparedCompaction::run`]); the output run's id comes from
/// `new_file_number` unless the outputs join a run.
pub fn prepare_compaction<'c>(
    compaction: &'c Compaction,
    version: &Version,
    context: &ExecutorContext,
    new_file_number: &dyn Fn() -> u64,
) -> Result<PreparedCompaction<'c>> {
    let run_id = compaction.output_run_id.unwrap_or_else(new_file_number);
    let plan = if compaction.is_trivial_move() {
        Plan::Move
    } else {
        let without_inputs = version.apply(&compaction.removal_edit())?;
        Plan::Merge {
            age_bounds: AgeBounds::new(version, compaction, run_id),
            target: OutputTarget {
                level: compaction.output_level,
                run_id,
                target_file_size_bytes: compaction.target_file_size_bytes,
                bloom_bits_per_key: monkey_bits(
                    &without_inputs,
                    compaction.output_level,
                    compaction.input_entry_count(),
                    context.filter_bits_per_entry,
                ),
                creation_policy: "compaction",
                split_keys: Vec::new(),
                min_split_bytes: 0,
            },
        }
    };
    Ok(PreparedCompaction {
        compaction,
        run_id,
        plan,
    })
}

impl PreparedCompaction<'_> {
    /// Runs the compaction, taking new file numbers from
    /// `new_file_number` (see [`run_compaction`]).
    pub fn run(
        self,
        context: &ExecutorContext,
        new_file_number: &dyn Fn() -> u64,
    ) -> Result<CompactionResult> {
        let Self {
            compaction,
            run_id,
            plan,
        } = self;
        let (age_bounds, target) = match plan {
            Plan::Move => {
                return Ok(CompactionResult {
                    edit: compaction.trivial_move_edit(run_id),
                    outputs: Vec::new(),
                    stats: CompactionStats::default(),
                })
            }
            Plan::Merge { age_bounds, target } => (age_bounds, target),
        };
        let mut children = Vec::new();
        let mut tombstones = Vec::new();
        for table in compaction.input_tables() {
            let opened = match context.open_inputs.get(&table.file_number) {
                Some(open) => Arc::clone(open),
                None => Arc::new(Table::open(
                    context.fs.as_ref(),
                    &table_path(&context.dir, table.file_number),
                    table.file_number,
                    context.block_cache.clone(),
                )?),
            };
            tombstones.extend(opened.range_tombstones().tombstones());
            children.push(opened.sequential_iter(context.fs.as_ref(), COMPACTION_READAHEAD_BYTES)?);
        }
        let mut input = MergingIterator::new(children);
        let range_dels =
            RangeDelCompaction::new(tombstones, &context.snapshots, compaction.bottommost);
        let entry_filter = EntryFilter::new(
            context.compaction_filter.as_ref(),
            FilterContext {
                level: compaction.output_level,
                is_bottommost: compaction.bottommost,
            },
            context.newest_reader_seq,
            context.clock.as_ref().map(|clock| clock.now_unix_ms()),
        );
        let mut result = write_stream(
            &mut input,
            compaction.bottommost,
            &target,
            Some(&age_bounds),
            (&range_dels, &entry_filter),
            context,
            new_file_number,
        )?;
        if INVARIANT_CHECKS {
            check_within_inputs(compaction, &result.outputs)?;
        }
        result.stats.input_bytes = compaction.input_bytes();
        let mut edit = compaction.removal_edit();
        edit.added_tables = result.edit.added_tables;
        result.edit = edit;
        Ok(result)
    }
}

/// What a flush writes: an immutable memtable's entries and range
/// tombstones.
pub struct FlushInput<'a, I> {
    /// The entries, sorted.
    pub entries: &'a mut I,
    /// About how many entries there are (sizes the run for Monkey's filter
    /// bits).
    pub entries_count: u64,
    /// The memtable's range tombstones.
    pub range_tombstones: &'a FragmentedTombstones,
}

/// Writes a sorted stream (an immutable memtable) as one new level-0 run. Tombstones are kept (older data may lie
/// below); merge operands are partially merged; the range tombstones are
/// written with the entries, and the versions they delete
/// that no snapshot needs are dropped. An empty stream without range
/// tombstones gives an empty edit. Besides the target size, the run is cut at `split_keys`
/// (ascending user keys, [`crate::Picker::flush_split_keys`]) once a table
/// holds `1 / FLUSH_MIN_SPLIT_FRACTION` of the target size, so that a
/// level-0 compaction can take one key range of the level below.
pub fn flush<I>(
    input: FlushInput<'_, I>,
    version: &Version,
    context: &ExecutorContext,
    target_file_size_bytes: u64,
    split_keys: Vec<Bytes>,
    new_file_number: &dyn Fn() -> u64,
) -> Result<CompactionResult>
where
    I: InternalIterator,
    Error: From<I::Error>,
{
    let range_dels = RangeDelCompaction::new(
        input.range_tombstones.tombstones(),
        &context.snapshots,
        false,
    );
    let input_entries_count = input.entries_count;
    let target = OutputTarget {
        level: 0,
        run_id: new_file_number(),
        target_file_size_bytes,
        bloom_bits_per_key: monkey_bits(
            version,
            0,
            input_entries_count,
            context.filter_bits_per_entry,
        ),
        creation_policy: "flush",
        split_keys,
        min_split_bytes: target_file_size_bytes / FLUSH_MIN_SPLIT_FRACTION,
    };
    // A flush's run is read first and holds the newest data: no cut for
    // age. Flushes do not call the compaction filter.
    write_stream(
        input.entries,
        false,
        &target,
        None,
        (&range_dels, &EntryFilter::default()),
        context,
        new_file_number,
    )
}

fn monkey_bits(version: &Version, level: usize, entries: u64, bits_per_entry: f64) -> u32 {
    let bits = version.filter_bits_per_key(level, entries.max(1), bits_per_entry);
    bits.clamp(0.0, MAX_FILTER_BITS_PER_KEY).round() as u32
}

fn table_path(dir: &Path, file_number: u64) -> PathBuf {
    dir.join(file_name(FileKind::Table, file_number))
}

/// A flush cuts at a split key only once its table holds this fraction
/// (`1/n`) of the target size: level-0 tables stay large however many
/// tables the level below has.
pub const FLUSH_MIN_SPLIT_FRACTION: u64 = 16;

/// Where and how a stream's survivors are written.
struct OutputTarget {
    level: usize,
    run_id: u64,
    target_file_size_bytes: u64,
    bloom_bits_per_key: u32,
    creation_policy: &'static str,
    /// User keys (ascending) a new table starts at, once the current one
    /// holds `min_split_bytes` (a flush's split keys; none for compactions).
    split_keys: Vec<Bytes>,
    min_split_bytes: u64,
}

fn write_stream<I>(
    input: &mut I,
    bottommost: bool,
    target: &OutputTarget,
    age_bounds: Option<&AgeBounds>,
    (range_dels, entry_filter): (&RangeDelCompaction, &EntryFilter<'_>),
    context: &ExecutorContext,
    new_file_number: &dyn Fn() -> u64,
) -> Result<CompactionResult>
where
    I: InternalIterator,
    Error: From<I::Error>,
{
    let compactor = KeyCompactor {
        snapshots: &context.snapshots,
        bottommost,
        merge_operator: context.merge_operator.as_deref(),
    };
    let mut writer = OutputWriter::new(
        target,
        age_bounds.map(AgeBounds::cursor),
        context,
        new_file_number,
    );
    writer.set_range_tombstones(range_dels.surviving());
    let written = compact_stream_with(input, &compactor, range_dels, entry_filter, |entries| {
        writer.add_key(entries)
    });
    let (outputs, counts) = match written {
        Ok(counts) => (writer.finish(), counts),
        Err(error) => {
            writer.abandon();
            return Err(error);
        }
    };
    let outputs = outputs?;
    if INVARIANT_CHECKS {
        check_written(&outputs, context)?;
    }
    if !outputs.is_empty() {
        // The tables' names must be durable before a manifest names them.
        let dir = &context.dir;
        context.fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut edit = VersionEdit::new();
    for table in &outputs {
        edit.add_table(target.level, target.run_id, Arc::clone(table));
    }
    let stats = CompactionStats {
        input_bytes: 0,
        output_bytes: outputs.iter().map(|t| t.file_size_bytes).sum(),
        input_entries: counts.0,
        output_entries: counts.1,
    };
    Ok(CompactionResult {
        edit,
        outputs,
        stats,
    })
}

/// The paired check of a stream's outputs (when [`INVARIANT_CHECKS`] is
/// on): in key order with disjoint user keys, and each one, read back from
/// disk, has the meta the builder reported.
fn check_written(outputs: &[Arc<TableMeta>], context: &ExecutorContext) -> Result<()> {
    let bad = |file_number: u64, detail: String| {
        Error::Invariant(InvariantViolation::Output {
            file_number,
            detail,
        })
    };
    for pair in outputs.windows(2) {
        if pair[0].largest.user_key() >= pair[1].smallest.user_key() {
            let detail = format!("does not start after output {} ends", pair[0].file_number);
            return Err(bad(pair[1].file_number, detail));
        }
    }
    for meta in outputs {
        let path = table_path(&context.dir, meta.file_number);
        let table = Table::open(context.fs.as_ref(), &path, meta.file_number, None)?;
        let reread =
            TableMeta::from_properties(meta.file_number, meta.file_size_bytes, table.properties());
        if reread != **meta {
            let detail = format!("reads back as {reread:?}, written as {meta:?}");
            return Err(bad(meta.file_number, detail));
        }
        if let Some((low, high)) = table.range_tombstones().user_key_bounds() {
            if low < meta.smallest.user_key().as_ref() || high > meta.largest.user_key().as_ref() {
                let detail = "range tombstones outside its key range".to_owned();
                return Err(bad(meta.file_number, detail));
            }
        }
    }
    Ok(())
}

/// The paired check of a compaction's outputs (when [`INVARIANT_CHECKS`]
/// is on): their user keys and sequence numbers lie within the inputs'.
fn check_within_inputs(compaction: &Compaction, outputs: &[Arc<TableMeta>]) -> Result<()> {
    let (Some((start, end)), Some(smallest_seq), Some(largest_seq)) = (
        compaction.user_key_range(),
        compaction.input_tables().map(|t| t.smallest_seq).min(),
        compaction.input_tables().map(|t| t.largest_seq).max(),
    ) else {
        return Ok(());
    };
    for meta in outputs {
        let keys_inside = *meta.smallest.user_key() >= start && *meta.largest.user_key() <= end;
        let seqs_inside = meta.smallest_seq >= smallest_seq && meta.largest_seq <= largest_seq;
        if !keys_inside || !seqs_inside {
            return Err(Error::Invariant(InvariantViolation::Output {
                file_number: meta.file_number,
                detail: format!(
                    "holds keys or sequence numbers outside the inputs' ({:?}..={:?}, {smallest_seq}..={largest_seq})",
                    start, end
                ),
            }));
        }
    }
    Ok(())
}

/// Writes survivors into tables, starting a new one at a user-key boundary
/// once the current one reaches the target size, and wherever the age
/// cursor says the table would break the age rule.
///
/// The age cursor is shown every user key where a table's claimed key
/// range can grow, in key order: each entry's key, each surviving
/// fragment's start and upper claim, and each boundary of a table outside
/// the compaction (where the set of tables an output meets changes), each
/// with the sequence numbers the table takes on reaching it. A table ends
/// at the last such position before the one the cursor refuses, and its
/// share of the fragments ends there (`position + [0]`), so its key range
/// is exactly what the cursor checked, with or without entries.
struct OutputWriter<'a> {
    target: &'a OutputTarget,
    age: Option<AgeCursor<'a>>,
    context: &'a ExecutorContext,
    new_file_number: &'a dyn Fn() -> u64,
    builder: Option<TableBuilder>,
    finished: Vec<Arc<TableMeta>>,
    /// The first of `target.split_keys` not yet passed.
    next_split: usize,
    /// Hands each table its share of the surviving range tombstones.
    splitter: OutputSplitter,
    /// The positions other than entries' keys the age cursor is shown
    /// (ascending); `next_position` is the first not yet shown.
    positions: Vec<Bytes>,
    next_position: usize,
    /// The last position the open table reached (its share ends there).
    last_position: Bytes,
    /// Whether the open table holds fragments (it may hold no entry).
    holds_fragments: bool,
    /// The internal key being added, encoded (reused for every entry).
    encoded_key: Vec<u8>,
}

impl<'a> OutputWriter<'a> {
    fn new(
        target: &'a OutputTarget,
        age: Option<AgeCursor<'a>>,
        context: &'a ExecutorContext,
        new_file_number: &'a dyn Fn() -> u64,
    ) -> Self {
        Self {
            target,
            age,
            context,
            new_file_number,
            builder: None,
            finished: Vec::new(),
            next_split: 0,
            splitter: OutputSplitter::new(FragmentedTombstones::default()),
            positions: Vec::new(),
            next_position: 0,
            last_position: Bytes::new(),
            holds_fragments: false,
            encoded_key: Vec::new(),
        }
    }

    /// Whether `user_key` passes a split key (consumed) while the current
    /// table holds at least the minimum split size.
    fn passes_split(&mut self, user_key: &[u8]) -> bool {
        let split_keys = &self.target.split_keys;
        let mut passed = false;
        while split_keys
            .get(self.next_split)
            .is_some_and(|split| &split[..] <= user_key)
        {
            self.next_split += 1;
            passed = true;
        }
        passed
            && self
                .builder
                .as_ref()
                .is_some_and(|b| b.estimated_file_size() >= self.target.min_split_bytes)
    }

    /// Sets the range tombstones the tables share, and the positions the
    /// age cursor must be shown because of them: the fragments' starts and
    /// claims, and the boundaries of the tables outside the compaction
    /// (inside a fragment, a table's key range grows past them without an
    /// entry).
    fn set_range_tombstones(&mut self, surviving: FragmentedTombstones) {
        self.splitter = OutputSplitter::new(surviving);
        self.positions = self.splitter.positions();
        if let Some(age) = &self.age {
            if !self.positions.is_empty() {
                self.positions.extend(age.boundaries());
                self.positions.sort();
                self.positions.dedup();
            }
        }
    }

    /// Shows the age cursor the positions below `user_key` (all that are
    /// left when `None`) that a fragment reaches, ending the table before
    /// one that needs it; positions equal to `user_key` are its entry's.
    fn show_positions_below(&mut self, user_key: Option<&[u8]>) -> Result<()> {
        while let Some(position) = self.positions.get(self.next_position).cloned() {
            if user_key.is_some_and(|user_key| position.as_ref() > user_key) {
                break;
            }
            self.next_position += 1;
            if user_key.is_some_and(|user_key| position.as_ref() == user_key) {
                break;
            }
            let Some((low, high)) = self.splitter.seqs_around(&position) else {
                continue;
            };
            if self
                .age
                .as_mut()
                .is_some_and(|age| age.needs_cut(&position, low, high))
            {
                self.finish_table(false)?;
            }
            self.last_position = position;
            self.holds_fragments = true;
        }
        Ok(())
    }

    fn add_key(&mut self, entries: &[(InternalKey, Bytes)]) -> Result<()> {
        let cancelled = self.context.cancel.as_ref();
        if cancelled.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        let Some((first, _)) = entries.first() else {
            return Ok(());
        };
        let full = self
            .builder
            .as_ref()
            .is_some_and(|b| b.estimated_file_size() >= self.target.target_file_size_bytes);
        let split = self.passes_split(first.user_key());
        if full || split {
            if let Some(age) = &mut self.age {
                age.cut();
            }
            self.finish_table(false)?;
        }
        self.show_positions_below(Some(first.user_key()))?;
        let too_old = match &mut self.age {
            Some(age) => {
                let seqs = entries.iter().map(|(key, _)| key.seq());
                let fragment_seqs = self
                    .splitter
                    .seqs_around(first.user_key())
                    .into_iter()
                    .flat_map(|(low, high)| [low, high]);
                let seqs = seqs.chain(fragment_seqs);
                let smallest_seq = seqs.clone().min().unwrap_or(0);
                let largest_seq = seqs.max().unwrap_or(0);
                age.needs_cut(first.user_key(), smallest_seq, largest_seq)
            }
            None => false,
        };
        if too_old {
            self.finish_table(false)?;
        }
        let builder = match &mut self.builder {
            Some(builder) => builder,
            None => self.builder.insert(self.new_builder()?),
        };
        for (key, value) in entries {
            self.encoded_key.clear();
            key.encode_into(&mut self.encoded_key);
            builder.add(&self.encoded_key, value)?;
        }
        self.last_position = first.user_key().clone();
        Ok(())
    }

    fn new_builder(&self) -> Result<TableBuilder> {
        let number = (self.new_file_number)();
        let options = TableOptions {
            bloom_bits_per_key: self.target.bloom_bits_per_key,
            creation_level: Some(self.target.level as u32),
            creation_policy: self.target.creation_policy.to_owned(),
            ..self.context.table_options.clone()
        };
        let path = table_path(&self.context.dir, number);
        Ok(TableBuilder::new(
            Arc::clone(&self.context.fs),
            &path,
            options,
        )?)
    }

    /// Finishes the open table with its share of the range tombstones, up
    /// to its last position (all that are left when it is the `last`). A
    /// table is written without entries when it holds tombstones.
    fn finish_table(&mut self, last: bool) -> Result<()> {
        let open = self.builder.is_some()
            || self.holds_fragments
            || (last && !self.splitter.is_exhausted());
        self.holds_fragments = false;
        if !open {
            return Ok(());
        }
        let share = match last {
            true => self.splitter.for_last_output(),
            false => self.splitter.for_output(&self.last_position),
        };
        let mut builder = match self.builder.take() {
            Some(builder) => builder,
            None if share.is_empty() => return Ok(()),
            None => self.new_builder()?,
        };
        builder.set_range_tombstones(share)?;
        self.finished.push(Arc::new(builder.finish()?));
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Arc<TableMeta>>> {
        let finished = self
            .show_positions_below(None)
            .and_then(|()| self.finish_table(true));
        match finished {
            Ok(()) => Ok(std::mem::take(&mut self.finished)),
            Err(error) => {
                self.abandon();
                Err(error)
            }
        }
    }

    /// Removes everything written so far (best effort: a file left behind
    /// is an orphan the next open reports).
    fn abandon(&mut self) {
        if let Some(builder) = self.builder.take() {
            let _ = builder.abandon();
        }
        for table in self.finished.drain(..) {
            let _ = self
                .context
                .fs
                .remove_file(&table_path(&self.context.dir, table.file_number));
        }
    }
}

/// The tables outside a compaction that its outputs must keep the age rule
/// with ([`Version::check_invariants`]): those meeting its key range, split
/// into the ones read before its output run (an output's data must be no
/// newer than theirs) and after it (no older). Each list is in order of
/// smallest user key.
#[derive(Debug, Clone, Default)]
pub struct AgeBounds {
    above: Vec<Arc<TableMeta>>,
    below: Vec<Arc<TableMeta>>,
}

impl AgeBounds {
    /// The bounds of `compaction`, picked from `version`, whose outputs form
    /// or join run `run_id` of its output level.
    pub fn new(version: &Version, compaction: &Compaction, run_id: u64) -> Self {
        let mut bounds = Self::default();
        let Some((start, end)) = compaction.user_key_range() else {
            return bounds;
        };
        let inputs: std::collections::HashSet<u64> =
            compaction.input_tables().map(|t| t.file_number).collect();
        let output = (compaction.output_level, std::cmp::Reverse(run_id));
        for (level, run) in version.runs_newest_first() {
            let position = (level, std::cmp::Reverse(run.run_id()));
            let list = match position.cmp(&output) {
                std::cmp::Ordering::Less => &mut bounds.above,
                std::cmp::Ordering::Greater => &mut bounds.below,
                // The joined run's other tables lie outside the range.
                std::cmp::Ordering::Equal => continue,
            };
            list.extend(
                run.overlapping_tables(&start, &end)
                    .iter()
                    .filter(|t| !inputs.contains(&t.file_number))
                    .cloned(),
            );
        }
        for list in [&mut bounds.above, &mut bounds.below] {
            list.sort_by(|a, b| a.smallest.user_key().cmp(b.smallest.user_key()));
        }
        bounds
    }

    /// A cursor for writing the outputs in key order.
    pub fn cursor(&self) -> AgeCursor<'_> {
        AgeCursor {
            bounds: self,
            next_above: 0,
            next_below: 0,
            table: None,
        }
    }
}

/// Walks a compaction's outputs in key order and says where a table must
/// end so that it keeps the age rule against [`AgeBounds`].
#[derive(Debug, Clone)]
pub struct AgeCursor<'a> {
    bounds: &'a AgeBounds,
    next_above: usize,
    next_below: usize,
    table: Option<OpenTable>,
}

/// The output table being written, as the age rule sees it.
#[derive(Debug, Clone, Copy)]
struct OpenTable {
    smallest_seq: u64,
    largest_seq: u64,
    /// The least `smallest_seq` of the tables above that it meets.
    ceiling_seq: u64,
    /// The greatest `largest_seq` of the tables below that it meets.
    floor_seq: u64,
}

impl OpenTable {
    fn keeps_the_rule(&self) -> bool {
        self.largest_seq <= self.ceiling_seq && self.smallest_seq >= self.floor_seq
    }
}

impl AgeCursor<'_> {
    /// The next table starts at the next key (cut for size).
    pub fn cut(&mut self) {
        self.table = None;
    }

    /// The user keys where a table outside the compaction starts or ends.
    fn boundaries(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.bounds
            .above
            .iter()
            .chain(&self.bounds.below)
            .flat_map(|t| [t.smallest.user_key().clone(), t.largest.user_key().clone()])
    }

    /// Takes the next user key (greater than every key before), whose
    /// versions span `smallest_seq..=largest_seq`: whether the table being
    /// written must end before it (a new one then starts with it).
    pub fn needs_cut(&mut self, user_key: &[u8], smallest_seq: u64, largest_seq: u64) -> bool {
        // Tables starting at or before this key now meet the open table.
        let mut ceiling_seq = u64::MAX;
        while let Some(t) = self.bounds.above.get(self.next_above) {
            if t.smallest.user_key().as_ref() > user_key {
                break;
            }
            ceiling_seq = ceiling_seq.min(t.smallest_seq);
            self.next_above += 1;
        }
        let mut floor_seq = 0;
        while let Some(t) = self.bounds.below.get(self.next_below) {
            if t.smallest.user_key().as_ref() > user_key {
                break;
            }
            floor_seq = floor_seq.max(t.largest_seq);
            self.next_below += 1;
        }
        if let Some(open) = &self.table {
            let extended = OpenTable {
                smallest_seq: open.smallest_seq.min(smallest_seq),
                largest_seq: open.largest_seq.max(largest_seq),
                ceiling_seq: open.ceiling_seq.min(ceiling_seq),
                floor_seq: open.floor_seq.max(floor_seq),
            };
            if extended.keeps_the_rule() {
                self.table = Some(extended);
                return false;
            }
        }
        // A new table starts here: it meets the tables passed so far that
        // reach this key.
        let reaching = |t: &&Arc<TableMeta>| t.largest.user_key().as_ref() >= user_key;
        let bounds = self.bounds;
        let was_open = self.table.is_some();
        self.table = Some(OpenTable {
            smallest_seq,
            largest_seq,
            ceiling_seq: bounds.above[..self.next_above]
                .iter()
                .filter(reaching)
                .map(|t| t.smallest_seq)
                .min()
                .unwrap_or(u64::MAX),
            floor_seq: bounds.below[..self.next_below]
                .iter()
                .filter(reaching)
                .map(|t| t.largest_seq)
                .max()
                .unwrap_or(0),
        });
        was_open
    }
}

/// Decides which versions of one user key survive a compaction.
#[derive(Clone, Copy)]
pub struct KeyCompactor<'a> {
    /// Live snapshot sequence numbers, ascending.
    pub snapshots: &'a [SeqNo],
    /// Nothing older than the input lies below it: tombstones with nothing
    /// older may go, and merges without a base resolve against nothing.
    pub bottommost: bool,
    /// The merge operator, if the database has one.
    pub merge_operator: Option<&'a dyn MergeOperator>,
}

/// What lies under a stripe, as seen from its top.
enum Below {
    Nothing,
    Value(Bytes),
    Deleted,
    Unresolved,
}

impl KeyCompactor<'_> {
    /// The surviving versions of one user key, newest first, from all of
    /// its versions `(key, value)`, newest first.
    pub fn compact_key(
        &self,
        versions: &[(InternalKey, Bytes)],
    ) -> Result<Vec<(InternalKey, Bytes)>> {
        self.compact_key_borrowed(versions).map(Cow::into_owned)
    }

    /// [`Self::compact_key`], borrowing `versions` when they all survive
    /// as they are: a lone version other than a merge operand (most keys of
    /// a flush or compaction) is its own stripe and survives unchanged
    /// unless it is a bottommost tombstone no snapshot needs, so the key
    /// costs no allocation.
    pub fn compact_key_borrowed<'v>(
        &self,
        versions: &'v [(InternalKey, Bytes)],
    ) -> Result<Cow<'v, [(InternalKey, Bytes)]>> {
        if let [(key, _)] = versions {
            if key.kind() != ValueKind::Merge {
                return Ok(if self.drops_tombstone(key) {
                    Cow::Owned(Vec::new())
                } else {
                    Cow::Borrowed(versions)
                });
            }
        }
        let mut stripes: Vec<&[(InternalKey, Bytes)]> = Vec::new();
        let mut start = 0;
        for index in 1..=versions.len() {
            let boundary = index == versions.len()
                || self.stripe(versions[index].0.seq()) != self.stripe(versions[start].0.seq());
            if boundary {
                stripes.push(&versions[start..index]);
                start = index;
            }
        }
        let mut below = Below::Nothing;
        let mut kept_oldest_first: Vec<Vec<(InternalKey, Bytes)>> = Vec::new();
        for stripe in stripes.iter().rev() {
            let (kept, next_below) = self.compact_stripe(stripe, below)?;
            kept_oldest_first.push(kept);
            below = next_below;
        }
        let mut survivors: Vec<(InternalKey, Bytes)> =
            kept_oldest_first.into_iter().rev().flatten().collect();
        while survivors
            .last()
            .is_some_and(|(key, _)| self.drops_tombstone(key))
        {
            survivors.pop();
        }
        Ok(Cow::Owned(survivors))
    }

    /// Whether the oldest survivor `key` is a tombstone that may go: in the
    /// bottommost level, one no older snapshot sees past (every reader sees
    /// it or something newer). One newer than the oldest snapshot stays
    /// while that snapshot lives, so a transaction reading it still finds
    /// that the key was written after it began (first-committer-wins).
    fn drops_tombstone(&self, key: &InternalKey) -> bool {
        let oldest_snapshot = self.snapshots.first().copied().unwrap_or(SeqNo::MAX);
        self.bottommost && key.kind() == ValueKind::Delete && key.seq() <= oldest_snapshot
    }

    /// The index of the first snapshot that sees `seq` (`snapshots.len()`
    /// when only the latest view does).
    fn stripe(&self, seq: SeqNo) -> usize {
        self.snapshots.partition_point(|&s| s < seq)
    }

    fn compact_stripe(
        &self,
        stripe: &[(InternalKey, Bytes)],
        below: Below,
    ) -> Result<(Vec<(InternalKey, Bytes)>, Below)> {
        let (top_key, top_value) = &stripe[0];
        match top_key.kind() {
            ValueKind::Put => {
                return Ok((vec![stripe[0].clone()], Below::Value(top_value.clone())))
            }
            // It may expire after this compaction: operands above it stay
            // unresolved, for readers to merge with their clock.
            ValueKind::ExpiringPut => return Ok((vec![stripe[0].clone()], Below::Unresolved)),
            ValueKind::Delete => return Ok((vec![stripe[0].clone()], Below::Deleted)),
            ValueKind::Merge => {}
        }
        let operands_count = stripe
            .iter()
            .take_while(|(key, _)| key.kind() == ValueKind::Merge)
            .count();
        let Some(operator) = self.merge_operator else {
            let kept_count = (operands_count + 1).min(stripe.len());
            return Ok((stripe[..kept_count].to_vec(), Below::Unresolved));
        };
        let operands: Vec<Bytes> = stripe[..operands_count]
            .iter()
            .rev()
            .map(|(_, value)| value.clone())
            .collect();
        let expiring_base = stripe
            .get(operands_count)
            .filter(|(key, _)| key.kind() == ValueKind::ExpiringPut);
        let base = match stripe.get(operands_count) {
            Some((key, value)) if key.kind() == ValueKind::Put => Some(Some(value.clone())),
            Some(_) if expiring_base.is_some() => None,
            Some(_) => Some(None),
            None => match below {
                Below::Value(value) => Some(Some(value)),
                Below::Deleted => Some(None),
                Below::Nothing if self.bottommost => Some(None),
                Below::Nothing | Below::Unresolved => None,
            },
        };
        let user_key = top_key.user_key();
        if let Some(base) = base {
            let merged = Bytes::from(operator.full_merge(user_key, base.as_deref(), &operands)?);
            let key = InternalKey::new(user_key.clone(), top_key.seq(), ValueKind::Put);
            return Ok((vec![(key, merged.clone())], Below::Value(merged)));
        }
        let partial = (operands.len() >= 2)
            .then(|| operator.partial_merge(user_key, &operands))
            .flatten();
        let mut kept = match partial {
            Some(merged) => vec![(top_key.clone(), Bytes::from(merged))],
            None => stripe[..operands_count].to_vec(),
        };
        kept.extend(expiring_base.cloned());
        Ok((kept, Below::Unresolved))
    }
}

/// Feeds every user key's surviving versions of a sorted stream to `emit`,
/// returning the entries read and written.
pub fn compact_stream<I>(
    input: &mut I,
    compactor: &KeyCompactor<'_>,
    emit: impl FnMut(&[(InternalKey, Bytes)]) -> Result<()>,
) -> Result<(u64, u64)>
where
    I: InternalIterator,
    Error: From<I::Error>,
{
    let no_range_dels = RangeDelCompaction::new([], compactor.snapshots, compactor.bottommost);
    compact_stream_with(
        input,
        compactor,
        &no_range_dels,
        &EntryFilter::default(),
        emit,
    )
}

/// [`compact_stream`] with the inputs' range tombstones applied to each
/// key's versions ([`RangeDelCompaction::apply_to_key`]), then the
/// compaction filter ([`EntryFilter::apply`]).
pub fn compact_stream_with<I>(
    input: &mut I,
    compactor: &KeyCompactor<'_>,
    range_dels: &RangeDelCompaction,
    entry_filter: &EntryFilter<'_>,
    mut emit: impl FnMut(&[(InternalKey, Bytes)]) -> Result<()>,
) -> Result<(u64, u64)>
where
    I: InternalIterator,
    Error: From<I::Error>,
{
    let (mut read, mut written) = (0u64, 0u64);
    let mut versions: Vec<(InternalKey, Bytes)> = Vec::new();
    input.seek_to_first()?;
    loop {
        let next = if input.valid() {
            let parsed = ParsedInternalKey::parse(input.key()).map_err(Error::InputKey)?;
            Some((parsed.to_owned_key(), input.value().clone()))
        } else {
            None
        };
        let new_key = match (&next, versions.first()) {
            (Some((key, _)), Some((first, _))) => key.user_key() != first.user_key(),
            (None, Some(_)) => true,
            _ => false,
        };
        if new_key {
            let survivors = if range_dels.is_empty() && entry_filter.is_noop() {
                compactor.compact_key_borrowed(&versions)?
            } else {
                let applied = entry_filter.apply(range_dels.apply_to_key(&versions))?;
                Cow::Owned(range_dels.without_placed(compactor.compact_key(&applied)?))
            };
            if INVARIANT_CHECKS {
                entry_filter.check_survivors(&survivors)?;
            }
            written += survivors.len() as u64;
            if !survivors.is_empty() {
                emit(&survivors)?;
            }
            versions.clear();
        }
        let Some(entry) = next else {
            break;
        };
        read += 1;
        debug_assert!(versions.last().is_none_or(|(last, _)| *last < entry.0));
        versions.push(entry);
        input.next()?;
    }
    Ok((read, written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterDecision;
    use crate::picker::{CompactionInput, CompactionReason};
    use proptest::prelude::*;
    use seer_core::fault::FaultFileSystem;
    use seer_core::{FileSystem, StringAppendOperator, U64AddOperator, MAX_SEQ};
    use seer_sstable::{TableIterator, UserKeyBounds};

    /// A cursor over entries held in memory, in internal-key order.
    struct VecIter {
        entries: Vec<(Vec<u8>, Bytes)>,
        position: usize,
    }

    impl VecIter {
        fn new(mut entries: Vec<(InternalKey, Bytes)>) -> Self {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Self {
                entries: entries.into_iter().map(|(k, v)| (k.encode(), v)).collect(),
                position: usize::MAX,
            }
        }
    }

    impl InternalIterator for VecIter {
        type Error = std::convert::Infallible;
        fn valid(&self) -> bool {
            self.position < self.entries.len()
        }
        fn key(&self) -> &[u8] {
            &self.entries[self.position].0
        }
        fn value(&self) -> &Bytes {
            &self.entries[self.position].1
        }
        fn seek_to_first(&mut self) -> Result<(), Self::Error> {
            self.position = 0;
            Ok(())
        }
        fn seek_to_last(&mut self) -> Result<(), Self::Error> {
            self.position = self.entries.len().wrapping_sub(1);
            Ok(())
        }
        fn seek(&mut self, target: &[u8]) -> Result<(), Self::Error> {
            self.position = self
                .entries
                .partition_point(|(k, _)| seer_core::compare_internal_keys(k, target).is_lt());
            Ok(())
        }
        fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Self::Error> {
            self.position = self
                .entries
                .partition_point(|(k, _)| seer_core::compare_internal_keys(k, target).is_le())
                .wrapping_sub(1);
            Ok(())
        }
        fn next(&mut self) -> Result<(), Self::Error> {
            self.position += 1;
            Ok(())
        }
        fn prev(&mut self) -> Result<(), Self::Error> {
            self.position = self.position.wrapping_sub(1);
            Ok(())
        }
    }

    fn n(value: u64) -> Bytes {
        Bytes::copy_from_slice(&value.to_le_bytes())
    }

    /// What a reader at `snapshot` sees for `user_key` in `entries` at
    /// `now_unix_ms`.
    fn view(
        entries: &[(InternalKey, Bytes)],
        user_key: &[u8],
        (snapshot, now_unix_ms): (SeqNo, u64),
        operator: &dyn MergeOperator,
    ) -> Option<Bytes> {
        let mut versions: Vec<&(InternalKey, Bytes)> = entries
            .iter()
            .filter(|(k, _)| k.user_key().as_ref() == user_key && k.seq() <= snapshot)
            .collect();
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut operands = Vec::new();
        for (key, value) in versions {
            match key.kind() {
                ValueKind::Merge => operands.push(value.clone()),
                kind => {
                    let base = match kind {
                        ValueKind::Put => Some(value.clone()),
                        ValueKind::ExpiringPut => {
                            seer_core::expiry::live_value(value, now_unix_ms).unwrap()
                        }
                        _ => None,
                    };
                    if operands.is_empty() {
                        return base;
                    }
                    operands.reverse();
                    let merged = operator.full_merge(user_key, base.as_deref(), &operands);
                    return Some(Bytes::from(merged.unwrap()));
                }
            }
        }
        if operands.is_empty() {
            return None;
        }
        operands.reverse();
        Some(Bytes::from(
            operator.full_merge(user_key, None, &operands).unwrap(),
        ))
    }

    fn compact_all(
        input: Vec<(InternalKey, Bytes)>,
        compactor: &KeyCompactor<'_>,
    ) -> Vec<(InternalKey, Bytes)> {
        let mut output = Vec::new();
        compact_stream(&mut VecIter::new(input), compactor, |entries| {
            output.extend_from_slice(entries);
            Ok(())
        })
        .unwrap();
        output
    }

    fn entry() -> impl Strategy<Value = (u8, u8, u64)> {
        (0u8..4, 0u8..4, 0u64..1000)
    }

    /// When the expiring puts [`build`] makes expire.
    const BUILT_EXPIRY_MS: u64 = 500;

    /// Builds entries with unique sequence numbers from `first_seq` on
    /// (expiring puts expire at [`BUILT_EXPIRY_MS`]).
    fn build(raw: &[(u8, u8, u64)], first_seq: SeqNo) -> Vec<(InternalKey, Bytes)> {
        raw.iter()
            .enumerate()
            .map(|(i, &(key, kind, value))| {
                let kind = [
                    ValueKind::Put,
                    ValueKind::Delete,
                    ValueKind::Merge,
                    ValueKind::ExpiringPut,
                ][kind as usize];
                let user_key = Bytes::copy_from_slice(&[b'a' + key]);
                let value = match kind {
                    ValueKind::ExpiringPut => {
                        seer_core::expiry::encode_expiring(BUILT_EXPIRY_MS, &n(value))
                    }
                    _ => n(value),
                };
                (
                    InternalKey::new(user_key, first_seq + i as u64, kind),
                    value,
                )
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn every_snapshot_sees_the_same_data_after_compaction(
            raw in proptest::collection::vec(entry(), 0..40),
            lower_raw in proptest::collection::vec(entry(), 0..10),
            snapshot_offsets in proptest::collection::btree_set(0u64..60, 0..6),
            bottommost in any::<bool>(),
        ) {
            let operator = U64AddOperator;
            let input = build(&raw, 100);
            let lower = if bottommost { Vec::new() } else { build(&lower_raw, 1) };
            let snapshots: Vec<SeqNo> = snapshot_offsets.iter().map(|o| 95 + o).collect();
            let compactor = KeyCompactor {
                snapshots: &snapshots,
                bottommost,
                merge_operator: Some(&operator),
            };
            let output = compact_all(input.clone(), &compactor);
            prop_assert!(output.windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert!(output.len() <= input.len());
            let before: Vec<_> = input.iter().chain(&lower).cloned().collect();
            let after: Vec<_> = output.iter().chain(&lower).cloned().collect();
            // Before and after the expiring puts expire: a compaction that
            // ran before the expiry must agree with readers after it.
            for now_unix_ms in [0, BUILT_EXPIRY_MS] {
                for key in [b"a", b"b", b"c", b"d"] {
                    for &snapshot in snapshots.iter().chain([MAX_SEQ].iter()) {
                        prop_assert_eq!(
                            view(&before, key, (snapshot, now_unix_ms), &operator),
                            view(&after, key, (snapshot, now_unix_ms), &operator),
                            "key {:?} at {} at {} ms", key, snapshot, now_unix_ms
                        );
                    }
                }
            }
        }
    }

    fn key(user_key: &'static str, seq: SeqNo, kind: ValueKind) -> InternalKey {
        InternalKey::new(Bytes::from_static(user_key.as_bytes()), seq, kind)
    }

    #[test]
    fn stripes_keep_one_version_each_and_the_bottom_drops_tombstones() {
        let input = vec![
            (key("k", 9, ValueKind::Put), n(9)),
            (key("k", 8, ValueKind::Put), n(8)),
            (key("k", 5, ValueKind::Delete), n(0)),
            (key("k", 3, ValueKind::Put), n(3)),
            (key("x", 4, ValueKind::Delete), n(0)),
        ];
        let snapshots = [6];
        let not_bottom = KeyCompactor {
            snapshots: &snapshots,
            bottommost: false,
            merge_operator: None,
        };
        let kept: Vec<SeqNo> = compact_all(input.clone(), &not_bottom)
            .iter()
            .map(|(k, _)| k.seq())
            .collect();
        assert_eq!(kept, vec![9, 5, 4]);
        let bottom = KeyCompactor {
            bottommost: true,
            ..not_bottom
        };
        let kept: Vec<SeqNo> = compact_all(input, &bottom)
            .iter()
            .map(|(k, _)| k.seq())
            .collect();
        // The tombstone at 5 hides 3 from snapshot 6 and nothing lies below: both go.
        assert_eq!(kept, vec![9]);
    }

    /// A lone version other than a merge operand comes back borrowed (no
    /// allocation per key), as the general path would keep it: a put, a
    /// tombstone above the bottommost level or one a snapshot still
    /// needs; a bottommost tombstone no snapshot needs goes.
    #[test]
    fn a_lone_version_survives_borrowed_unless_it_is_a_droppable_tombstone() {
        let snapshots = [6];
        let compactor = |bottommost| KeyCompactor {
            snapshots: &snapshots,
            bottommost,
            merge_operator: None,
        };
        let cases = [
            (key("k", 9, ValueKind::Put), true, true),
            (key("k", 4, ValueKind::Delete), false, true),
            (key("k", 7, ValueKind::Delete), true, true),
            (key("k", 4, ValueKind::Delete), true, false),
        ];
        for (entry, bottommost, kept) in cases {
            let versions = [(entry, n(1))];
            let survivors = compactor(bottommost)
                .compact_key_borrowed(&versions)
                .unwrap();
            assert_eq!(matches!(survivors, Cow::Borrowed(_)), kept);
            assert_eq!(survivors.len(), usize::from(kept));
        }
    }

    /// Removes keys whose value is `n(2)`; replaces `n(3)` with `n(30)`.
    struct RemoveTwoChangeThree;

    impl CompactionFilter for RemoveTwoChangeThree {
        fn name(&self) -> &str {
            "test.remove_two_change_three"
        }

        fn filter(&self, _: &FilterContext, _: &[u8], value: &[u8]) -> FilterDecision {
            match value {
                v if v == n(2) => FilterDecision::Remove,
                v if v == n(3) => FilterDecision::ChangeValue(n(30)),
                _ => FilterDecision::Keep,
            }
        }
    }

    fn filtered(
        input: Vec<(InternalKey, Bytes)>,
        snapshots: &[SeqNo],
        bottommost: bool,
    ) -> Vec<(InternalKey, Bytes)> {
        let filter: Arc<dyn CompactionFilter> = Arc::new(RemoveTwoChangeThree);
        let compactor = KeyCompactor {
            snapshots,
            bottommost,
            merge_operator: Some(&U64AddOperator),
        };
        let context = FilterContext {
            level: 1,
            is_bottommost: bottommost,
        };
        let entry_filter =
            EntryFilter::new(Some(&filter), context, snapshots.last().copied(), None);
        let no_range_dels = RangeDelCompaction::new([], snapshots, bottommost);
        let mut output = Vec::new();
        compact_stream_with(
            &mut VecIter::new(input),
            &compactor,
            &no_range_dels,
            &entry_filter,
            |entries| {
                output.extend_from_slice(entries);
                Ok(())
            },
        )
        .unwrap();
        output
    }

    #[test]
    fn a_filtered_removal_is_a_tombstone_above_the_bottom_and_dropped_at_it() {
        let input = vec![
            (key("a", 9, ValueKind::Put), n(2)),
            (key("a", 4, ValueKind::Put), n(1)),
            (key("b", 8, ValueKind::Put), n(3)),
            (key("c", 7, ValueKind::Put), n(5)),
        ];
        let above = filtered(input.clone(), &[], false);
        assert_eq!(
            above,
            vec![
                (key("a", 9, ValueKind::Delete), Bytes::new()),
                (key("b", 8, ValueKind::Put), n(30)),
                (key("c", 7, ValueKind::Put), n(5)),
            ]
        );
        let bottom = filtered(input, &[], true);
        assert_eq!(
            bottom,
            vec![
                (key("b", 8, ValueKind::Put), n(30)),
                (key("c", 7, ValueKind::Put), n(5)),
            ]
        );
    }

    #[test]
    fn the_filter_skips_what_a_snapshot_reads_and_merge_operands() {
        let input = vec![
            // Newest put, but a snapshot at 9 reads it: not filtered.
            (key("a", 5, ValueKind::Put), n(2)),
            // Above the snapshot: filtered; the version the snapshot reads
            // stays below the tombstone.
            (key("b", 12, ValueKind::Put), n(2)),
            (key("b", 6, ValueKind::Put), n(3)),
            // A merge operand on top: not shown, and the base it merges
            // onto is not the newest version.
            (key("c", 11, ValueKind::Merge), n(2)),
            (key("c", 10, ValueKind::Put), n(2)),
        ];
        assert_eq!(
            filtered(input, &[9], true),
            vec![
                (key("a", 5, ValueKind::Put), n(2)),
                (key("b", 12, ValueKind::Delete), Bytes::new()),
                (key("b", 6, ValueKind::Put), n(3)),
                (key("c", 11, ValueKind::Put), n(4)),
            ]
        );
    }

    /// A put and a delete after a transaction's snapshot, compacted at the
    /// bottom, must leave a trace newer than the snapshot, or the
    /// transaction's validation finds nothing and commits over them.
    #[test]
    fn a_bottommost_tombstone_newer_than_the_oldest_snapshot_stays() {
        let input = vec![
            (key("k", 9, ValueKind::Delete), n(0)),
            (key("k", 8, ValueKind::Put), n(8)),
        ];
        let with_snapshot = KeyCompactor {
            snapshots: &[5, 10],
            bottommost: true,
            merge_operator: None,
        };
        let kept: Vec<SeqNo> = compact_all(input.clone(), &with_snapshot)
            .iter()
            .map(|(k, _)| k.seq())
            .collect();
        assert_eq!(kept, vec![9]);
        let released = KeyCompactor {
            snapshots: &[10],
            ..with_snapshot
        };
        assert!(compact_all(input, &released).is_empty());
    }

    #[test]
    fn merges_collapse_onto_a_base_or_partially() {
        let operator = StringAppendOperator::new(",");
        let input = vec![
            (key("k", 7, ValueKind::Merge), Bytes::from_static(b"c")),
            (key("k", 6, ValueKind::Merge), Bytes::from_static(b"b")),
            (key("k", 5, ValueKind::Put), Bytes::from_static(b"a")),
            (key("m", 4, ValueKind::Merge), Bytes::from_static(b"y")),
            (key("m", 3, ValueKind::Merge), Bytes::from_static(b"x")),
        ];
        let compactor = KeyCompactor {
            snapshots: &[],
            bottommost: false,
            merge_operator: Some(&operator),
        };
        let output = compact_all(input.clone(), &compactor);
        assert_eq!(
            output,
            vec![
                (key("k", 7, ValueKind::Put), Bytes::from_static(b"a,b,c")),
                (key("m", 4, ValueKind::Merge), Bytes::from_static(b"x,y")),
            ]
        );
        let bottom = KeyCompactor {
            bottommost: true,
            ..compactor
        };
        assert_eq!(
            compact_all(input.clone(), &bottom)[1],
            (key("m", 4, ValueKind::Put), Bytes::from_static(b"x,y"))
        );
        // Without an operator the operands and their base stay.
        let plain = KeyCompactor {
            merge_operator: None,
            ..compactor
        };
        assert_eq!(compact_all(input, &plain).len(), 5);
        // A failing operator fails the compaction.
        let bad = vec![
            (key("k", 2, ValueKind::Merge), Bytes::from_static(b"x")),
            (key("k", 1, ValueKind::Put), n(1)),
        ];
        let u64_add = U64AddOperator;
        let strict = KeyCompactor {
            merge_operator: Some(&u64_add),
            ..compactor
        };
        assert!(compact_stream(&mut VecIter::new(bad), &strict, |_| Ok(())).is_err());
    }

    /// Issue 14: a prepared compaction keeps nothing of the version it was
    /// picked from but the tables meeting its key range, so a caller that
    /// drops that version no longer pins the tables other compactions
    /// replace meanwhile (their files are deleted once unreferenced).
    #[test]
    fn a_prepared_compaction_holds_no_table_outside_its_key_range() {
        let moved = crate::edit::tests::table(10, "a", "c", 100);
        let elsewhere = crate::edit::tests::table(2, "x", "z", 100);
        let mut edit = VersionEdit::new();
        edit.add_table(0, 10, Arc::clone(&moved));
        edit.add_table(4, 1, Arc::clone(&elsewhere));
        let version = Version::empty(5).apply(&edit).unwrap();
        drop(edit);
        let compaction = Compaction {
            inputs: vec![CompactionInput {
                level: 0,
                run_id: 10,
                tables: vec![Arc::clone(&moved)],
            }],
            output_level: 4,
            reason: CompactionReason::Manual,
            score: 0.0,
            bottommost: true,
            target_file_size_bytes: 1 << 20,
            output_run_id: Some(1),
        };
        let fs = FaultFileSystem::new();
        let context = context(&fs);
        let prepared = prepare_compaction(&compaction, &version, &context, &|| 99).unwrap();
        assert_eq!(
            Arc::strong_count(&elsewhere),
            2,
            "the test's and the version's"
        );
        drop(version);
        assert_eq!(
            Arc::strong_count(&elsewhere),
            1,
            "the prepared compaction pins it"
        );
        let result = prepared.run(&context, &|| 99).unwrap();
        assert_eq!(
            result.edit.added_tables.len(),
            1,
            "a trivial move into run 1"
        );
    }

    fn context(fs: &FaultFileSystem) -> ExecutorContext {
        ExecutorContext {
            fs: fs.shared(),
            dir: PathBuf::from("/db"),
            table_options: TableOptions::default(),
            filter_bits_per_entry: 10.0,
            snapshots: Vec::new(),
            merge_operator: Some(Arc::new(U64AddOperator)),
            compaction_filter: None,
            newest_reader_seq: None,
            clock: None,
            block_cache: None,
            open_inputs: HashMap::new(),
            cancel: None,
        }
    }

    /// A file-number source counting up from `first`, as the version set's is.
    fn file_numbers_from(first: u64) -> impl Fn() -> u64 {
        let next = std::cell::Cell::new(first);
        move || {
            let number = next.get();
            next.set(number + 1);
            number
        }
    }

    /// Monkey sizes a flush's filter by its entry count: over a large
    /// bottom level, a small run gets more bits per key than a large one.
    #[test]
    fn flush_filter_bits_follow_the_input_entry_count() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let context = context(&fs);
        let next = file_numbers_from(11);
        let bottom = TableMeta {
            file_number: 1,
            file_size_bytes: 1 << 30,
            smallest: key("a", 1, ValueKind::Put),
            largest: key("z", 1, ValueKind::Put),
            smallest_seq: 1,
            largest_seq: 1,
            entry_count: 10_000_000,
            tombstone_count: 0,
            merge_count: 0,
            raw_key_bytes: 0,
            raw_value_bytes: 0,
            earliest_expiry_unix_ms: None,
        };
        let mut edit = VersionEdit::new();
        edit.add_table(3, 1, Arc::new(bottom));
        let version = Version::empty(4).apply(&edit).unwrap();
        let bits_for = |entries_count: u64| {
            let input = vec![(key("k", 2, ValueKind::Put), n(1))];
            let flushed = flush(
                FlushInput {
                    entries: &mut VecIter::new(input),
                    entries_count,
                    range_tombstones: &FragmentedTombstones::default(),
                },
                &version,
                &context,
                1 << 20,
                Vec::new(),
                &next,
            )
            .unwrap();
            let path = table_path(&context.dir, flushed.outputs[0].file_number);
            let table = Table::open(&fs, &path, 0, None).unwrap();
            table.properties().bloom_bits_per_key
        };
        let small_run_bits = bits_for(1_000);
        let large_run_bits = bits_for(5_000_000);
        assert!(
            small_run_bits > large_run_bits,
            "{small_run_bits} bits for 1k entries, {large_run_bits} for 5M"
        );
    }

    /// A closing database cancels its compactions: the executor stops at
    /// the next key and leaves no output file behind.
    #[test]
    fn a_cancelled_flush_fails_and_leaves_no_table() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let context = ExecutorContext {
            cancel: Some(Arc::clone(&cancel)),
            ..context(&fs)
        };
        let next = file_numbers_from(11);
        let version = Version::empty(4);
        let flush_ten_keys = || {
            let entries: Vec<(InternalKey, Bytes)> = (0..10)
                .map(|i| {
                    let user_key = Bytes::from(format!("key{i:05}"));
                    (InternalKey::new(user_key, i + 1, ValueKind::Put), n(i))
                })
                .collect();
            flush(
                FlushInput {
                    entries: &mut VecIter::new(entries),
                    entries_count: 10,
                    range_tombstones: &FragmentedTombstones::default(),
                },
                &version,
                &context,
                1 << 20,
                Vec::new(),
                &next,
            )
        };
        assert_eq!(flush_ten_keys().unwrap().outputs.len(), 1);
        let tables_before = fs.list_files().len();
        cancel.store(true, Ordering::Relaxed);
        let cancelled = flush_ten_keys();
        assert!(matches!(cancelled, Err(Error::Cancelled)), "{cancelled:?}");
        assert_eq!(fs.list_files().len(), tables_before);
    }

    /// Issue 14: a flush cuts its run at the split keys (the base run's
    /// table boundaries) once a table holds the minimum split size, and
    /// skips a split key that would leave a smaller table.
    #[test]
    fn a_flush_cuts_its_run_at_the_split_keys_past_the_minimum_size() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let context = context(&fs);
        let next = file_numbers_from(11);
        let entries: Vec<(InternalKey, Bytes)> = (0..3000u64)
            .map(|i| {
                let user_key = Bytes::from(format!("key{i:05}"));
                (InternalKey::new(user_key, i + 1, ValueKind::Put), n(i))
            })
            .collect();
        let split = |i: u64| Bytes::from(format!("key{i:05}"));
        // The run is about 100 KiB. A 16 MiB target's minimum split size
        // (1 MiB) is above it: no cut. A 256 KiB target's (16 KiB) is above
        // 5 entries and below 1000: cuts at the split keys 1000 and 2000.
        for (target_bytes, expected_starts) in [
            (16u64 << 20, vec![split(0)]),
            (256 << 10, vec![split(0), split(1000), split(2000)]),
        ] {
            let flushed = flush(
                FlushInput {
                    entries: &mut VecIter::new(entries.clone()),
                    entries_count: 3000,
                    range_tombstones: &FragmentedTombstones::default(),
                },
                &Version::empty(4),
                &context,
                target_bytes,
                vec![split(5), split(1000), split(2000)],
                &next,
            )
            .unwrap();
            let starts: Vec<Bytes> = flushed
                .outputs
                .iter()
                .map(|t| t.smallest.user_key().clone())
                .collect();
            assert_eq!(starts, expected_starts, "target {target_bytes}");
            assert_eq!(flushed.stats.output_entries, 3000);
        }
    }

    /// A compaction given the database's open input tables reads through
    /// them and does not map the files again; and it reads their data
    /// blocks with positional reads, so it merges every input entry while
    /// the memory it was given holds garbage where the data blocks were.
    #[test]
    fn a_compaction_reads_its_open_inputs_data_blocks_from_the_file_without_mapping_them() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let counting = Arc::new(seer_testkit::ForwardingFs::new(fs.shared()));
        let next = file_numbers_from(11);
        let mut version = Version::empty(4);
        let mut open_inputs = HashMap::new();
        for round in 0..2u64 {
            let entries: Vec<(InternalKey, Bytes)> = (0..100u64)
                .map(|i| {
                    let user_key = Bytes::from(format!("key{i:05}"));
                    let key = InternalKey::new(user_key, round * 1000 + i + 1, ValueKind::Put);
                    (key, n(i + round))
                })
                .collect();
            let flushed = flush(
                FlushInput {
                    entries: &mut VecIter::new(entries),
                    entries_count: 100,
                    range_tombstones: &FragmentedTombstones::default(),
                },
                &version,
                &context(&fs),
                1 << 20,
                Vec::new(),
                &next,
            )
            .unwrap();
            version = version.apply(&flushed.edit).unwrap();
            for meta in &flushed.outputs {
                let path = table_path(Path::new("/db"), meta.file_number);
                let mut bytes = fs.read(&path).unwrap();
                let layout = Table::open(&fs, &path, meta.file_number, None)
                    .unwrap()
                    .layout()
                    .unwrap();
                let data_end = layout.range_tombstones.unwrap_or(layout.filter).offset;
                let data_end = usize::try_from(data_end).unwrap();
                bytes[..data_end].fill(0xAB);
                let table =
                    Table::open_bytes(path, meta.file_number, Bytes::from(bytes), None).unwrap();
                open_inputs.insert(meta.file_number, Arc::new(table));
            }
        }
        let compaction = level0_to_bottom(&version, 1 << 20);
        let given = ExecutorContext {
            fs: Arc::clone(&counting) as SharedFileSystem,
            open_inputs,
            ..context(&fs)
        };
        let result = run_compaction(&compaction, &version, &given, &next).unwrap();
        assert_eq!(result.stats.input_entries, 200);
        assert_eq!(result.stats.output_entries, 100);
        // Only the invariant checks read the outputs back (by mapping).
        let output_checks = if INVARIANT_CHECKS {
            result.outputs.len() as u64
        } else {
            0
        };
        assert_eq!(
            counting.maps_count(),
            output_checks,
            "an input was mapped again"
        );
    }

    #[test]
    fn flush_then_compact_cuts_tables_on_key_boundaries() {
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let context = context(&fs);
        let next = file_numbers_from(11);
        let mut version = Version::empty(4);
        let mut runs = Vec::new();
        for round in 0..2u64 {
            let entries: Vec<(InternalKey, Bytes)> = (0..300u64)
                .map(|i| {
                    let user_key = Bytes::from(format!("key{i:05}"));
                    let kind = if round == 1 && i % 3 == 0 {
                        ValueKind::Merge
                    } else {
                        ValueKind::Put
                    };
                    (
                        InternalKey::new(user_key, round * 1000 + i + 1, kind),
                        n(i + round),
                    )
                })
                .collect();
            let flushed = flush(
                FlushInput {
                    entries: &mut VecIter::new(entries),
                    entries_count: 300,
                    range_tombstones: &FragmentedTombstones::default(),
                },
                &version,
                &context,
                1 << 20,
                Vec::new(),
                &next,
            )
            .unwrap();
            assert_eq!(flushed.outputs.len(), 1);
            assert_eq!(flushed.stats.output_entries, 300);
            version = version.apply(&flushed.edit).unwrap();
            runs.push(flushed);
            fs.power_loss(seer_core::fault::PowerLossMode::DropUnsynced);
        }
        let compaction = level0_to_bottom(&version, 2048);
        // Input metas that understate the inputs' sequence numbers: the
        // outputs' paired check refuses the result.
        let mut understated = compaction.clone();
        for input in &mut understated.inputs {
            for table in &mut input.tables {
                let mut meta = (**table).clone();
                meta.largest_seq = meta.smallest_seq;
                *table = Arc::new(meta);
            }
        }
        assert!(matches!(
            run_compaction(&understated, &version, &context, &next),
            Err(Error::Invariant(InvariantViolation::Output { .. }))
        ));
        let result = run_compaction(&compaction, &version, &context, &next).unwrap();
        assert!(result.outputs.len() > 2, "cut at the target size");
        assert_eq!(result.stats.input_entries, 600);
        assert_eq!(result.stats.output_entries, 300);
        assert_eq!(result.stats.input_bytes, compaction.input_bytes());
        assert!(result.stats.output_bytes > 0);
        let after = version.apply(&result.edit).unwrap();
        assert!(after.levels()[0].is_empty());
        assert_eq!(after.levels()[3].runs().len(), 1);
        for pair in result.outputs.windows(2) {
            assert!(pair[0].largest.user_key() < pair[1].smallest.user_key());
        }
        // Read the outputs back: the merge at key 3 resolved to 3 + (3 + 1).
        let mut children = Vec::new();
        for table in &result.outputs {
            let path = table_path(&context.dir, table.file_number);
            let opened = Table::open(&fs, &path, table.file_number, None).unwrap();
            children.push(TableIterator::new(
                Arc::new(opened),
                UserKeyBounds::default(),
            ));
        }
        let mut merged = MergingIterator::new(children);
        merged.seek_to_first().unwrap();
        let mut seen = 0;
        while merged.valid() {
            let parsed = ParsedInternalKey::parse(merged.key()).unwrap();
            assert_eq!(parsed.kind, ValueKind::Put);
            if parsed.user_key == b"key00003" {
                assert_eq!(merged.value(), &n(3 + 4));
            }
            seen += 1;
            merged.next().unwrap();
        }
        assert_eq!(seen, 300);
        // An empty flush writes nothing.
        let empty = flush(
            FlushInput {
                entries: &mut VecIter::new(Vec::new()),
                entries_count: 0,
                range_tombstones: &FragmentedTombstones::default(),
            },
            &after,
            &context,
            1 << 20,
            Vec::new(),
            &next,
        )
        .unwrap();
        assert!(empty.edit.added_tables.is_empty() && empty.outputs.is_empty());
    }

    /// A manual compaction of every level-0 run of `version` into level 3,
    /// the bottom.
    fn level0_to_bottom(version: &Version, target_file_size_bytes: u64) -> Compaction {
        let inputs = version.levels()[0]
            .runs()
            .iter()
            .map(|run| CompactionInput {
                level: 0,
                run_id: run.run_id(),
                tables: run.tables().to_vec(),
            })
            .collect();
        Compaction {
            inputs,
            output_level: 3,
            reason: CompactionReason::Manual,
            score: 1.0,
            bottommost: true,
            target_file_size_bytes,
            output_run_id: None,
        }
    }

    /// Flushes `entries` and `tombstones` as one level-0 run of `version`.
    fn flush_one_run(
        entries: Vec<(InternalKey, Bytes)>,
        tombstones: &FragmentedTombstones,
        version: &Version,
        context: &ExecutorContext,
        next: &dyn Fn() -> u64,
    ) -> CompactionResult {
        let input = FlushInput {
            entries_count: entries.len() as u64,
            entries: &mut VecIter::new(entries),
            range_tombstones: tombstones,
        };
        flush(input, version, context, 1 << 20, Vec::new(), next).unwrap()
    }

    /// Every entry and range tombstone of `outputs`, read back from disk.
    fn read_back(
        fs: &FaultFileSystem,
        outputs: &[Arc<TableMeta>],
    ) -> (Vec<(InternalKey, Bytes)>, Vec<seer_core::RangeTombstone>) {
        let (mut entries, mut tombstones) = (Vec::new(), Vec::new());
        for meta in outputs {
            let path = table_path(Path::new("/db"), meta.file_number);
            let table = Arc::new(Table::open(fs, &path, meta.file_number, None).unwrap());
            tombstones.extend(table.range_tombstones().tombstones());
            let mut iter = table.iter();
            iter.seek_to_first().unwrap();
            while iter.valid() {
                let key = InternalKey::decode(&Bytes::copy_from_slice(iter.key())).unwrap();
                entries.push((key, iter.value().clone()));
                iter.next().unwrap();
            }
        }
        (entries, tombstones)
    }

    #[test]
    fn range_tombstones_are_flushed_compacted_and_dropped_with_what_they_delete() {
        use seer_core::RangeTombstone;
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let mut context = context(&fs);
        let next = file_numbers_from(11);
        let mut version = Version::empty(4);
        let user = |i: u64| Bytes::from(format!("key{i:03}"));
        let puts: Vec<_> = (0..300u64)
            .map(|i| (InternalKey::new(user(i), i + 1, ValueKind::Put), n(i)))
            .collect();
        let none = FragmentedTombstones::default();
        let first = flush_one_run(puts, &none, &version, &context, &next);
        version = version.apply(&first.edit).unwrap();
        // The second memtable: key120 @ 999, then delete [key100, key200) @
        // 1000, then key150 @ 1001. No snapshot needs key120 @ 999: the
        // flush drops it.
        let deletes = FragmentedTombstones::new([RangeTombstone::new(user(100), user(200), 1000)]);
        let second_entries = vec![
            (InternalKey::new(user(120), 999, ValueKind::Put), n(9)),
            (InternalKey::new(user(150), 1001, ValueKind::Put), n(7)),
        ];
        let second = flush_one_run(second_entries, &deletes, &version, &context, &next);
        assert_eq!(second.stats.output_entries, 1);
        let (_, flushed_tombstones) = read_back(&fs, &second.outputs);
        assert_eq!(flushed_tombstones, deletes.tombstones().collect::<Vec<_>>());
        assert_eq!(second.outputs[0].smallest.user_key(), &user(100));
        assert_eq!(
            (
                second.outputs[0].smallest_seq,
                second.outputs[0].largest_seq
            ),
            (1000, 1001)
        );
        version = version.apply(&second.edit).unwrap();
        version.check_invariants().unwrap();
        let compaction = level0_to_bottom(&version, 1024);
        // A snapshot at 500 still reads the deleted versions: they and the
        // tombstone stay, the tombstone split among the outputs it spans.
        context.snapshots = vec![500];
        let kept = run_compaction(&compaction, &version, &context, &next).unwrap();
        assert!(kept.outputs.len() > 2, "cut at the target size");
        assert_eq!(kept.stats.output_entries, 301);
        let (entries, tombstones) = read_back(&fs, &kept.outputs);
        let all = FragmentedTombstones::new(tombstones);
        assert_eq!(all.max_covering_seq(b"key100", MAX_SEQ), Some(1000));
        assert_eq!(all.max_covering_seq(b"key199", MAX_SEQ), Some(1000));
        assert_eq!(all.max_covering_seq(b"key200", MAX_SEQ), None);
        assert_eq!(entries.len(), 301);
        version
            .apply(&kept.edit)
            .unwrap()
            .check_invariants()
            .unwrap();
        // Without snapshots, at the bottom: the deleted versions and the
        // tombstone go; key150 @ 1001, written after it, stays.
        context.snapshots = Vec::new();
        let dropped = run_compaction(&compaction, &version, &context, &next).unwrap();
        let (entries, tombstones) = read_back(&fs, &dropped.outputs);
        assert!(tombstones.is_empty());
        assert_eq!(entries.len(), 201);
        let live = |i: u64| entries.iter().any(|(key, _)| key.user_key() == &user(i));
        assert!(live(99) && live(150) && live(200) && !live(100) && !live(199));
        version
            .apply(&dropped.edit)
            .unwrap()
            .check_invariants()
            .unwrap();
        // A memtable of only a range delete flushes to a table of only it.
        let only = FragmentedTombstones::new([RangeTombstone::new(user(900), user(950), 2000)]);
        let empty_entries = Vec::new();
        let alone = flush_one_run(empty_entries, &only, &version, &context, &next);
        assert_eq!(alone.outputs.len(), 1);
        assert_eq!(alone.outputs[0].entry_count, 0);
        assert_eq!(
            read_back(&fs, &alone.outputs).1,
            only.tombstones().collect::<Vec<_>>()
        );
        version
            .apply(&alone.edit)
            .unwrap()
            .check_invariants()
            .unwrap();
    }

    /// Seed 14259697082667751857 of seer-db's metamorphic test, reduced: a
    /// level-0 compaction takes the newer run's table `a0156@8` and the
    /// older tombstone `[a0006, b0007)@5`, and leaves the newer run's
    /// `a0129@7` above. One output holding both broke the age rule.
    #[test]
    fn fragments_over_a_table_left_above_go_to_a_table_without_newer_entries() {
        use seer_core::RangeTombstone;
        let fs = FaultFileSystem::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let mut context = context(&fs);
        context.snapshots = vec![6];
        let next = file_numbers_from(11);
        let mut version = Version::empty(4);
        let tombstone =
            FragmentedTombstones::new([RangeTombstone::new(&b"a0006"[..], &b"b0007"[..], 5)]);
        let older = flush_one_run(Vec::new(), &tombstone, &version, &context, &next);
        version = version.apply(&older.edit).unwrap();
        let entries = vec![
            (InternalKey::new(&b"a0129"[..], 7, ValueKind::Put), n(7)),
            (InternalKey::new(&b"a0156"[..], 8, ValueKind::Put), n(8)),
        ];
        let input = FlushInput {
            entries_count: 2,
            entries: &mut VecIter::new(entries),
            range_tombstones: &FragmentedTombstones::default(),
        };
        let split = vec![Bytes::from_static(b"a0156")];
        let newer = flush(input, &version, &context, 16, split, &next).unwrap();
        assert_eq!(newer.outputs.len(), 2, "cut at the split key");
        version = version.apply(&newer.edit).unwrap();
        version.check_invariants().unwrap();
        let newer_run = newer.edit.added_tables[0].run_id;
        let compaction = Compaction {
            inputs: vec![
                CompactionInput {
                    level: 0,
                    run_id: newer_run,
                    tables: vec![Arc::clone(&newer.outputs[1])],
                },
                CompactionInput {
                    level: 0,
                    run_id: older.edit.added_tables[0].run_id,
                    tables: older.outputs.clone(),
                },
            ],
            output_level: 3,
            reason: CompactionReason::Manual,
            score: 1.0,
            bottommost: false,
            target_file_size_bytes: 1 << 20,
            output_run_id: None,
        };
        let result = run_compaction(&compaction, &version, &context, &next).unwrap();
        let after = version.apply(&result.edit).unwrap();
        after.check_invariants().unwrap();
        let (entries, tombstones) = read_back(&fs, &result.outputs);
        assert_eq!(entries.len(), 1);
        let all = FragmentedTombstones::new(tombstones);
        assert_eq!(all.max_covering_seq(b"a0129", MAX_SEQ), Some(5));
        assert_eq!(all.max_covering_seq(b"b0006", MAX_SEQ), Some(5));
        assert_eq!(
            result.outputs[0].entry_count, 0,
            "a tombstone-only table first"
        );
    }

    /// One flush of the property below: puts at keys `k00..k23` and range
    /// deletes `[start, start + length)` over them, in the drawn order (each
    /// its own sequence number), and the flush's target table size.
    type FlushDraw = (Vec<(bool, u8, u8)>, u64);

    fn flush_draw() -> impl Strategy<Value = FlushDraw> {
        (
            proptest::collection::vec((any::<bool>(), 0..24u8, 1..8u8), 1..24),
            24..160u64,
        )
    }

    /// One phase: flushes, which level-0 tables seed the compaction (by
    /// position in level order), and the compaction's target table size.
    type PhaseDraw = (Vec<FlushDraw>, Vec<bool>, u64);

    fn phase_draw() -> impl Strategy<Value = PhaseDraw> {
        (
            proptest::collection::vec(flush_draw(), 1..6),
            proptest::collection::vec(any::<bool>(), 64),
            24..240u64,
        )
    }

    /// The level-0 tables `seeds` picks, closed as a legal level-0
    /// compaction must be: with every table of an older run meeting a
    /// picked one (whatever newer tables it leaves above).
    fn closed_level0_pick(version: &Version, seeds: &[bool]) -> Vec<CompactionInput> {
        let runs = version.levels()[0].runs();
        let meets = |a: &TableMeta, b: &TableMeta| {
            a.smallest.user_key() <= b.largest.user_key()
                && b.smallest.user_key() <= a.largest.user_key()
        };
        let mut picked: Vec<Vec<bool>> = Vec::new();
        let mut position = 0;
        for run in runs {
            let flags = run.tables().iter().map(|_| {
                position += 1;
                seeds.get(position - 1).copied().unwrap_or(false)
            });
            picked.push(flags.collect());
        }
        // Runs are newest first: carry each pick down to the older runs.
        for newer in 0..runs.len() {
            for older in newer + 1..runs.len() {
                for (i, table) in runs[newer].tables().iter().enumerate() {
                    if !picked[newer][i] {
                        continue;
                    }
                    for (j, below) in runs[older].tables().iter().enumerate() {
                        if meets(table, below) {
                            picked[older][j] = true;
                        }
                    }
                }
            }
        }
        runs.iter()
            .zip(&picked)
            .filter_map(|(run, flags)| {
                let tables: Vec<Arc<TableMeta>> = run
                    .tables()
                    .iter()
                    .zip(flags)
                    .filter(|(_, picked)| **picked)
                    .map(|(table, _)| Arc::clone(table))
                    .collect();
                (!tables.is_empty()).then(|| CompactionInput {
                    level: 0,
                    run_id: run.run_id(),
                    tables,
                })
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        /// Level-0 runs of puts and range deletes, cut into small tables;
        /// a legal pick of some of them (newer tables left above, between
        /// and inside the picked ones) into level 3, then more flushes and
        /// a pick into level 2 over the level-3 run, then some of level 2
        /// into level 3's run: every version the compactions give keeps the
        /// age rule, however the fragments fall among the outputs and the
        /// tables left out.
        #[test]
        fn compactions_with_range_tombstones_keep_the_age_rule_against_the_tables_left_out(
            phases in proptest::collection::vec(phase_draw(), 2),
            deeper in (0..16usize, 0..3usize, 24..240u64),
        ) {
            use seer_core::RangeTombstone;
            let fs = FaultFileSystem::new();
            fs.create_dir_all(Path::new("/db")).unwrap();
            let context = context(&fs);
            let next = file_numbers_from(11);
            let mut version = Version::empty(4);
            let mut seq = 0;
            let user = |i: u8| Bytes::from(format!("k{i:02}"));
            for ((flushes, seeds, target_file_size_bytes), output_level) in phases.iter().zip([3, 2]) {
                for (writes, flush_target_bytes) in flushes {
                    let mut entries = std::collections::BTreeMap::new();
                    let mut tombstones = Vec::new();
                    for &(is_delete, key, length) in writes {
                        seq += 1;
                        if is_delete {
                            tombstones.push(RangeTombstone::new(user(key), user(key + length), seq));
                        } else {
                            entries.insert(user(key), (InternalKey::new(user(key), seq, ValueKind::Put), n(seq)));
                        }
                    }
                    let entries: Vec<_> = entries.into_values().collect();
                    let input = FlushInput {
                        entries_count: entries.len() as u64,
                        entries: &mut VecIter::new(entries),
                        range_tombstones: &FragmentedTombstones::new(tombstones),
                    };
                    let flushed = flush(input, &version, &context, *flush_target_bytes, Vec::new(), &next).unwrap();
                    version = version.apply(&flushed.edit).unwrap();
                    version.check_invariants().unwrap();
                }
                let inputs = closed_level0_pick(&version, seeds);
                if inputs.is_empty() {
                    continue;
                }
                let compaction = Compaction {
                    inputs,
                    output_level,
                    reason: CompactionReason::Manual,
                    score: 1.0,
                    bottommost: false,
                    target_file_size_bytes: *target_file_size_bytes,
                    output_run_id: None,
                };
                let result = run_compaction(&compaction, &version, &context, &next).unwrap();
                version = version.apply(&result.edit).unwrap();
                prop_assert!(version.check_invariants().is_ok(), "{:?}\n{version:?}", version.check_invariants());
            }
            // Tables of level 2's run into level 3's, with the level-3
            // tables they meet: fragments of both levels, level-0 tables
            // left above inside and between them.
            let (first, extra, target_file_size_bytes) = deeper;
            let Some(run) = version.levels()[2].runs().first() else {
                return Ok(());
            };
            let tables = run.tables();
            let first = first % tables.len();
            let moved = &tables[first..(first + extra + 1).min(tables.len())];
            let (Some(low), Some(high)) = (moved.first(), moved.last()) else {
                return Ok(());
            };
            let mut inputs = vec![CompactionInput { level: 2, run_id: run.run_id(), tables: moved.to_vec() }];
            let target_run = version.levels()[3].runs().first();
            if let Some(target) = target_run {
                let meeting = target.overlapping_tables(low.smallest.user_key(), high.largest.user_key());
                if !meeting.is_empty() {
                    inputs.push(CompactionInput { level: 3, run_id: target.run_id(), tables: meeting.to_vec() });
                }
            }
            let compaction = Compaction {
                inputs,
                output_level: 3,
                reason: CompactionReason::Manual,
                score: 1.0,
                bottommost: false,
                target_file_size_bytes,
                output_run_id: target_run.map(crate::version::SortedRun::run_id),
            };
            let result = run_compaction(&compaction, &version, &context, &next).unwrap();
            version = version.apply(&result.edit).unwrap();
            prop_assert!(version.check_invariants().is_ok(), "{:?}\n{version:?}", version.check_invariants());
        }
    }
}
