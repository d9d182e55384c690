//! Compaction threads: adapt the policy to the observed workload, pick
//! with seer-compaction's [`Picker`], run the pick with its executor
//! (given the live snapshot sequence numbers and the merge operator),
//! install the edit, and delete the tables no version references any more;
//! also manual `compact_range`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use seer_compaction::cost::TreeInputs;
use seer_compaction::{
    run_compaction, AdaptiveOptions, AdaptivePolicy, Compaction, CompactionsInProgress, ManualPick,
    Picker, PickerOptions, PolicyParams, Version, WorkloadWindow,
};

use crate::db::DbInner;
use crate::error::Result;
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
                let adaptive = AdaptivePolicy::new(params, AdaptiveOptions::default());
                (params, Some(adaptive), reason.to_owned())
            }
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
    fn pick(&self, db: &DbInner) -> Option<(Arc<Version>, Compaction)> {
        let params = self.policy.lock().params;
        let mut in_progress = self.in_progress.lock();
        let version = Arc::clone(&db.tree().current().version);
        let compaction = self.picker.pick(&version, params, &in_progress)?;
        in_progress.register(&compaction);
        Some((version, compaction))
    }

    fn pick_manual(
        &self,
        db: &DbInner,
        range: Option<(&[u8], &[u8])>,
    ) -> (Arc<Version>, ManualPick) {
        let params = self.policy.lock().params;
        let mut in_progress = self.in_progress.lock();
        let version = Arc::clone(&db.tree().current().version);
        let pick = self
            .picker
            .pick_manual(&version, params, range, &in_progress);
        if let ManualPick::Compaction(compaction) = &pick {
            in_progress.register(compaction);
        }
        (version, pick)
    }

    fn finish(&self, compaction: &Compaction) {
        self.in_progress.lock().finish(compaction);
    }
}

/// Runs picked compactions until the picker finds nothing to do.
pub(crate) fn compact_while_needed(db: &DbInner) -> Result<()> {
    loop {
        adapt_policy(db);
        let Some((version, compaction)) = db.jobs.compaction.pick(db) else {
            return Ok(());
        };
        // Another thread may find a disjoint compaction meanwhile.
        db.jobs.wake_compaction();
        let result = run(db, &version, &compaction);
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
        let (version, pick) = db
            .jobs
            .compaction
            .pick_manual(db, Some((&range.0[..], &range.1[..])));
        match pick {
            ManualPick::Done => return Ok(()),
            ManualPick::Busy => {
                let deadline = Instant::now() + db.options().write_stall_timeout;
                db.jobs.wait_progress(generation, deadline);
            }
            ManualPick::Compaction(compaction) => {
                let result = run(db, &version, &compaction);
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

/// Runs one compaction picked from `version` with seer-compaction's
/// executor and installs its result.
fn run(db: &DbInner, version: &Version, compaction: &Compaction) -> Result<()> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "compaction",
        output_level = compaction.output_level,
        reason = %compaction.reason,
        inputs = compaction.inputs.len()
    );
    let _entered = span.enter();
    let (params, _) = db.jobs.compaction.policy();
    let context = db.executor_context();
    let new_file_number = || db.tree().new_file_number();
    // The executor syncs the outputs and the directory before it returns.
    let result = run_compaction(compaction, version, &context, &new_file_number)?;
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
    db.tree().delete_unreferenced()?;
    tracing::info!(
        trivial_move = compaction.is_trivial_move(),
        read_bytes = stats.input_bytes,
        written_bytes = stats.output_bytes,
        elapsed = ?started.elapsed(),
        "compaction done"
    );
    Ok(())
}
