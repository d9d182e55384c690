//! A concurrent stress test in the style of RocksDB's `db_stress`, with an
//! expected state checked all along, under every compaction policy preset
//! and sync policy, on a tree kept small and busy (64 KiB memtables, 64 KiB
//! tables, a 256 KiB base level, level-0 trigger 2, two compaction threads).
//!
//! Per configuration, for a share of the time budget:
//! - writer threads own disjoint keys and keep their expected state; after
//!   every write (put, delete, atomic batch, single-key transaction, synced
//!   put) they read the written keys back (`get`, `multi_get` for batches)
//!   and now and then scan their whole prefix. Each writer also keeps pairs
//!   of far-apart keys (`a/...` and `z/...`) equal, written in one batch;
//! - reader threads take snapshots and read a slice of one writer's keys by
//!   point reads, forward and reverse scans (which must agree), keep up to a
//!   few snapshots and read them again later (which must give the same
//!   answers); `multi_get` of pairs must see both halves equal, and no read
//!   of a pair may go back to an older version than one the same thread saw;
//! - counter threads increment shared counters by merges (`U64AddOperator`)
//!   and by optimistic read-modify-write transactions (retried on conflict):
//!   no read may see fewer increments than had been acknowledged before it
//!   began, and the final values must equal the increments acknowledged;
//! - a maintenance thread flushes and compacts random key ranges.
//!
//! Then every expected value and counter is checked, the database is
//! closed, reopened and checked again.
//!
//! `SEER_STRESS_SECONDS` sets the whole budget (default 24 s, split over the
//! configurations), `SEER_STRESS_SEED` the seed (printed on failure),
//! `SEER_STRESS_CONFIG` runs only the configurations whose name contains it
//! (e.g. `tiering/never`). `cargo xtask stress --seconds N` runs it in
//! release mode.
#![allow(clippy::unwrap_used)]

mod durability_support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use durability_support::Rng;
use parking_lot::Mutex;
use seer_db::{
    CompactionPolicy, DBOptions, Error, PolicyParams, Snapshot, SyncPolicy, U64AddOperator,
    WriteOptions, DB,
};

const WRITERS: usize = 4;
const READERS: usize = 2;
const COUNTER_THREADS: usize = 2;
const KEYS_PER_WRITER: usize = 1024;
const PAIRS_PER_WRITER: usize = 32;
const COUNTERS: usize = 4;
const DEFAULT_BUDGET_SECONDS: u64 = 24;

/// What a thread reports when a check fails.
type Check = std::result::Result<(), String>;

/// Fails the check with a formatted message.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

/// A database error as a failed check.
fn checked<T>(context: &str, result: seer_db::Result<T>) -> std::result::Result<T, String> {
    result.map_err(|error| format!("{context}: {error}"))
}

/// A number below `bound` from `rng`.
fn below(rng: &mut Rng, bound: usize) -> usize {
    rng.below(bound as u64) as usize
}

/// One configuration: a compaction policy and a sync policy.
#[derive(Debug, Clone)]
struct Config {
    name: String,
    policy: CompactionPolicy,
    sync: SyncPolicy,
}

fn configs() -> Vec<Config> {
    let policies = [
        ("leveling", fixed(PolicyParams::leveling(4))),
        ("tiering", fixed(PolicyParams::tiering(4))),
        ("lazy-leveling", fixed(PolicyParams::lazy_leveling(4))),
        ("adaptive", CompactionPolicy::Adaptive),
    ];
    let syncs = [
        ("never", SyncPolicy::Never),
        ("always", SyncPolicy::Always),
        ("interval", SyncPolicy::Interval(Duration::from_millis(5))),
    ];
    let mut all = Vec::new();
    for (policy_name, policy) in policies {
        for (sync_name, sync) in syncs {
            all.push(Config {
                name: format!("{policy_name}/{sync_name}"),
                policy,
                sync,
            });
        }
    }
    all
}

fn fixed<E: std::fmt::Debug>(params: Result<PolicyParams, E>) -> CompactionPolicy {
    CompactionPolicy::Fixed(params.unwrap())
}

fn options(config: &Config) -> DBOptions {
    DBOptions::default()
        .memtable_capacity(64 << 10)
        .target_file_size(64 << 10)
        .base_level_size(256 << 10)
        .l0_compaction_trigger(2)
        .background_threads(2)
        .block_size(1024)
        .compaction_policy(config.policy)
        .sync_policy(config.sync)
        .merge_operator(U64AddOperator)
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
    )
}

/// The stress test; see the module documentation.
#[test]
fn concurrent_stress_keeps_every_acknowledged_write_and_every_committed_increment() {
    let budget =
        Duration::from_secs(env_u64("SEER_STRESS_SECONDS").unwrap_or(DEFAULT_BUDGET_SECONDS));
    let seed = env_u64("SEER_STRESS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    });
    let only = std::env::var("SEER_STRESS_CONFIG").ok();
    let chosen: Vec<Config> = configs()
        .into_iter()
        .filter(|config| {
            only.as_deref()
                .is_none_or(|only| config.name.contains(only))
        })
        .collect();
    assert!(
        !chosen.is_empty(),
        "SEER_STRESS_CONFIG={only:?} matches no configuration"
    );
    let share = budget / chosen.len() as u32;
    eprintln!(
        "stress: seed {seed}, {} configurations, {share:?} each",
        chosen.len()
    );
    for (index, config) in chosen.iter().enumerate() {
        let config_seed = seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
        if let Err(message) = run_config(config, config_seed, share) {
            panic!(
                "stress failure in {}: {message}\nreplay with SEER_STRESS_SEED={seed} \
                 SEER_STRESS_CONFIG={}",
                config.name, config.name
            );
        }
    }
}

/// What the threads of one run share.
struct Shared {
    db: DB,
    stop: AtomicBool,
    failure: Mutex<Option<String>>,
    /// Merge increments acknowledged, per merge counter.
    merges: Vec<AtomicU64>,
    /// Transactional increments committed, per transaction counter.
    commits: Vec<AtomicU64>,
    conflicts: AtomicU64,
    writes: AtomicU64,
    snapshot_reads: AtomicU64,
    maintenance: AtomicU64,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Records the first failure and stops every thread.
    fn fail(&self, message: String) {
        let mut failure = self.failure.lock();
        if failure.is_none() {
            *failure = Some(message);
        }
        self.stop.store(true, Ordering::Release);
    }
}

fn key(writer: usize, index: usize) -> Bytes {
    Bytes::from(format!("w{writer}/{index:04}"))
}

fn pair_keys(writer: usize, index: usize) -> [Bytes; 2] {
    [
        Bytes::from(format!("a/{writer}/{index:03}")),
        Bytes::from(format!("z/{writer}/{index:03}")),
    ]
}

fn merge_counter(index: usize) -> Bytes {
    Bytes::from(format!("c/m{index}"))
}

fn txn_counter(index: usize) -> Bytes {
    Bytes::from(format!("c/t{index}"))
}

/// A value naming its key and version, padded to a random length.
fn value_for(key: &[u8], version: u64, rng: &mut Rng) -> Bytes {
    let mut value = format!("{}#{version:010}#", String::from_utf8_lossy(key)).into_bytes();
    value.resize(value.len() + below(rng, 600), b'.');
    Bytes::from(value)
}

/// The version a value of `key` carries, if it is one.
fn version_of(key: &[u8], value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let rest = text.strip_prefix(std::str::from_utf8(key).ok()?)?;
    let digits = rest.strip_prefix('#')?.get(..10)?;
    digits.parse().ok()
}

fn counter_value(value: Option<&Bytes>) -> std::result::Result<u64, String> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            let array: [u8; 8] = bytes[..]
                .try_into()
                .map_err(|_| format!("a counter holds {} bytes", bytes.len()))?;
            Ok(u64::from_le_bytes(array))
        }
    }
}

fn shown(value: Option<&Bytes>) -> String {
    match value {
        None => "None".to_owned(),
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            format!("{:?}", text.trim_end_matches('.'))
        }
    }
}

fn run_config(config: &Config, seed: u64, share: Duration) -> Check {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let db = checked("open", options(config).open(dir.path()))?;
    let shared = Arc::new(Shared {
        db,
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
        merges: (0..COUNTERS).map(|_| AtomicU64::new(0)).collect(),
        commits: (0..COUNTERS).map(|_| AtomicU64::new(0)).collect(),
        conflicts: AtomicU64::new(0),
        writes: AtomicU64::new(0),
        snapshot_reads: AtomicU64::new(0),
        maintenance: AtomicU64::new(0),
    });
    let deadline = started + share;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let shared = Arc::clone(&shared);
        let rng = Rng(seed ^ (0x100 + w as u64));
        writers.push(std::thread::spawn(move || {
            let mut expected = BTreeMap::new();
            if let Err(message) = writer(&shared, w, rng, &mut expected) {
                shared.fail(format!("writer {w}: {message}"));
            }
            expected
        }));
    }
    let mut others = Vec::new();
    for r in 0..READERS {
        let shared = Arc::clone(&shared);
        let rng = Rng(seed ^ (0x200 + r as u64));
        others.push(std::thread::spawn(move || {
            if let Err(message) = reader(&shared, rng) {
                shared.fail(format!("reader {r}: {message}"));
            }
        }));
    }
    for c in 0..COUNTER_THREADS {
        let shared = Arc::clone(&shared);
        let rng = Rng(seed ^ (0x300 + c as u64));
        others.push(std::thread::spawn(move || {
            if let Err(message) = counter(&shared, rng) {
                shared.fail(format!("counter thread {c}: {message}"));
            }
        }));
    }
    {
        let shared = Arc::clone(&shared);
        let rng = Rng(seed ^ 0x400);
        others.push(std::thread::spawn(move || {
            if let Err(message) = maintenance(&shared, rng) {
                shared.fail(format!("maintenance: {message}"));
            }
        }));
    }
    while !shared.stopped() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    shared.stop.store(true, Ordering::Release);
    let mut expected = BTreeMap::new();
    for handle in writers {
        expected.extend(handle.join().map_err(|_| "a writer panicked".to_owned())?);
    }
    for handle in others {
        handle.join().map_err(|_| "a thread panicked".to_owned())?;
    }
    if let Some(message) = shared.failure.lock().take() {
        return Err(message);
    }
    let Ok(shared) = Arc::try_unwrap(shared) else {
        return Err("a thread kept the shared state".to_owned());
    };
    let merges: Vec<u64> = shared
        .merges
        .iter()
        .map(|m| m.load(Ordering::Relaxed))
        .collect();
    let commits: Vec<u64> = shared
        .commits
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    verify(&shared.db, &expected, &merges, &commits).map_err(|m| format!("before reopen: {m}"))?;
    let shape = shared.db.stats();
    checked("close", shared.db.close())?;
    drop(shared.db);
    let reopened = checked("reopen", options(config).open(dir.path()))?;
    verify(&reopened, &expected, &merges, &commits).map_err(|m| format!("after reopen: {m}"))?;
    checked("close after reopen", reopened.close())?;
    eprintln!(
        "stress {}: {:?}, {} writes, {} merge and {} transactional increments ({} conflicts), \
         {} snapshot checks, {} flushes/compactions; shape before close:\n{}",
        config.name,
        started.elapsed(),
        shared.writes.load(Ordering::Relaxed),
        merges.iter().sum::<u64>(),
        commits.iter().sum::<u64>(),
        shared.conflicts.load(Ordering::Relaxed),
        shared.snapshot_reads.load(Ordering::Relaxed),
        shared.maintenance.load(Ordering::Relaxed),
        levels_line(&shape),
    );
    Ok(())
}

/// The per-level lines of [`DB::stats`], for the log.
fn levels_line(stats: &str) -> String {
    stats
        .lines()
        .filter(|line| line.trim_start().starts_with('L'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every expected key (by point read and by one scan) and every counter.
fn verify(
    db: &DB,
    expected: &BTreeMap<Bytes, Option<Bytes>>,
    merges: &[u64],
    commits: &[u64],
) -> Check {
    for (key, value) in expected {
        let got = checked("get", db.get(key))?;
        ensure!(
            got.as_ref() == value.as_ref(),
            "get({:?}) = {}, expected {}",
            String::from_utf8_lossy(key),
            shown(got.as_ref()),
            shown(value.as_ref())
        );
    }
    let scanned: Vec<(Bytes, Bytes)> = db
        .iter()
        .filter(|entry| !entry.as_ref().is_ok_and(|(key, _)| key.starts_with(b"c/")))
        .collect::<seer_db::Result<_>>()
        .map_err(|error| format!("scan: {error}"))?;
    let present: Vec<(Bytes, Bytes)> = expected
        .iter()
        .filter_map(|(key, value)| value.clone().map(|value| (key.clone(), value)))
        .collect();
    ensure!(
        scanned == present,
        "a full scan yields {} entries, {} expected (first difference at {:?})",
        scanned.len(),
        present.len(),
        scanned
            .iter()
            .zip(&present)
            .find(|(a, b)| a != b)
            .map(|(a, _)| String::from_utf8_lossy(&a.0).into_owned())
    );
    for (index, &count) in merges.iter().enumerate() {
        let got = counter_value(checked("get", db.get(merge_counter(index)))?.as_ref())?;
        ensure!(
            got == count,
            "merge counter {index} is {got} after {count} increments"
        );
    }
    for (index, &count) in commits.iter().enumerate() {
        let got = counter_value(checked("get", db.get(txn_counter(index)))?.as_ref())?;
        ensure!(
            got == count,
            "transaction counter {index} is {got} after {count} commits"
        );
    }
    Ok(())
}

/// Reads `keys` back and compares them with `expected`, by `get` (one key)
/// or `multi_get` (several).
fn read_back(db: &DB, keys: &[Bytes], expected: &BTreeMap<Bytes, Option<Bytes>>) -> Check {
    let got = if let [only] = keys {
        vec![checked("get", db.get(only))?]
    } else {
        checked("multi_get", db.multi_get(keys))?
    };
    for (key, got) in keys.iter().zip(&got) {
        let want = expected.get(key).cloned().flatten();
        ensure!(
            got.as_ref() == want.as_ref(),
            "read back {:?}: got {}, expected {} ({} keys read)",
            String::from_utf8_lossy(key),
            shown(got.as_ref()),
            shown(want.as_ref()),
            keys.len()
        );
    }
    Ok(())
}

/// Scans writer `w`'s prefix and compares it with `expected`.
fn scan_own(db: &DB, w: usize, expected: &BTreeMap<Bytes, Option<Bytes>>) -> Check {
    let prefix = format!("w{w}/");
    let scanned: Vec<(Bytes, Bytes)> = db
        .prefix(&prefix)
        .collect::<seer_db::Result<_>>()
        .map_err(|error| format!("scan: {error}"))?;
    let want: Vec<(Bytes, Bytes)> = expected
        .iter()
        .filter(|(key, _)| key.starts_with(prefix.as_bytes()))
        .filter_map(|(key, value)| value.clone().map(|value| (key.clone(), value)))
        .collect();
    ensure!(
        scanned == want,
        "scan of {prefix}: {} entries, {} expected",
        scanned.len(),
        want.len()
    );
    Ok(())
}

fn writer(
    shared: &Shared,
    w: usize,
    mut rng: Rng,
    expected: &mut BTreeMap<Bytes, Option<Bytes>>,
) -> Check {
    let db = &shared.db;
    let mut version = 0u64;
    let mut steps = 0u64;
    while !shared.stopped() {
        version += 1;
        steps += 1;
        let mut written: Vec<Bytes> = Vec::new();
        match below(&mut rng, 100) {
            0..=49 => {
                let key = key(w, below(&mut rng, KEYS_PER_WRITER));
                let value = value_for(&key, version, &mut rng);
                checked("put", db.put(&key, &value))?;
                expected.insert(key.clone(), Some(value));
                written.push(key);
            }
            50..=64 => {
                let key = key(w, below(&mut rng, KEYS_PER_WRITER));
                checked("delete", db.delete(&key))?;
                expected.insert(key.clone(), None);
                written.push(key);
            }
            65..=79 => {
                let mut batch = db.batch();
                let mut staged = BTreeMap::new();
                for _ in 0..2 + below(&mut rng, 6) {
                    let key = key(w, below(&mut rng, KEYS_PER_WRITER));
                    if below(&mut rng, 4) == 0 {
                        batch.delete(&key);
                        staged.insert(key, None);
                    } else {
                        let value = value_for(&key, version, &mut rng);
                        batch.put(&key, &value);
                        staged.insert(key, Some(value));
                    }
                }
                checked("batch", db.write(batch, WriteOptions::default()))?;
                written.extend(staged.keys().cloned());
                expected.extend(staged);
            }
            80..=91 => {
                let pair = pair_keys(w, below(&mut rng, PAIRS_PER_WRITER));
                let mut batch = db.batch();
                let value = value_for(&pair[0], version, &mut rng);
                for key in &pair {
                    batch.put(key, &value);
                }
                checked("pair batch", db.write(batch, WriteOptions::default()))?;
                let values: Vec<Option<Bytes>> = checked("multi_get", db.multi_get(&pair))?;
                for (key, value) in pair.iter().zip(values) {
                    let got = value.as_deref().and_then(|v| version_of(&pair[0], v));
                    ensure!(
                        got == Some(version),
                        "pair key {:?} read back at version {got:?}, wrote {version}",
                        String::from_utf8_lossy(key)
                    );
                    expected.insert(key.clone(), value);
                }
            }
            92..=96 => {
                let key = key(w, below(&mut rng, KEYS_PER_WRITER));
                let mut transaction = db.begin_transaction();
                let seen = checked("transaction get", transaction.get(&key))?;
                let want = expected.get(&key).cloned().flatten();
                ensure!(
                    seen == want,
                    "transaction read {:?} = {}, expected {}",
                    String::from_utf8_lossy(&key),
                    shown(seen.as_ref()),
                    shown(want.as_ref())
                );
                let value = value_for(&key, version, &mut rng);
                transaction.put(&key, &value);
                checked("transaction commit", transaction.commit())?;
                expected.insert(key.clone(), Some(value));
                written.push(key);
            }
            _ => {
                let key = key(w, below(&mut rng, KEYS_PER_WRITER));
                let value = value_for(&key, version, &mut rng);
                checked(
                    "synced put",
                    db.put_opt(
                        &key,
                        &value,
                        WriteOptions {
                            sync: true,
                            ..WriteOptions::default()
                        },
                    ),
                )?;
                expected.insert(key.clone(), Some(value));
                written.push(key);
            }
        }
        shared.writes.fetch_add(1, Ordering::Relaxed);
        read_back(db, &written, expected)?;
        if steps.is_multiple_of(64) {
            scan_own(db, w, expected)?;
        }
    }
    Ok(())
}

/// What a snapshot answered for a slice of one writer's keys: point reads
/// and a scan.
#[derive(PartialEq)]
struct Answers {
    points: Vec<Option<Bytes>>,
    scan: Vec<(Bytes, Bytes)>,
}

/// A snapshot held by a reader, with its keys and first answers.
struct SnapshotRecord {
    snapshot: Snapshot,
    keys: Vec<Bytes>,
    answers: Answers,
}

/// Point reads, a forward and a reverse scan of `keys` (contiguous, one
/// writer's) through `snapshot`; they must agree.
fn read_snapshot(snapshot: &Snapshot, keys: &[Bytes]) -> std::result::Result<Answers, String> {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return Err("no keys".to_owned());
    };
    let points = keys
        .iter()
        .map(|key| checked("snapshot get", snapshot.get(key)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let forward: Vec<(Bytes, Bytes)> = snapshot
        .range(first.clone()..=last.clone())
        .collect::<seer_db::Result<_>>()
        .map_err(|error| format!("snapshot scan: {error}"))?;
    let mut backward: Vec<(Bytes, Bytes)> = snapshot
        .range(first.clone()..=last.clone())
        .rev()
        .collect::<seer_db::Result<_>>()
        .map_err(|error| format!("snapshot reverse scan: {error}"))?;
    backward.reverse();
    ensure!(
        forward == backward,
        "snapshot at {}: forward scan {} entries, reverse {}",
        snapshot.seq(),
        forward.len(),
        backward.len()
    );
    let from_points: Vec<(Bytes, Bytes)> = keys
        .iter()
        .zip(&points)
        .filter_map(|(key, value)| value.clone().map(|value| (key.clone(), value)))
        .collect();
    if forward != from_points {
        let differing = keys
            .iter()
            .zip(&points)
            .find(|(key, point)| {
                forward.iter().find(|(k, _)| k == *key).map(|(_, v)| v) != point.as_ref()
            })
            .map(|(key, point)| {
                let scanned = forward.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                format!(
                    "{:?}: get {} scan {}",
                    String::from_utf8_lossy(key),
                    shown(point.as_ref()),
                    shown(scanned)
                )
            });
        return Err(format!(
            "snapshot at {}: point reads and scan disagree: {differing:?}",
            snapshot.seq()
        ));
    }
    Ok(Answers {
        points,
        scan: forward,
    })
}

fn reader(shared: &Shared, mut rng: Rng) -> Check {
    let db = &shared.db;
    let mut held: VecDeque<SnapshotRecord> = VecDeque::new();
    let mut newest_seen: HashMap<Bytes, u64> = HashMap::new();
    while !shared.stopped() {
        // A new snapshot over a slice of one writer's keys.
        let w = below(&mut rng, WRITERS);
        let start = below(&mut rng, KEYS_PER_WRITER);
        let len = 1 + below(&mut rng, 48);
        let keys: Vec<Bytes> = (start..(start + len).min(KEYS_PER_WRITER))
            .map(|index| key(w, index))
            .collect();
        let snapshot = db.snapshot();
        let answers = read_snapshot(&snapshot, &keys)?;
        held.push_back(SnapshotRecord {
            snapshot,
            keys,
            answers,
        });
        shared.snapshot_reads.fetch_add(1, Ordering::Relaxed);
        // An older snapshot, read again: the same answers.
        let again = below(&mut rng, held.len());
        let old = &held[again];
        let reread = read_snapshot(&old.snapshot, &old.keys)?;
        if reread != old.answers {
            let differing = old
                .keys
                .iter()
                .zip(old.answers.points.iter().zip(&reread.points))
                .find(|(_, (before, after))| before != after)
                .map(|(key, (before, after))| {
                    format!(
                        "{:?}: first {} now {}",
                        String::from_utf8_lossy(key),
                        shown(before.as_ref()),
                        shown(after.as_ref())
                    )
                });
            return Err(format!(
                "snapshot at {} changed its answers: {differing:?}",
                old.snapshot.seq()
            ));
        }
        shared.snapshot_reads.fetch_add(1, Ordering::Relaxed);
        if held.len() > 4 {
            held.pop_front();
        }
        // Pairs at the latest state: both halves equal, never older than
        // what this thread saw before.
        let pairs: Vec<[Bytes; 2]> = (0..1 + below(&mut rng, 6))
            .map(|_| pair_keys(below(&mut rng, WRITERS), below(&mut rng, PAIRS_PER_WRITER)))
            .collect();
        let flat: Vec<Bytes> = pairs.iter().flatten().cloned().collect();
        let values = checked("multi_get", db.multi_get(&flat))?;
        for (pair, halves) in pairs.iter().zip(values.chunks(2)) {
            let versions: Vec<Option<u64>> = halves
                .iter()
                .map(|value| value.as_deref().and_then(|v| version_of(&pair[0], v)))
                .collect();
            ensure!(
                halves[0] == halves[1],
                "multi_get of pair {:?}: halves differ ({versions:?})",
                String::from_utf8_lossy(&pair[0])
            );
            if let Some(version) = versions[0] {
                let newest = newest_seen.entry(pair[0].clone()).or_insert(0);
                ensure!(
                    version >= *newest,
                    "pair {:?} went back from version {newest} to {version}",
                    String::from_utf8_lossy(&pair[0])
                );
                *newest = version;
            } else {
                ensure!(
                    !newest_seen.contains_key(&pair[0]),
                    "pair {:?} vanished",
                    String::from_utf8_lossy(&pair[0])
                );
            }
        }
        // One pair by plain get: not older than multi_get just returned.
        let [a, _] = &pairs[0];
        let got = checked("get", db.get(a))?;
        let version = got.as_deref().and_then(|v| version_of(a, v));
        let newest = newest_seen.get(a).copied();
        ensure!(
            version >= newest,
            "get of pair {:?} at version {version:?} after seeing {newest:?}",
            String::from_utf8_lossy(a)
        );
        if let Some(version) = version {
            newest_seen.insert(a.clone(), version);
        }
    }
    Ok(())
}

fn counter(shared: &Shared, mut rng: Rng) -> Check {
    let db = &shared.db;
    while !shared.stopped() {
        let index = below(&mut rng, COUNTERS);
        if below(&mut rng, 2) == 0 {
            let key = merge_counter(index);
            let before = shared.merges[index].load(Ordering::Acquire);
            checked("merge", db.merge(&key, 1u64.to_le_bytes()))?;
            shared.merges[index].fetch_add(1, Ordering::AcqRel);
            let got = counter_value(checked("get", db.get(&key))?.as_ref())?;
            ensure!(
                got > before,
                "merge counter {index} reads {got} after {before} increments and one more"
            );
            continue;
        }
        let key = txn_counter(index);
        loop {
            if shared.stopped() {
                return Ok(());
            }
            let committed = shared.commits[index].load(Ordering::Acquire);
            let mut transaction = db.begin_transaction();
            let value = counter_value(checked("transaction get", transaction.get(&key))?.as_ref())?;
            ensure!(
                value >= committed,
                "transaction counter {index} reads {value} after {committed} commits"
            );
            transaction.put(&key, (value + 1).to_le_bytes());
            match transaction.commit() {
                Ok(()) => {
                    shared.commits[index].fetch_add(1, Ordering::AcqRel);
                    break;
                }
                Err(Error::TransactionConflict { .. }) => {
                    shared.conflicts.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => return Err(format!("transaction commit: {error}")),
            }
        }
    }
    Ok(())
}

fn maintenance(shared: &Shared, mut rng: Rng) -> Check {
    let db = &shared.db;
    while !shared.stopped() {
        std::thread::sleep(Duration::from_millis(2 + below(&mut rng, 20) as u64));
        match below(&mut rng, 10) {
            0..=3 => checked("flush", db.flush())?,
            4..=8 => {
                let mut ends = [
                    key(below(&mut rng, WRITERS), below(&mut rng, KEYS_PER_WRITER)),
                    key(below(&mut rng, WRITERS), below(&mut rng, KEYS_PER_WRITER)),
                ];
                ends.sort();
                let [start, end] = ends;
                checked("compact_range", db.compact_range(start..=end))?;
            }
            _ => checked("compact_range(..)", db.compact_range::<&[u8]>(..))?,
        }
        shared.maintenance.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
