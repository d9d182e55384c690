//! Compaction threads: adapt the policy to the observed workload, pick
//! with seer-compaction's [`Picker`], run the pick with its executor
//! (given the live snapshot sequence numbers and the merge operator),
//! install the edit, and delete the tables no version references any more
//! (the compaction's own inputs too, once no reader holds them); also
//! manual `compact_range`, bounded to the data present when it starts.
//! Each compaction runs inside the lifecycle gate and is abandoned at its
//! next key when the database closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use seer_compaction::cost::TreeInputs;
use seer_compaction::{
    prepare_compaction, AdaptiveOptions, AdaptivePolicy, Compaction, CompactionReason,
    CompactionsInProgress, ExecutorContext, ManualPick, Picker, PickerOptions, PolicyParams,
    TableMeta, Version, VersionEdit, WorkloadWindow,
};
use seer_core::SeqNo;
use seer_core::{Clock, ManualClock};

use super::JobContext;
use crate::error::{Error, Result};
use crate::metrics::WorkloadCounts;
use crate::options::{CompactionPolicy, DBOptions};
use crate::tree::{open_table, OpenVersionSet};

/// The picker, the running compactions and the policy in force.
pub(crate) struct CompactionState {
    picker: Picker,
    /// The database's clock: when the tree has nothing else to do, tables
    /// whose earliest expiry it has passed are rewritten.
    clock: Arc<dyn Clock>,
    in_progress: Mutex<CompactionsInProgress>,
    policy: Mutex<PolicyState>,
}

impl std::fmt::Debug for CompactionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactionState")
            .field("picker", &self.picker)
            .field("in_progress", &self.in_progress)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct PolicyState {
    adaptive: Option<AdaptivePolicy>,
    params: PolicyParams,
    reason: String,
    counted: WorkloadCounts,
}

impl CompactionState {
    /// The state for `options`; `recorded` is the policy the manifest last
    /// recorded, which the adaptive policy resumes from (a fixed policy in
    /// `options` wins).
    pub(crate) fn new(options: &DBOptions, recorded: Option<PolicyParams>) -> Self {
        let (params, adaptive, reason) = match (options.compaction_policy, recorded) {
            (CompactionPolicy::Fixed(params), _) => {
                (params, None, "fixed by compaction_policy".to_owned())
            }
            (CompactionPolicy::Adaptive, recorded) => {
                let reason = match recorded {
                    Some(_) => "adaptive: resumed the recorded policy, no workload observed yet",
                    None => "adaptive: initial policy, no workload observed yet",
                };
                let params = recorded.unwrap_or_else(|| options.initial_policy());
                let adaptive_options = AdaptiveOptions {
                    max_space_amplification: options.max_space_amplification,
                    ..AdaptiveOptions::default()
                };
                let adaptive = AdaptivePolicy::new(params, adaptive_options);
                (params, Some(adaptive), reason.to_owned())
            }
        };
        Self {
            picker: Picker::new(PickerOptions {
                l0_trigger_runs: options.l0_compaction_trigger,
                base_level_bytes: options.base_level_size_bytes,
                target_file_size_bytes: options.target_file_size_bytes,
                max_space_amplification: options.max_space_amplification,
            }),
            clock: Arc::clone(&options.clock),
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

    /// Where the next flush cuts its level-0 run (the picker's flush
    /// splits, under the policy in force).
    pub(crate) fn flush_split_keys(&self, version: &Version) -> Vec<Bytes> {
        let params = self.policy.lock().params;
        self.picker.flush_split_keys(version, params)
    }

    /// Registers the picker's next compaction, if any.
    fn pick(&self, tree: &OpenVersionSet) -> Option<(Arc<Version>, Compaction)> {
        let params = self.policy.lock().params;
        let mut in_progress = self.in_progress.lock();
        let version = Arc::clone(&tree.current().version);
        let compaction = self
            .picker
            .pick(&version, params, &in_progress)
            .or_else(|| {
                // Nothing else to do: rewrite a table holding expired data.
                let now_unix_ms = self.clock.now_unix_ms();
                self.picker
                    .pick_expired(&version, now_unix_ms, &in_progress)
            })?;
        in_progress.register(&compaction);
        Some((version, compaction))
    }

    /// Registers the manual compaction of `range` over the data present
    /// when the call started (at or below `start_seq`), picked from the
    /// current version without the levels above that data; returns the
    /// current version with it (`None`: that data is compacted).
    fn pick_manual(
        &self,
        tree: &OpenVersionSet,
        range: (&[u8], &[u8]),
        start_seq: SeqNo,
    ) -> Result<Option<(Arc<Version>, ManualPick)>> {
        let params = self.policy.lock().params;
        let mut in_progress = self.in_progress.lock();
        let version = Arc::clone(&tree.current().version);
        let Some(view) = without_levels_above(&version, range, start_seq)? else {
            return Ok(None);
        };
        let pick = self
            .picker
            .pick_manual(&view, params, Some(range), &in_progress);
        if let ManualPick::Compaction(compaction) = &pick {
            in_progress.register(compaction);
        }
        Ok(Some((version, pick)))
    }

    fn finish(&self, compaction: &Compaction) {
        self.in_progress.lock().finish(compaction);
    }
}

/// Runs `f` while no compaction runs and none can start: waits for the
/// running ones to finish, then holds the registry of running compactions
/// around `f` (a bulk load places its tables by the tree as it is, which
/// no compaction may change meanwhile).
pub(crate) fn while_no_compaction_runs<T>(
    db: &JobContext<'_>,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    loop {
        let generation = db.jobs.progress_generation();
        let in_progress = db.jobs.compaction.in_progress.lock();
        if in_progress.is_empty() {
            let value = f();
            drop(in_progress);
            return value;
        }
        drop(in_progress);
        db.check_open()?;
        db.jobs.wait_progress(
            generation,
            std::time::Instant::now() + std::time::Duration::from_millis(10),
        );
    }
}

/// Runs picked compactions until the picker finds nothing to do (or the
/// database closes: [`Error::Closed`]).
pub(crate) fn compact_while_needed(db: &JobContext<'_>) -> Result<()> {
    loop {
        let active = db.lifecycle.enter()?;
        adapt_policy(db);
        let Some((version, compaction)) = db.jobs.compaction.pick(db.tree()) else {
            return Ok(());
        };
        // Another thread may find a disjoint compaction meanwhile.
        db.jobs.wake_compaction();
        run_and_clean_up(db, version, compaction)?;
        drop(active);
        db.jobs.announce_progress();
    }
}

/// Runs `compaction`, unregisters it, releases the inputs it holds, and
/// deletes the tables no live version lists any more, its own inputs
/// included when no reader holds them. `version` (the one it was picked
/// from) is released once the merge is prepared.
fn run_and_clean_up(
    db: &JobContext<'_>,
    version: Arc<Version>,
    compaction: Compaction,
) -> Result<()> {
    let result = run(db, version, &compaction);
    db.jobs.compaction.finish(&compaction);
    drop(compaction);
    result?;
    db.tree().delete_unreferenced()?;
    Ok(())
}

/// Compacts the user keys in `[start, end]` (each `None` = unbounded) into
/// the largest level, in the calling thread: the data present when the
/// call started (at or below `start_seq`, already flushed) ends in one run
/// of the largest level; data written meanwhile is not chased. Each step
/// is inside the lifecycle gate, so a close stops it at the next safe
/// point ([`Error::Closed`]).
pub(crate) fn compact_range(
    db: &JobContext<'_>,
    start: Option<Bytes>,
    end: Option<Bytes>,
    start_seq: SeqNo,
) -> Result<()> {
    loop {
        let generation = db.jobs.progress_generation();
        let active = db.lifecycle.enter()?;
        db.health.check_writable()?;
        let version = Arc::clone(&db.tree().current().version);
        let range = manual_range(&version, start.as_deref(), end.as_deref());
        drop(version);
        let Some(range) = range else {
            return Ok(());
        };
        let picked =
            db.jobs
                .compaction
                .pick_manual(db.tree(), (&range.0[..], &range.1[..]), start_seq)?;
        match picked {
            None | Some((_, ManualPick::Done)) => return Ok(()),
            Some((_, ManualPick::Busy)) => {
                drop(active);
                let deadline = Instant::now() + db.options().write_stall_timeout;
                db.jobs.wait_progress(generation, deadline);
            }
            Some((version, ManualPick::Compaction(compaction))) => {
                match run_and_clean_up(db, version, compaction) {
                    Ok(()) => {}
                    Err(Error::Closed) => return Err(Error::Closed),
                    Err(error) => {
                        super::record_failure(db, "compaction", error.clone());
                        return Err(error);
                    }
                }
                drop(active);
                db.jobs.announce_progress();
            }
        }
    }
}

/// `version` without its levels above the shallowest level that holds data
/// of `range` at or below `start_seq` (those levels hold only newer data
/// there, written after a manual compaction started, which it leaves
/// alone); `None` when that data is all in one run of the last level (or
/// there is none).
fn without_levels_above(
    version: &Arc<Version>,
    range: (&[u8], &[u8]),
    start_seq: SeqNo,
) -> Result<Option<Arc<Version>>> {
    let (start, end) = range;
    let is_old_data = |table: &TableMeta| {
        table.smallest_seq <= start_seq
            && table.smallest.user_key().as_ref() <= end
            && table.largest.user_key().as_ref() >= start
    };
    let oldest_data_level = version
        .tables()
        .filter(|(_, table)| is_old_data(table))
        .map(|(level, _)| level)
        .min();
    let Some(oldest_data_level) = oldest_data_level else {
        return Ok(None);
    };
    let last = version.last_level();
    if oldest_data_level == last {
        let runs_with_old_data = version.levels()[last]
            .runs()
            .iter()
            .filter(|run| run.tables().iter().any(|table| is_old_data(table)))
            .count();
        if runs_with_old_data <= 1 {
            return Ok(None);
        }
    }
    let mut edit = VersionEdit::new();
    for (level, table) in version.tables() {
        if level < oldest_data_level {
            edit.remove_table(level, table.file_number);
        }
    }
    if edit.removed_tables.is_empty() {
        return Ok(Some(Arc::clone(version)));
    }
    let view = version.apply(&edit).map_err(seer_compaction::Error::from)?;
    Ok(Some(Arc::new(view)))
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
fn adapt_policy(db: &JobContext<'_>) {
    let mut policy = db.jobs.compaction.policy.lock();
    // Read under the lock: a reading taken before it could be older than
    // the one another thread stored meanwhile.
    let counts = db.metrics().workload_counts();
    let previous = std::mem::replace(&mut policy.counted, counts);
    let window = workload_window(&previous, &counts);
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

/// The operations counted from `previous` to `counts`. The counters only
/// grow, but the shards are summed one by one (misses can be read ahead of
/// lookups), so each difference saturates at zero instead of underflowing.
fn workload_window(previous: &WorkloadCounts, counts: &WorkloadCounts) -> WorkloadWindow {
    let misses = counts.lookup_misses.saturating_sub(previous.lookup_misses);
    WorkloadWindow {
        updates: counts.updates.saturating_sub(previous.updates),
        zero_result_lookups: misses,
        point_lookups: counts
            .lookups
            .saturating_sub(previous.lookups)
            .saturating_sub(misses),
        short_ranges: counts.short_ranges.saturating_sub(previous.short_ranges),
        long_ranges: counts.long_ranges.saturating_sub(previous.long_ranges),
    }
}

/// The cost model's view of the tree now.
fn tree_inputs(db: &JobContext<'_>) -> TreeInputs {
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

/// Runs one compaction picked from `version` with seer-compaction's
/// executor and installs its result. `version` is dropped as soon as the
/// merge is prepared: held for the whole merge, it would keep every table
/// the other compactions replace meanwhile on disk until this one ends
/// (issue 14).
fn run(db: &JobContext<'_>, version: Arc<Version>, compaction: &Compaction) -> Result<()> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "compaction",
        output_level = compaction.output_level,
        reason = %compaction.reason,
        inputs = compaction.inputs.len()
    );
    let _entered = span.enter();
    let (params, _) = db.jobs.compaction.policy();
    let open = db.tree().current();
    let mut context = ExecutorContext {
        // A close abandons the compaction at its next key.
        cancel: Some(db.lifecycle.closed_flag()),
        // The inputs are read through the tree's open tables, not mapped
        // once more.
        open_inputs: compaction
            .input_tables()
            .filter_map(|table| {
                let open_table = open.tables.get(&table.file_number)?;
                Some((table.file_number, Arc::clone(open_table)))
            })
            .collect(),
        ..db.executor_context()
    };
    if let CompactionReason::Expired {
        earliest_expiry_unix_ms,
        ..
    } = compaction.reason
    {
        // A clock moved back since the pick must not keep the entry that
        // chose the table (it would be picked again and again): each such
        // rewrite drops at least that entry.
        let now_unix_ms = context.clock.as_ref().map_or(0, |c| c.now_unix_ms());
        if now_unix_ms < earliest_expiry_unix_ms {
            context.clock = Some(Arc::new(ManualClock::new(earliest_expiry_unix_ms)));
        }
    }
    drop(open);
    let new_file_number = || db.tree().new_file_number();
    // The executor syncs the outputs and the directory before it returns.
    let prepared = prepare_compaction(compaction, &version, &context, &new_file_number)?;
    drop(version);
    let result = prepared.run(&context, &new_file_number)?;
    let mut tables = Vec::with_capacity(result.outputs.len());
    for meta in &result.outputs {
        tables.push(open_table(
            db.fs.as_ref(),
            db.dir.path(),
            meta.file_number,
            db.block_cache.clone(),
        )?);
    }
    let stats = result.stats;
    let metrics = db.metrics();
    metrics
        .compaction_read_bytes
        .fetch_add(stats.input_bytes, Ordering::Relaxed);
    metrics
        .compaction_write_bytes
        .fetch_add(stats.output_bytes, Ordering::Relaxed);
    let mut edit = result.edit;
    edit.policy = Some(params);
    db.tree().install(edit, tables)?;
    metrics.compaction_count.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        trivial_move = compaction.is_trivial_move(),
        read_bytes = stats.input_bytes,
        written_bytes = stats.output_bytes,
        elapsed = ?started.elapsed(),
        "compaction done"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::workload_window;
    use crate::metrics::WorkloadCounts;

    /// Two compaction threads adapting the policy at once: one stores a
    /// newer reading, the other's (older) reading must give an empty
    /// window, not an underflow (a panic that killed the thread).
    #[test]
    fn a_workload_window_from_an_older_reading_is_empty_instead_of_underflowing() {
        let older = WorkloadCounts {
            updates: 10,
            lookups: 8,
            lookup_misses: 3,
            short_ranges: 2,
            long_ranges: 1,
        };
        let newer = WorkloadCounts {
            updates: 25,
            lookups: 20,
            lookup_misses: 5,
            short_ranges: 4,
            long_ranges: 1,
        };
        let window = workload_window(&older, &newer);
        assert_eq!(window.updates, 15);
        assert_eq!(window.zero_result_lookups, 2);
        assert_eq!(window.point_lookups, 10);
        assert_eq!(window.short_ranges, 2);
        assert_eq!(window.long_ranges, 0);
        let backwards = workload_window(&newer, &older);
        assert_eq!(backwards.total_ops(), 0);
        // Misses summed after lookups can run ahead of them.
        let misses_ahead = WorkloadCounts {
            lookup_misses: 9,
            ..older
        };
        assert_eq!(workload_window(&older, &misses_ahead).point_lookups, 0);
    }
}
