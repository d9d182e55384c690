//! Runs one job (one engine, one workload, one repetition) in this process:
//! opens the engine, drives the workload's threads, times every operation,
//! then flushes, closes and measures what is left on disk.

use std::io::IsTerminal;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::dist::{permutation, thread_rng, KeyChooser, KeyDist};
use crate::engine::{
    BatchOp, Direction, Engine, EngineConfig, EngineKind, EngineReport, ScanPerSeek, SeekCursor,
};
use crate::error::{BenchError, Result};
use crate::host;
use crate::keys::{KeyFormat, ValuePool};
use crate::latency::{LatencyRecorder, LatencySummary};
use crate::workload::{
    RunParams, Workload, YcsbMix, DELETE_BATCH_KEYS, FILLBATCH_ENTRIES, QUEUE_BACKLOG_MESSAGES,
    QUEUE_CHUNK_MESSAGES, SEEK_ENTRIES, YCSB_MAX_SCAN_ENTRIES,
};

/// Operations between two progress-bar updates of one thread.
const PROGRESS_STEP_OPS: u64 = 4096;

/// How often the `scale` workload measures the DB directory's size.
const DIR_SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// How often every job samples the process's resident memory by kind (one
/// read of `/proc/self/status`, a few microseconds).
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// What a job is: which engine runs which workload where, with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The engine.
    pub engine: EngineKind,
    /// The workload.
    pub workload: Workload,
    /// The DB directory, already prepared (empty or a loaded copy).
    pub dir: PathBuf,
    /// Run parameters.
    pub params: RunParams,
    /// Engine settings.
    pub config: EngineConfig,
    /// Which repetition this is (0-based).
    pub repeat: usize,
}

/// What one job measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// The engine.
    pub engine: EngineKind,
    /// The workload.
    pub workload: Workload,
    /// Which repetition (0-based).
    pub repeat: usize,
    /// Threads of the measured operations.
    pub threads: usize,
    /// Operations measured.
    pub ops: u64,
    /// Wall time of the measured phase.
    pub seconds: f64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Key and value bytes moved per second, in MB (10^6 bytes).
    pub mb_per_sec: f64,
    /// Latency percentiles of the measured operations.
    pub latency: LatencySummary,
    /// Reads that found their key.
    pub found: u64,
    /// Key and value bytes written by the workload (user bytes).
    pub user_write_bytes: u64,
    /// Bytes the process wrote to storage from open to close.
    pub disk_write_bytes: Option<u64>,
    /// `disk_write_bytes / user_write_bytes`.
    pub write_amp: Option<f64>,
    /// DB size on disk over the live data, where the live data is known.
    pub space_amp: Option<f64>,
    /// Size of the DB directory after close.
    pub db_size_bytes: u64,
    /// Largest DB directory size seen from open to close, sampled every
    /// 200 ms (the `scale` workload only).
    #[serde(default)]
    pub peak_db_size_bytes: Option<u64>,
    /// `peak_db_size_bytes` over the live key and value bytes.
    #[serde(default)]
    pub peak_space_amp: Option<f64>,
    /// Peak RSS of the job's process (`VmHWM`).
    pub peak_rss_bytes: Option<u64>,
    /// Largest anonymous resident memory (`RssAnon`: heap, memtables,
    /// caches) seen from open to close, sampled every 50 ms.
    #[serde(default)]
    pub peak_rss_anon_bytes: Option<u64>,
    /// Largest file-backed resident memory (`RssFile`: memory-mapped table
    /// pages, which are reclaimable page cache, and the executable) seen
    /// from open to close, sampled every 50 ms.
    #[serde(default)]
    pub peak_rss_file_bytes: Option<u64>,
    /// Background writer ops/s (`readwhilewriting`).
    pub writer_ops_per_sec: Option<f64>,
    /// Seconds of the scan over the emptied key range that ends
    /// `deleteperkey` and `deleterange` (part of `seconds`).
    #[serde(default)]
    pub scan_after_seconds: Option<f64>,
    /// What the engine reported about itself.
    pub engine_report: EngineReport,
    /// Set when the engine cannot run the workload.
    pub skipped: Option<String>,
}

/// Opens the engine of `spec` and runs the job.
pub fn run_job(spec: &JobSpec) -> Result<JobResult> {
    let write_bytes_before = host::process_write_bytes();
    let sampler = (spec.workload == Workload::Scale)
        .then(|| host::PeakSampler::dir_size(spec.dir.clone(), DIR_SAMPLE_INTERVAL));
    let memory_sampler = host::PeakSampler::resident_memory(MEMORY_SAMPLE_INTERVAL);
    let outcome = spec
        .engine
        .open(&spec.dir, &spec.config)
        .and_then(|engine| run_job_on(engine, spec, write_bytes_before));
    let peak_db_size_bytes = sampler.map(host::PeakSampler::finish);
    let peak_memory = memory_sampler.finish();
    let mut result = outcome?;
    if result.skipped.is_none() && host::ResidentMemory::of_this_process().is_some() {
        result.peak_rss_anon_bytes = Some(peak_memory.anon_bytes);
        result.peak_rss_file_bytes = Some(peak_memory.file_bytes);
    }
    if result.skipped.is_none() {
        if let Some(peak_bytes) = peak_db_size_bytes {
            result.peak_db_size_bytes = Some(peak_bytes);
            result.peak_space_amp = Some(peak_bytes as f64 / spec.params.live_bytes() as f64);
        }
    }
    Ok(result)
}

/// Runs the job of `spec` on an open engine; `write_bytes_before` is the
/// process's write counter before the engine was opened.
pub fn run_job_on(
    engine: Box<dyn Engine>,
    spec: &JobSpec,
    write_bytes_before: Option<u64>,
) -> Result<JobResult> {
    spec.params.validate()?;
    let phase = match run_phase(engine.as_ref(), spec) {
        Ok(phase) => phase,
        Err(BenchError::Unsupported {
            engine: name,
            operation,
        }) => {
            engine.close()?;
            return Ok(skipped_result(
                spec,
                format!("{name} does not support {operation}"),
            ));
        }
        Err(error) => return Err(error),
    };
    engine.flush()?;
    let engine_report = engine.report();
    engine.close()?;
    let disk_write_bytes = match (write_bytes_before, host::process_write_bytes()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let db_size_bytes = host::dir_size_bytes(&spec.dir)?;
    Ok(phase.into_result(spec, disk_write_bytes, db_size_bytes, engine_report))
}

/// A result for a job that did not run, with the reason.
pub fn skipped_result(spec: &JobSpec, reason: String) -> JobResult {
    JobResult {
        engine: spec.engine,
        workload: spec.workload,
        repeat: spec.repeat,
        threads: spec.workload.thread_count(&spec.params),
        ops: 0,
        seconds: 0.0,
        ops_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency: LatencySummary::default(),
        found: 0,
        user_write_bytes: 0,
        disk_write_bytes: None,
        write_amp: None,
        space_amp: None,
        db_size_bytes: 0,
        peak_db_size_bytes: None,
        peak_space_amp: None,
        peak_rss_bytes: host::peak_rss_bytes(),
        peak_rss_anon_bytes: None,
        peak_rss_file_bytes: None,
        writer_ops_per_sec: None,
        scan_after_seconds: None,
        engine_report: EngineReport::default(),
        skipped: Some(reason),
    }
}

/// The measured phase's totals.
struct PhaseOutcome {
    elapsed: Duration,
    measured: ThreadStats,
    background_writer: Option<ThreadStats>,
    threads: usize,
}

impl PhaseOutcome {
    fn into_result(
        self,
        spec: &JobSpec,
        disk_write_bytes: Option<u64>,
        db_size_bytes: u64,
        engine_report: EngineReport,
    ) -> JobResult {
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let writer = self.background_writer.as_ref();
        let user_write_bytes =
            self.measured.user_write_bytes + writer.map_or(0, |w| w.user_write_bytes);
        let write_amp = disk_write_bytes
            .filter(|_| user_write_bytes > 0)
            .map(|disk| disk as f64 / user_write_bytes as f64);
        let space_amp = spec
            .workload
            .ends_with_all_keys()
            .then(|| db_size_bytes as f64 / spec.params.live_bytes() as f64);
        JobResult {
            engine: spec.engine,
            workload: spec.workload,
            repeat: spec.repeat,
            threads: self.threads,
            ops: self.measured.ops,
            seconds,
            ops_per_sec: self.measured.ops as f64 / seconds,
            mb_per_sec: self.measured.bytes as f64 / seconds / 1e6,
            latency: self.measured.latency.summary(),
            found: self.measured.found,
            user_write_bytes,
            disk_write_bytes,
            write_amp,
            space_amp,
            db_size_bytes,
            peak_db_size_bytes: None,
            peak_space_amp: None,
            peak_rss_bytes: host::peak_rss_bytes(),
            peak_rss_anon_bytes: None,
            peak_rss_file_bytes: None,
            writer_ops_per_sec: writer.map(|w| w.ops as f64 / seconds),
            scan_after_seconds: self.measured.scan_after.map(|scan| scan.as_secs_f64()),
            engine_report,
            skipped: None,
        }
    }
}

/// One thread's counts.
#[derive(Default)]
struct ThreadStats {
    latency: LatencyRecorder,
    ops: u64,
    bytes: u64,
    user_write_bytes: u64,
    found: u64,
    scan_after: Option<Duration>,
}

impl ThreadStats {
    fn merge(&mut self, other: &ThreadStats) {
        self.latency.merge(&other.latency);
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.user_write_bytes += other.user_write_bytes;
        self.found += other.found;
        if let Some(scan) = other.scan_after {
            self.scan_after = Some(self.scan_after.unwrap_or_default() + scan);
        }
    }
}

/// What every thread of a job shares.
struct Shared<'a> {
    engine: &'a dyn Engine,
    workload: Workload,
    params: &'a RunParams,
    keys: KeyFormat,
    values: ValuePool,
    /// The key order of the workloads that visit each key once.
    order: Vec<u64>,
    chooser: KeyChooser,
    inserted_count: AtomicU64,
    readers_running: AtomicUsize,
    stop: AtomicBool,
    deadline: Option<Instant>,
    sync: bool,
    progress: ProgressBar,
}

fn run_phase(engine: &dyn Engine, spec: &JobSpec) -> Result<PhaseOutcome> {
    let params = &spec.params;
    let workload = spec.workload;
    let thread_count = workload.thread_count(params);
    let planned_ops = workload.planned_ops(params);
    let order = match workload {
        Workload::FillRandom
        | Workload::Load
        | Workload::DeleteRandom
        | Workload::Scale
        | Workload::FillSync { .. } => {
            let mut order = permutation(params.num, params.seed ^ 0x5EED);
            order.truncate(planned_ops as usize);
            order
        }
        _ => Vec::new(),
    };
    let dist = match workload {
        Workload::Ycsb { dist, .. } => dist,
        _ => KeyDist::Uniform,
    };
    let shared = Shared {
        engine,
        workload,
        params,
        keys: KeyFormat::new(params.key_size_bytes, params.key_capacity())?,
        values: ValuePool::new(params.value_size_bytes, params.seed),
        order,
        chooser: KeyChooser::new(dist, params.num),
        inserted_count: AtomicU64::new(0),
        readers_running: AtomicUsize::new(thread_count.saturating_sub(1)),
        stop: AtomicBool::new(false),
        deadline: (params.duration_secs > 0 && workload.may_stop_early())
            .then(|| Instant::now() + Duration::from_secs(params.duration_secs)),
        sync: params.sync || workload.syncs_every_write(),
        progress: progress_bar(spec, planned_ops),
    };
    let started = Instant::now();
    let outcomes: Vec<Result<ThreadStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..thread_count)
            .map(|thread| {
                let shared = &shared;
                scope.spawn(move || {
                    let outcome = Worker::new(shared, thread).run(thread_count);
                    if outcome.is_err() {
                        shared.stop.store(true, Ordering::Relaxed);
                    }
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(BenchError::InvalidArgument(
                        "a worker thread panicked".to_owned(),
                    ))
                })
            })
            .collect()
    });
    let elapsed = started.elapsed();
    shared.progress.finish_and_clear();
    let mut measured = ThreadStats::default();
    let mut background_writer = None;
    for (thread, outcome) in outcomes.into_iter().enumerate() {
        let stats = outcome?;
        if workload == Workload::ReadWhileWriting && thread == 0 {
            background_writer = Some(stats);
        } else {
            measured.merge(&stats);
        }
    }
    let threads = match workload {
        Workload::ReadWhileWriting => thread_count - 1,
        _ => thread_count,
    };
    Ok(PhaseOutcome {
        elapsed,
        measured,
        background_writer,
        threads,
    })
}

fn progress_bar(spec: &JobSpec, planned_ops: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(planned_ops), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} ops {per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("{} {}", spec.engine, spec.workload));
    bar
}

/// The `index`-th of `parts` near-equal slices of `0..total`.
fn share(total: u64, index: usize, parts: usize) -> Range<u64> {
    let parts = parts.max(1) as u64;
    let index = index as u64;
    (total * index / parts)..(total * (index + 1) / parts)
}

/// Writes the keys of `indexes` one after another into `buf`, resized to
/// hold exactly them.
fn write_keys(keys: &KeyFormat, indexes: Range<u64>, buf: &mut Vec<u8>) {
    let key_size = keys.key_size_bytes();
    buf.resize(key_size * (indexes.end - indexes.start) as usize, 0);
    for (key, index) in buf.chunks_exact_mut(key_size).zip(indexes) {
        keys.write_key(index, key);
    }
}

/// Puts of the keys [`write_keys`] wrote into `buf` for `indexes`, each
/// with its index's value.
fn put_ops<'a>(shared: &'a Shared<'_>, buf: &'a [u8], indexes: Range<u64>) -> Vec<BatchOp<'a>> {
    buf.chunks_exact(shared.keys.key_size_bytes())
        .zip(indexes)
        .map(|(key, index)| BatchOp::Put {
            key,
            value: shared.values.value(index),
        })
        .collect()
}

/// One thread's state while it runs a workload.
struct Worker<'a, 's> {
    shared: &'s Shared<'a>,
    thread: usize,
    rng: StdRng,
    key: Vec<u8>,
    stats: ThreadStats,
    unreported_ops: u64,
}

impl<'a, 's> Worker<'a, 's> {
    fn new(shared: &'s Shared<'a>, thread: usize) -> Self {
        Self {
            shared,
            thread,
            rng: thread_rng(shared.params.seed, thread),
            key: shared.keys.buffer(),
            stats: ThreadStats::default(),
            unreported_ops: 0,
        }
    }

    fn run(mut self, thread_count: usize) -> Result<ThreadStats> {
        let shared = self.shared;
        let planned = shared.workload.planned_ops(shared.params);
        let mine = share(planned, self.thread, thread_count);
        match shared.workload {
            Workload::FillSeq => self.each(mine, |worker, index| worker.put(index))?,
            Workload::FillRandom | Workload::Load | Workload::FillSync { .. } => {
                self.each(mine, |worker, position| {
                    worker.put(shared.order[position as usize])
                })?;
            }
            Workload::Scale => self.each(mine, |worker, position| {
                // The fill puts the keys in `order`; the overwrite visits
                // each once more in the order `order` composed with itself.
                let num = shared.params.num;
                let key = match position.checked_sub(num) {
                    None => shared.order[position as usize],
                    Some(overwrite) => shared.order[shared.order[overwrite as usize] as usize],
                };
                worker.put(key)
            })?,
            Workload::FillBatch => self.fill_batches(mine)?,
            Workload::Overwrite => self.each(mine, |worker, _| worker.put_random())?,
            Workload::ReadRandom => self.each(mine, |worker, _| worker.get_random(false))?,
            Workload::ReadMissing => self.each(mine, |worker, _| worker.get_random(true))?,
            Workload::ReadSeq => self.full_scan(Direction::Forward)?,
            Workload::ReadReverse => self.full_scan(Direction::Reverse)?,
            Workload::SeekRandom => self.each(mine, |worker, _| worker.seek_random())?,
            Workload::SeekCursor => {
                let mut cursor = shared.engine.cursor()?;
                self.each(mine, |worker, _| worker.seek_with(&mut *cursor))?;
            }
            Workload::DeleteRandom => {
                self.each(mine, |worker, position| {
                    worker.delete(shared.order[position as usize])
                })?;
            }
            Workload::ReadWhileWriting => self.read_while_writing(planned, thread_count)?,
            Workload::MergeRandom => self.each(mine, |worker, _| worker.merge_random())?,
            Workload::Ycsb { mix, .. } => self.each(mine, |worker, _| worker.ycsb_op(mix))?,
            Workload::Queue => self.queue(mine)?,
            Workload::DeletePerKey => {
                self.delete_all_per_key()?;
                self.scan_emptied()?;
            }
            Workload::DeleteRange => {
                self.delete_all_in_one_range()?;
                self.scan_emptied()?;
            }
        }
        self.shared.progress.inc(self.unreported_ops);
        Ok(self.stats)
    }

    /// Runs `op` for each of `range`, timing each, until done or stopped.
    fn each(
        &mut self,
        range: Range<u64>,
        mut op: impl FnMut(&mut Self, u64) -> Result<()>,
    ) -> Result<()> {
        for position in range {
            let started = Instant::now();
            op(self, position)?;
            if self.finish_op(started) {
                break;
            }
        }
        Ok(())
    }

    /// Records an operation that began at `started`; true when the thread
    /// should stop.
    fn finish_op(&mut self, started: Instant) -> bool {
        let ended = Instant::now();
        self.stats.latency.record(ended - started);
        self.stats.ops += 1;
        self.unreported_ops += 1;
        if self.unreported_ops >= PROGRESS_STEP_OPS {
            self.shared.progress.inc(self.unreported_ops);
            self.unreported_ops = 0;
        }
        self.shared
            .deadline
            .is_some_and(|deadline| ended >= deadline)
            || self.shared.stop.load(Ordering::Relaxed)
    }

    fn set_key(&mut self, index: u64) {
        self.shared.keys.write_key(index, &mut self.key);
    }

    fn put(&mut self, index: u64) -> Result<()> {
        self.set_key(index);
        let value = self.shared.values.value(index ^ self.stats.ops);
        self.shared.engine.put(&self.key, value, self.shared.sync)?;
        let bytes = (self.key.len() + value.len()) as u64;
        self.stats.bytes += bytes;
        self.stats.user_write_bytes += bytes;
        Ok(())
    }

    fn put_random(&mut self) -> Result<()> {
        let index = self.rng.gen_range(0..self.shared.params.num);
        self.put(index)
    }

    fn get(&mut self, index: u64, missing: bool) -> Result<()> {
        if missing {
            self.shared.keys.write_missing_key(index, &mut self.key);
        } else {
            self.set_key(index);
        }
        let mut value_bytes = 0;
        let found = self
            .shared
            .engine
            .get(&self.key, &mut |value| value_bytes = value.len())?;
        self.stats.found += u64::from(found);
        self.stats.bytes += (self.key.len() + value_bytes) as u64;
        Ok(())
    }

    fn get_random(&mut self, missing: bool) -> Result<()> {
        let index = self.rng.gen_range(0..self.shared.params.num);
        self.get(index, missing)
    }

    /// A fresh scan of `entries` from key `index` (a new iterator).
    fn scan_from(&mut self, index: u64, entries: usize) -> Result<()> {
        self.scan_through(&mut ScanPerSeek(self.shared.engine), index, entries)
    }

    /// `entries` entries from key `index` through `cursor`.
    fn scan_through(
        &mut self,
        cursor: &mut dyn SeekCursor,
        index: u64,
        entries: usize,
    ) -> Result<()> {
        self.set_key(index);
        let mut bytes = 0;
        let visited = cursor.seek_scan(&self.key, entries, &mut |key, value| {
            bytes += key.len() + value.len();
            true
        })?;
        self.stats.found += visited;
        self.stats.bytes += bytes as u64;
        Ok(())
    }

    /// A seek to a random key and [`SEEK_ENTRIES`] entries through the
    /// thread's reused `cursor`.
    fn seek_with(&mut self, cursor: &mut dyn SeekCursor) -> Result<()> {
        let index = self.rng.gen_range(0..self.shared.params.num);
        self.scan_through(cursor, index, SEEK_ENTRIES)
    }

    fn seek_random(&mut self) -> Result<()> {
        let index = self.rng.gen_range(0..self.shared.params.num);
        self.scan_from(index, SEEK_ENTRIES)
    }

    fn delete(&mut self, index: u64) -> Result<()> {
        self.set_key(index);
        self.shared.engine.delete(&self.key, self.shared.sync)?;
        let bytes = self.key.len() as u64;
        self.stats.bytes += bytes;
        self.stats.user_write_bytes += bytes;
        Ok(())
    }

    fn merge_random(&mut self) -> Result<()> {
        let index = self.rng.gen_range(0..self.shared.params.num);
        self.set_key(index);
        let operand = 1u64.to_le_bytes();
        self.shared
            .engine
            .merge(&self.key, &operand, self.shared.sync)?;
        let bytes = (self.key.len() + operand.len()) as u64;
        self.stats.bytes += bytes;
        self.stats.user_write_bytes += bytes;
        Ok(())
    }

    fn fill_batches(&mut self, range: Range<u64>) -> Result<()> {
        let shared = self.shared;
        let mut keys = Vec::new();
        let mut start = range.start;
        while start < range.end {
            let end = range.end.min(start + FILLBATCH_ENTRIES as u64);
            let count = (end - start) as usize;
            write_keys(&shared.keys, start..end, &mut keys);
            let ops = put_ops(shared, &keys, start..end);
            let started = Instant::now();
            shared.engine.write_batch(&ops, shared.sync)?;
            // One batch is one timed operation; ops count entries.
            self.stats.latency.record(started.elapsed());
            let bytes = count as u64 * shared.params.entry_bytes();
            self.stats.ops += count as u64;
            self.stats.bytes += bytes;
            self.stats.user_write_bytes += bytes;
            shared.progress.inc(count as u64);
            start = end;
        }
        Ok(())
    }

    /// Key `index` as a new vector.
    fn key_of(&self, index: u64) -> Vec<u8> {
        let mut key = self.shared.keys.buffer();
        self.shared.keys.write_key(index, &mut key);
        key
    }

    /// The `queue` workload over the messages `range`: rounds of an append
    /// of [`QUEUE_CHUNK_MESSAGES`] at the tail and, past the backlog, a read
    /// of as many from the head and their range delete; one timed
    /// operation per round, `ops` counting messages appended.
    fn queue(&mut self, range: Range<u64>) -> Result<()> {
        let shared = self.shared;
        let backlog = QUEUE_BACKLOG_MESSAGES.min(shared.params.num / 2);
        let mut keys = Vec::new();
        let mut head = range.start;
        let mut tail = range.start;
        while tail < range.end {
            let started = Instant::now();
            let end = range.end.min(tail + QUEUE_CHUNK_MESSAGES);
            write_keys(&shared.keys, tail..end, &mut keys);
            shared
                .engine
                .write_batch(&put_ops(shared, &keys, tail..end), shared.sync)?;
            let appended = end - tail;
            let bytes = appended * shared.params.entry_bytes();
            self.stats.user_write_bytes += bytes;
            self.stats.bytes += bytes;
            tail = end;
            if tail - head > backlog {
                head = self.consume_head(head, tail - backlog)?;
            }
            self.stats.latency.record(started.elapsed());
            self.stats.ops += appended;
            self.unreported_ops += appended;
            if self.finish_round() {
                break;
            }
        }
        Ok(())
    }

    /// Reads the queue's messages `head..until` with a scan from the first
    /// key, checks they are the head, and deletes them with one range
    /// delete; returns the new head.
    fn consume_head(&mut self, head: u64, until: u64) -> Result<u64> {
        let shared = self.shared;
        let first = self.key_of(head);
        let wanted = (until - head) as usize;
        let mut first_seen: Option<Vec<u8>> = None;
        let mut bytes = 0u64;
        let visited = shared
            .engine
            .scan(None, Direction::Forward, wanted, &mut |key, value| {
                first_seen.get_or_insert_with(|| key.to_vec());
                bytes += (key.len() + value.len()) as u64;
                true
            })?;
        if visited != wanted as u64 || first_seen.as_deref() != Some(first.as_slice()) {
            return Err(BenchError::InvalidArgument(format!(
                "{}: the queue's head read {visited} of {wanted} messages from {:?}, not from \
                 message {head}",
                shared.engine.name(),
                first_seen.map(|key| String::from_utf8_lossy(&key).into_owned()),
            )));
        }
        self.stats.found += visited;
        self.stats.bytes += bytes;
        let end = self.key_of(until);
        shared.engine.write_batch(
            &[BatchOp::DeleteRange {
                start: &first,
                end: &end,
            }],
            shared.sync,
        )?;
        self.stats.user_write_bytes += (first.len() + end.len()) as u64;
        Ok(until)
    }

    /// Reports progress after a round of many ops; true when the thread
    /// should stop.
    fn finish_round(&mut self) -> bool {
        if self.unreported_ops >= PROGRESS_STEP_OPS {
            self.shared.progress.inc(self.unreported_ops);
            self.unreported_ops = 0;
        }
        self.shared
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
            || self.shared.stop.load(Ordering::Relaxed)
    }

    /// Deletes keys `0..num` in ascending order, [`DELETE_BATCH_KEYS`] per
    /// batch (one timed operation each).
    fn delete_all_per_key(&mut self) -> Result<()> {
        let shared = self.shared;
        let num = shared.params.num;
        let key_size = shared.keys.key_size_bytes();
        let mut keys = Vec::new();
        let mut start = 0;
        while start < num {
            let end = num.min(start + DELETE_BATCH_KEYS);
            write_keys(&shared.keys, start..end, &mut keys);
            let deletes: Vec<BatchOp<'_>> = keys
                .chunks_exact(key_size)
                .map(|key| BatchOp::Delete { key })
                .collect();
            let started = Instant::now();
            shared.engine.write_batch(&deletes, shared.sync)?;
            self.stats.latency.record(started.elapsed());
            let count = end - start;
            self.stats.ops += count;
            self.stats.user_write_bytes += count * key_size as u64;
            self.unreported_ops += count;
            self.finish_round();
            start = end;
        }
        Ok(())
    }

    /// Deletes keys `0..num` with one range delete (one timed operation).
    fn delete_all_in_one_range(&mut self) -> Result<()> {
        let shared = self.shared;
        let first = self.key_of(0);
        // Keys are decimal digits: `:` sorts after every one of them.
        let past_last = vec![b':'];
        let started = Instant::now();
        shared.engine.write_batch(
            &[BatchOp::DeleteRange {
                start: &first,
                end: &past_last,
            }],
            shared.sync,
        )?;
        self.stats.latency.record(started.elapsed());
        self.stats.ops += shared.params.num;
        self.stats.user_write_bytes += (first.len() + past_last.len()) as u64;
        self.unreported_ops += shared.params.num;
        Ok(())
    }

    /// Scans the whole key range after it was emptied, failing if anything
    /// is left; the time goes to `scan_after`.
    fn scan_emptied(&mut self) -> Result<()> {
        let shared = self.shared;
        let started = Instant::now();
        let left = shared
            .engine
            .scan(None, Direction::Forward, usize::MAX, &mut |_, _| true)?;
        let elapsed = started.elapsed();
        if left != 0 {
            return Err(BenchError::InvalidArgument(format!(
                "{}: {left} keys left after deleting every key",
                shared.engine.name()
            )));
        }
        self.stats.latency.record(elapsed);
        self.stats.scan_after = Some(elapsed);
        Ok(())
    }

    fn full_scan(&mut self, direction: Direction) -> Result<()> {
        let shared = self.shared;
        let mut last = Instant::now();
        let mut ops = 0u64;
        let mut bytes = 0u64;
        let latency = &mut self.stats.latency;
        shared
            .engine
            .scan(None, direction, usize::MAX, &mut |key, value| {
                let now = Instant::now();
                latency.record(now - last);
                last = now;
                ops += 1;
                bytes += (key.len() + value.len()) as u64;
                if ops.is_multiple_of(PROGRESS_STEP_OPS) {
                    shared.progress.inc(PROGRESS_STEP_OPS);
                }
                shared.deadline.is_none_or(|deadline| now < deadline)
            })?;
        self.stats.ops += ops;
        self.stats.found += ops;
        self.stats.bytes += bytes;
        self.unreported_ops += ops % PROGRESS_STEP_OPS;
        Ok(())
    }

    /// Thread 0 overwrites random keys until every reader is done; the
    /// others share the planned reads.
    fn read_while_writing(&mut self, planned: u64, thread_count: usize) -> Result<()> {
        let shared = self.shared;
        if self.thread == 0 {
            // At least one write, even when the readers finish before this
            // thread is scheduled: a writer rate of 0 would mean nothing.
            loop {
                self.put_random()?;
                self.stats.ops += 1;
                if shared.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
        let mine = share(planned, self.thread - 1, thread_count - 1);
        let outcome = self.each(mine, |worker, _| worker.get_random(false));
        if shared.readers_running.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.stop.store(true, Ordering::Relaxed);
        }
        outcome
    }

    fn ycsb_op(&mut self, mix: YcsbMix) -> Result<()> {
        let shared = self.shared;
        let key_count = shared.params.num + shared.inserted_count.load(Ordering::Relaxed);
        let roll: f64 = self.rng.gen();
        let chosen = shared.chooser.next_index(key_count, &mut self.rng);
        match mix {
            YcsbMix::A if roll < 0.5 => self.get(chosen, false),
            YcsbMix::B if roll < 0.95 => self.get(chosen, false),
            YcsbMix::A | YcsbMix::B => self.put(chosen),
            YcsbMix::C => self.get(chosen, false),
            YcsbMix::D if roll < 0.95 => {
                let latest = shared.chooser.next_latest_index(key_count, &mut self.rng);
                self.get(latest, false)
            }
            YcsbMix::E if roll < 0.95 => {
                let entries = self.rng.gen_range(1..=YCSB_MAX_SCAN_ENTRIES) as usize;
                self.scan_from(chosen, entries)
            }
            YcsbMix::D | YcsbMix::E => {
                let fresh =
                    shared.params.num + shared.inserted_count.fetch_add(1, Ordering::Relaxed);
                self.put(fresh)
            }
            YcsbMix::F if roll < 0.5 => self.get(chosen, false),
            YcsbMix::F => {
                self.get(chosen, false)?;
                self.put(chosen)
            }
        }
    }
}
