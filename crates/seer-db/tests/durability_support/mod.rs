//! Shared by the `durability_*` tests: a seeded generator, the model of a
//! database's contents, and opening through seer-core's `PowerSwitch`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use seer_core::fault::PowerSwitch;
use seer_core::fault::{FaultFileSystem, PowerLossMode};
use seer_db::{DBOptions, StringAppendOperator, SyncPolicy, WriteOptions, DB};

/// SplitMix64, so every choice of an iteration follows from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn power_loss_mode(&mut self) -> PowerLossMode {
        if self.one_in(2) {
            PowerLossMode::DropUnsynced
        } else {
            PowerLossMode::KeepRandomPrefix {
                seed: self.next_u64(),
            }
        }
    }
}

use seer_testkit::model::{apply_all, batch_of};
/// The model of the database's contents and its writes, shared through
/// seer-testkit (string-append merges joined by `MERGE_DELIMITER`).
pub use seer_testkit::{Model, Op, MERGE_DELIMITER};

/// Everything the database holds, read by a full scan; cross-checked by
/// point reads of every key in `keys` and of every scanned key.
pub fn read_all(db: &DB, keys: &[Vec<u8>]) -> Result<Model, seer_db::Error> {
    let mut scanned = Model::new();
    for entry in db.iter() {
        let (key, value) = entry?;
        scanned.insert(key.to_vec(), value.to_vec());
    }
    for key in keys.iter().chain(scanned.keys()) {
        let got = db.get(key)?.map(|v| v.to_vec());
        assert_eq!(
            got.as_ref(),
            scanned.get(key),
            "get and scan disagree on {:?}",
            String::from_utf8_lossy(key)
        );
    }
    Ok(scanned)
}

/// The first prefix length in `from..=history.len()` at which `base` plus
/// that prefix of `history` equals `state`.
pub fn matching_prefix(
    base: &Model,
    history: &[Vec<Op>],
    from: usize,
    state: &Model,
) -> Option<usize> {
    let mut model = base.clone();
    for write in &history[..from] {
        apply_all(&mut model, write);
    }
    if &model == state {
        return Some(from);
    }
    for (index, write) in history.iter().enumerate().skip(from) {
        apply_all(&mut model, write);
        if &model == state {
            return Some(index + 1);
        }
    }
    None
}

/// Runs `body(seed)`, printing how to replay the seed if it panics.
pub fn with_seed(test: &str, seed: u64, body: impl FnOnce(u64) + std::panic::UnwindSafe) {
    if let Err(panic) = std::panic::catch_unwind(move || body(seed)) {
        eprintln!("{test} failed for seed {seed}; replay with SEER_SEED={seed} cargo test -p seer-db --test {test}");
        std::panic::resume_unwind(panic);
    }
}

pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap())
}

/// The seeds of a run: `SEER_SEED` alone, or `SEER_ITERATIONS` (default
/// `default_count`) seeds from a base that differs run to run.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("SEER_SEED") {
        return vec![seed];
    }
    let count = env_u64("SEER_ITERATIONS").unwrap_or(default_count);
    let base = Rng(u64::from(std::process::id()) ^ 0xD0_5EED).next_u64();
    (0..count).map(|i| base.wrapping_add(i)).collect()
}

// ---- the random workload shared by the power-loss and I/O-error tests ----

pub const DB_DIR: &str = "/db";
pub const KEYS_COUNT: u64 = 40;

pub fn key(rng: &mut Rng) -> Vec<u8> {
    format!("key{:02}", rng.below(KEYS_COUNT)).into_bytes()
}

pub fn all_keys() -> Vec<Vec<u8>> {
    (0..KEYS_COUNT)
        .map(|k| format!("key{k:02}").into_bytes())
        .collect()
}

/// A random op (puts, deletes, merges and range deletes between two keys)
/// whose value names the write that made it, so a state pins down the
/// prefix that produced it.
pub fn random_op(rng: &mut Rng, write_index: usize) -> Op {
    let key = key(rng);
    let value = format!("g{write_index}-{}", "v".repeat(rng.below(48) as usize)).into_bytes();
    match rng.below(7) {
        0 => Op::Delete(key),
        1 | 2 => Op::Merge(key, value),
        3 => Op::DeleteRange(key, self::key(rng)),
        _ => Op::Put(key, value),
    }
}

/// Random small-scale options, and whether every write is synced.
pub fn random_options(rng: &mut Rng) -> (DBOptions, bool) {
    let policy = match rng.below(3) {
        0 => SyncPolicy::Always,
        1 => SyncPolicy::Never,
        _ => SyncPolicy::Interval(Duration::from_millis(2)),
    };
    let options = DBOptions::default()
        .sync_policy(policy)
        .memtable_capacity(1024 << rng.below(3))
        .memtable_partitions(1)
        .max_immutable_memtables(2)
        .target_file_size(1024)
        .block_size(256)
        .l0_compaction_trigger(2)
        .l0_slowdown_writes_trigger(8)
        .l0_stop_writes_trigger(16)
        .base_level_size(4096)
        .block_cache_capacity(if rng.one_in(2) { 0 } else { 64 << 10 })
        .background_threads(1)
        .disable_metrics(true)
        .merge_operator(StringAppendOperator::new(MERGE_DELIMITER));
    (options, policy == SyncPolicy::Always)
}

/// The acknowledged writes of one generation, and how far they are
/// guaranteed durable.
#[derive(Default)]
pub struct Generation {
    pub acked: Vec<Vec<Op>>,
    /// Writes `acked[..durable_count]` must survive a power loss.
    pub durable_count: usize,
    /// A write whose call failed: it may or may not have reached the disk.
    pub failed: Option<Vec<Op>>,
}

impl Generation {
    pub fn acknowledge(&mut self, ops: Vec<Op>, durable: bool) {
        self.acked.push(ops);
        if durable {
            self.durable_count = self.acked.len();
        }
    }
}

/// Submits one write of `ops` the way `rng` picks (single call, batch or
/// transaction); returns whether it was acknowledged.
pub fn submit(db: &DB, rng: &mut Rng, ops: &[Op], sync: bool) -> bool {
    let options = WriteOptions {
        sync,
        disable_wal: false,
    };
    if let [op] = ops {
        if !rng.one_in(3) {
            return match op {
                Op::Put(k, v) => db.put_opt(k, v, options).is_ok(),
                Op::Delete(k) if !sync => db.delete(k).is_ok(),
                Op::Merge(k, v) if !sync => db.merge(k, v).is_ok(),
                _ => write_batch(db, ops, options),
            };
        }
    }
    // Transactions have no range delete: those go in a batch.
    let ranged = ops.iter().any(|op| matches!(op, Op::DeleteRange(..)));
    if rng.one_in(4) && !ranged {
        let mut txn = db.begin_transaction();
        for op in ops {
            match op {
                Op::Put(k, v) => txn.put(k, v),
                Op::Delete(k) => txn.delete(k),
                Op::Merge(k, v) => txn.merge(k, v),
                Op::DeleteRange(..) => {}
            }
        }
        return txn.commit_with(options).is_ok();
    }
    write_batch(db, ops, options)
}

pub fn write_batch(db: &DB, ops: &[Op], options: WriteOptions) -> bool {
    db.write(batch_of(ops), options).is_ok()
}

pub fn open(fs: &FaultFileSystem, options: &DBOptions) -> (DB, Arc<PowerSwitch>) {
    let switch = PowerSwitch::new(fs);
    let db = options
        .clone()
        .file_system(Arc::clone(&switch) as Arc<dyn seer_core::FileSystem>)
        .open(Path::new(DB_DIR))
        .unwrap_or_else(|e| panic!("reopen after power loss failed: {e}"));
    (db, switch)
}

/// Checks the recovered `state` against `base` plus a prefix of the
/// generation's writes; returns how many writes the prefix holds.
pub fn check_generation(base: &Model, generation: &Generation, state: &Model) -> usize {
    let mut history = generation.acked.clone();
    history.extend(generation.failed.clone());
    let Some(prefix) = matching_prefix(base, &history, generation.durable_count, state) else {
        let mut acked_state = base.clone();
        for write in &generation.acked {
            apply_all(&mut acked_state, write);
        }
        panic!(
            "recovered state matches no prefix of the history from {} of {} acknowledged writes\n\
             recovered: {state:?}\nall acknowledged: {acked_state:?}",
            generation.durable_count,
            generation.acked.len()
        );
    };
    prefix
}
