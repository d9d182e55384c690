//! Compaction: the threads' loop (adapt the policy to the observed
//! workload, pick with the layer's [`Picker`], run, install, delete what no
//! version references), manual `compact_range`, and the merge that runs a
//! compaction.
//!
//! The merge (standing in until seer-compaction ships its executor) walks
//! the inputs through a [`MergingIterator`] one user key at a time. The
//! live snapshot sequence numbers cut a key's versions into stripes; in
//! each stripe it keeps the newest entry, merge operands down to the first
//! put or tombstone (collapsed into one put with the merge operator when
//! that base is in the stripe), and drops the rest. In a bottommost
//! compaction the oldest stripe also loses a lone tombstone and collapses
//! base-less operands. Outputs are cut at the target file size, always
//! between user keys.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use seer_compaction::cost::TreeInputs;
use seer_compaction::{
    AdaptiveOptions, AdaptivePolicy, Compaction, CompactionsInProgress, ManualPick, Picker,
    PickerOptions, PolicyParams, Version, WorkloadWindow,
};
use seer_core::filename::file_name;
use seer_core::{
    FileKind, InternalIterator, MergeOperator, MergingIterator, ParsedInternalKey, SeqNo,
    ValueKind, TRAILER_BYTES,
};
use seer_sstable::{Table, TableBuilder, TableIterator, TableMeta};

use super::flush::{abandon, table_options};
use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::metrics::WorkloadCounts;
use crate::options::{CompactionPolicy, DBOptions};
use crate::tree::open_table;

/// The picker, the running compactions and the policy in force.
#[derive(Debug)]
pub(crate) struct CompactionState {
    picker: Picker,
    in_progress: Mutex<CompactionsInProgress>,
    policy: Mutex<PolicyState>,
}

#[derive(Debug)]
struct PolicyState {
    adaptive: Option<AdaptivePolicy>,
    params: PolicyParams,
    reason: String,
    counted: WorkloadCounts,
}

impl CompactionState {
    pub(crate) fn new(options: &DBOptions) -> Self {
        let params = options.initial_policy();
        let (adaptive, reason) = match options.compaction_policy {
            CompactionPolicy::Adaptive => (
                Some(AdaptivePolicy::new(params, AdaptiveOptions::default())),
                "adaptive: initial policy, no workload observed yet".to_owned(),
            ),
            CompactionPolicy::Fixed(_) => (None, "fixed by compaction_policy".to_owned()),
        };
        Self {
            picker: Picker::new(PickerOptions {
                l0_trigger_runs: options.l0_compaction_trigger,
                base_level_bytes: options.base_level_size_bytes,
                target_file_size_bytes: options.target_file_size_bytes,
            }),
            in_progress: Mutex::new(CompactionsInProgress::new()),
            policy: Mutex::new(PolicyState {
                adaptive,
                params,
                reason,
                counted: WorkloadCounts::default(),
            }),
        }
    }

    /// The policy in force and why.
    pub(crate) fn policy(&self) -> (PolicyParams, String) {
        let policy = self.policy.lock();
        (policy.params, policy.reason.clone())
    }

    /// Registers the picker's next compaction, if any.
    fn pick(&self, version: &Version) -> Option<Compaction> {
        let params = self.policy.lock().params;
        let mut in_progress = self.in_progress.lock();
        let compaction = self.picker.pick(version, params, &in_progress)?;
        in_progress.register(&compaction);
        Some(compaction)
    }

    fn pick_manual(&self, version: &Version, range: Option<(&[u8], &[u8])>) -> ManualPick {
        let params = self.policy.lock().params;
        let mut in_progress = self.in_progress.lock();
        let pick = self
            .picker
            .pick_manual(version, params, range, &in_progress);
        if let ManualPick::Compaction(compaction) = &pick {
            in_progress.register(compaction);
        }
        pick
    }

    fn finish(&self, compaction: &Compaction) {
        self.in_progress.lock().finish(compaction);
    }
}

/// Runs picked compactions until the picker finds nothing to do.
pub(crate) fn compact_while_needed(db: &DbInner) -> Result<()> {
    loop {
        adapt_policy(db);
        let version = Arc::clone(&db.tree().current().version);
        let Some(compaction) = db.jobs.compaction.pick(&version) else {
            return Ok(());
        };
        // Another thread may find a disjoint compaction meanwhile.
        db.jobs.wake_compaction();
        let result = run(db, &compaction);
        db.jobs.compaction.finish(&compaction);
        result?;
        db.jobs.announce_progress();
    }
}

/// Compacts the user keys in `[start, end]` (each `None` = unbounded) into
/// the largest level, in the calling thread.
pub(crate) fn compact_range(db: &DbInner, start: Option<Bytes>, end: Option<Bytes>) -> Result<()> {
    loop {
        db.health.check_writable()?;
        let version = Arc::clone(&db.tree().current().version);
        let range = manual_range(&version, start.as_deref(), end.as_deref());
        let Some(range) = range else {
            return Ok(());
        };
        let generation = db.jobs.progress_generation();
        match db
            .jobs
            .compaction
            .pick_manual(&version, Some((&range.0[..], &range.1[..])))
        {
            ManualPick::Done => return Ok(()),
            ManualPick::Busy => {
                let deadline = Instant::now() + db.options().write_stall_timeout;
                db.jobs.wait_progress(generation, deadline);
            }
            ManualPick::Compaction(compaction) => {
                let result = run(db, &compaction);
                db.jobs.compaction.finish(&compaction);
                if let Err(error) = result {
                    super::record_failure(db, "compaction", error.clone());
                    return Err(error);
                }
                db.jobs.announce_progress();
            }
        }
    }
}

/// The requested range clipped to the tree's keys (`None`: the tree is
/// empty).
fn manual_range(
    version: &Version,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
) -> Option<(Bytes, Bytes)> {
    let smallest = version
        .tables()
        .map(|(_, t)| t.smallest.user_key().clone())
        .min()?;
    let largest = version
        .tables()
        .map(|(_, t)| t.largest.user_key().clone())
        .max()?;
    let start = start.map_or(smallest, Bytes::copy_from_slice);
    let end = end.map_or(largest, Bytes::copy_from_slice);
    (start <= end).then_some((start, end))
}

/// Feeds the operations counted since the last window to the adaptive
/// policy (when configured).
fn adapt_policy(db: &DbInner) {
    let counts = db.metrics().workload_counts();
    let mut policy = db.jobs.compaction.policy.lock();
    let previous = std::mem::replace(&mut policy.counted, counts);
    let window = WorkloadWindow {
        updates: counts.updates - previous.updates,
        zero_result_lookups: counts.lookup_misses - previous.lookup_misses,
        point_lookups: (counts.lookups - previous.lookups)
            .saturating_sub(counts.lookup_misses - previous.lookup_misses),
        short_ranges: counts.short_ranges - previous.short_ranges,
        long_ranges: counts.long_ranges - previous.long_ranges,
    };
    let inputs = tree_inputs(db);
    let Some(adaptive) = policy.adaptive.as_mut() else {
        return;
    };
    let decision = adaptive.observe(&window, &inputs).clone();
    if window.total_ops() < AdaptiveOptions::default().min_window_ops {
        // Too few operations: keep counting into the same window.
        policy.counted = previous;
        return;
    }
    if decision.params != policy.params {
        tracing::info!(from = %policy.params, to = %decision.params, "compaction policy switched");
    }
    policy.params = decision.params;
    policy.reason = format!("adaptive: {decision}");
}

/// The cost model's view of the tree now.
fn tree_inputs(db: &DbInner) -> TreeInputs {
    let tree = db.tree().current();
    let entries = tree.version.entry_count().max(1) as f64;
    let bytes = tree.version.size_bytes().max(1) as f64;
    let entry_bytes = (bytes / entries).max(16.0);
    let options = db.options();
    TreeInputs {
        entries_count: entries,
        buffer_entries_count: (options.memtable_capacity_bytes as f64 / entry_bytes).max(1.0),
        filter_bits_per_entry: f64::from(options.bloom_bits_per_key),
        entries_per_page: (options.block_size_bytes as f64 / entry_bytes).max(1.0),
        ..TreeInputs::default()
    }
}

/// Runs one compaction and installs its result.
fn run(db: &DbInner, compaction: &Compaction) -> Result<()> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "compaction",
        output_level = compaction.output_level,
        reason = %compaction.reason,
        inputs = compaction.inputs.len()
    );
    let _entered = span.enter();
    let run_id = db.tree().new_file_number();
    let (params, _) = db.jobs.compaction.policy();
    let (mut edit, new_tables) = if compaction.is_trivial_move() {
        tracing::info!("trivial move");
        (compaction.trivial_move_edit(run_id), Vec::new())
    } else {
        let outputs = merge(db, compaction)?;
        let mut edit = compaction.removal_edit();
        let mut tables = Vec::with_capacity(outputs.len());
        for meta in &outputs {
            edit.add_table(compaction.output_level, run_id, Arc::new(meta.clone()));
            tables.push(open_table(
                db.fs.as_ref(),
                db.dir.path(),
                meta.file_number,
                db.block_cache.clone(),
            )?);
        }
        let written: u64 = outputs.iter().map(|m| m.file_size_bytes).sum();
        let metrics = db.metrics();
        metrics
            .compaction_read_bytes
            .fetch_add(compaction.input_bytes(), Ordering::Relaxed);
        metrics
            .compaction_write_bytes
            .fetch_add(written, Ordering::Relaxed);
        tracing::info!(
            read_bytes = compaction.input_bytes(),
            written_bytes = written,
            tables = outputs.len(),
            "compaction merged"
        );
        (edit, tables)
    };
    edit.policy = Some(params);
    db.tree().install(edit, new_tables)?;
    db.metrics()
        .compaction_count
        .fetch_add(1, Ordering::Relaxed);
    db.tree().delete_unreferenced()?;
    tracing::debug!(elapsed = ?started.elapsed(), "compaction done");
    Ok(())
}

/// One entry read from the inputs.
struct Entry {
    key: Vec<u8>,
    seq: SeqNo,
    kind: ValueKind,
    value: Bytes,
}

/// Merges the inputs into new tables of the output level.
fn merge(db: &DbInner, compaction: &Compaction) -> Result<Vec<TableMeta>> {
    let children: Vec<TableIterator> = compaction
        .input_tables()
        .map(|meta| db.table(meta).map(|t: Arc<Table>| t.iter()))
        .collect::<Result<_>>()?;
    let mut input = MergingIterator::new(children);
    input.seek_to_first()?;
    let mut writer = OutputWriter::new(db, compaction);
    let snapshots = db.snapshots().live_seqs();
    let rules = Rules {
        snapshots: &snapshots,
        bottommost: compaction.bottommost,
        operator: db.options().merge_operator_ref(),
    };
    let mut versions: Vec<Entry> = Vec::new();
    let mut kept: Vec<Entry> = Vec::new();
    while input.valid() {
        let parsed = parse(input.key())?;
        let same_key = versions
            .first()
            .is_some_and(|first| user_key(&first.key) == parsed.user_key);
        if !same_key && !versions.is_empty() {
            rules.keep(&mut versions, &mut kept);
            writer.write_key(&kept)?;
            kept.clear();
        }
        versions.push(Entry {
            key: input.key().to_vec(),
            seq: parsed.seq,
            kind: parsed.kind,
            value: input.value().clone(),
        });
        input.next()?;
    }
    if !versions.is_empty() {
        rules.keep(&mut versions, &mut kept);
        writer.write_key(&kept)?;
    }
    writer.finish()
}

fn parse(key: &[u8]) -> Result<ParsedInternalKey<'_>> {
    ParsedInternalKey::parse(key).map_err(|e| Error::Corruption {
        file: "compaction input".into(),
        offset: 0,
        detail: e.to_string(),
    })
}

fn user_key(encoded: &[u8]) -> &[u8] {
    &encoded[..encoded.len() - TRAILER_BYTES]
}

/// What a compaction keeps of one user key's versions.
struct Rules<'a> {
    snapshots: &'a [SeqNo],
    bottommost: bool,
    operator: Option<&'a dyn MergeOperator>,
}

impl Rules<'_> {
    /// The stripe of `seq`: the index of the oldest snapshot that sees it
    /// (or `snapshots.len()` when only the latest state does).
    fn stripe(&self, seq: SeqNo) -> usize {
        self.snapshots.partition_point(|&snapshot| snapshot < seq)
    }

    /// Moves what survives of `versions` (newest first) into `kept`.
    fn keep(&self, versions: &mut Vec<Entry>, kept: &mut Vec<Entry>) {
        let mut rest = std::mem::take(versions).into_iter().peekable();
        while let Some(first) = rest.next() {
            let stripe = self.stripe(first.seq);
            let mut group = vec![first];
            while let Some(next) = rest.next_if(|e| self.stripe(e.seq) == stripe) {
                group.push(next);
            }
            let oldest_stripe = rest.peek().is_none();
            self.keep_stripe(group, self.bottommost && oldest_stripe, kept);
        }
    }

    /// One stripe: operands down to the first put or tombstone; the rest
    /// is shadowed. `last` means no older version exists anywhere.
    fn keep_stripe(&self, group: Vec<Entry>, last: bool, kept: &mut Vec<Entry>) {
        let base_at = group.iter().position(|e| e.kind != ValueKind::Merge);
        let mut group = group;
        if let Some(index) = base_at {
            group.truncate(index + 1);
        }
        let base = base_at.map(|_| &group[group.len() - 1]);
        let operands_count = base_at.unwrap_or(group.len());
        match base {
            Some(base) if operands_count == 0 => {
                if !(last && base.kind == ValueKind::Delete) {
                    kept.extend(group);
                }
            }
            Some(_) => kept.extend(self.collapse(group, operands_count, true)),
            None if last => kept.extend(self.collapse(group, operands_count, false)),
            None => kept.extend(group),
        }
    }

    /// Folds the operands (and the base, when `has_base`) into one put at
    /// the newest operand's sequence number; unchanged when the operator is
    /// missing or fails.
    fn collapse(&self, group: Vec<Entry>, operands_count: usize, has_base: bool) -> Vec<Entry> {
        let Some(operator) = self.operator else {
            return group;
        };
        let newest = &group[0];
        let oldest_first: Vec<Bytes> = group[..operands_count]
            .iter()
            .rev()
            .map(|e| e.value.clone())
            .collect();
        let base = has_base
            .then(|| &group[operands_count])
            .filter(|b| b.kind == ValueKind::Put)
            .map(|b| &b.value[..]);
        match operator.full_merge(user_key(&newest.key), base, &oldest_first) {
            Ok(merged) => {
                let mut key = newest.key.clone();
                let kind_at = key.len() - TRAILER_BYTES;
                key[kind_at] = ValueKind::Put as u8;
                vec![Entry {
                    key,
                    seq: newest.seq,
                    kind: ValueKind::Put,
                    value: Bytes::from(merged),
                }]
            }
            Err(error) => {
                tracing::warn!(%error, "merge failed in compaction; operands kept");
                group
            }
        }
    }
}

/// Writes kept entries into output tables cut at the target size.
struct OutputWriter<'a> {
    db: &'a DbInner,
    compaction: &'a Compaction,
    builder: Option<TableBuilder>,
    outputs: Vec<TableMeta>,
}

impl<'a> OutputWriter<'a> {
    fn new(db: &'a DbInner, compaction: &'a Compaction) -> Self {
        Self {
            db,
            compaction,
            builder: None,
            outputs: Vec::new(),
        }
    }

    /// Writes one user key's kept entries; a table is cut only before a
    /// new user key.
    fn write_key(&mut self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        if self
            .builder
            .as_ref()
            .is_some_and(|b| b.estimated_file_size() >= self.compaction.target_file_size_bytes)
        {
            self.finish_table()?;
        }
        if self.builder.is_none() {
            self.builder = Some(self.new_builder()?);
        }
        if let Some(builder) = self.builder.as_mut() {
            for entry in entries {
                debug_assert_eq!(entry.kind as u8, entry.key[entry.key.len() - TRAILER_BYTES]);
                builder.add(&entry.key, &entry.value)?;
            }
        }
        Ok(())
    }

    fn new_builder(&self) -> Result<TableBuilder> {
        let number = self.db.tree().new_file_number();
        let dir: &Path = self.db.dir.path();
        let version = Arc::clone(&self.db.tree().current().version);
        let options = table_options(
            self.db.options(),
            &version,
            self.compaction.output_level,
            self.compaction.input_entry_count(),
            "compaction",
        );
        let path = dir.join(file_name(FileKind::Table, number));
        Ok(TableBuilder::new(Arc::clone(&self.db.fs), &path, options)?)
    }

    fn finish_table(&mut self) -> Result<()> {
        if let Some(builder) = self.builder.take() {
            let meta = builder.finish()?;
            self.outputs.push(meta);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<TableMeta>> {
        self.finish_table()?;
        let dir = self.db.dir.path();
        self.db.fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        Ok(std::mem::take(&mut self.outputs))
    }
}

impl Drop for OutputWriter<'_> {
    fn drop(&mut self) {
        if let Some(builder) = self.builder.take() {
            abandon(builder);
        }
    }
}
