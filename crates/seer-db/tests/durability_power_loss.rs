//! Randomized power-loss test of the whole database on `FaultFileSystem`.
//!
//! Each seed opens a database with tiny memtables and tables (so WAL rolls,
//! flushes and compactions run all the time in the background), performs
//! random puts, deletes, merges, range deletes, batches, transactions,
//! flushes and manual compactions with `sync` writes interleaved, cuts the
//! power at a random moment (both `PowerLossMode`s), reopens and checks:
//!
//! - the reopened database equals the model after some prefix of the
//!   acknowledged history (no holes, no reordering, batches and
//!   transactions all or nothing);
//! - that prefix covers every write acknowledged with `sync`, under
//!   `SyncPolicy::Always`, or before a successful `flush`;
//! - scans and point reads agree.
//!
//! Three power losses per seed, each generation starting from the state the
//! previous one recovered. `SEER_SEED=<n>` replays a seed (background
//! threads make the moment of the cut relative to flushes vary);
//! `SEER_ITERATIONS=<n>` sets the number of seeds.
#![allow(clippy::unwrap_used)]

mod durability_support;

use std::sync::atomic::{AtomicU64, Ordering};

use durability_support::{
    all_keys, check_generation, open, random_op, random_options, read_all, seeds, submit,
    with_seed, Generation, Model, Op, PowerSwitch, Rng,
};
use seer_core::fault::FaultFileSystem;
use seer_db::DB;

const GENERATIONS_COUNT: usize = 3;

/// Power losses simulated by this test binary, for the closing line.
static POWER_LOSSES: AtomicU64 = AtomicU64::new(0);
/// Writes acknowledged, recovered, and files created over the run.
static ACKED: AtomicU64 = AtomicU64::new(0);
static RECOVERED: AtomicU64 = AtomicU64::new(0);
static FILES_CREATED: AtomicU64 = AtomicU64::new(0);

/// One generation: random work, the power cut after `cut_after` steps.
fn run_generation(db: &DB, rng: &mut Rng, switch: &PowerSwitch, policy_always: bool) -> Generation {
    let steps = 1 + rng.below(150) as usize;
    let cut_after = rng.below(steps as u64 + 1) as usize;
    let mode = rng.power_loss_mode();
    let mut generation = Generation::default();
    for step in 0..steps {
        if step == cut_after {
            switch.cut(mode);
        }
        match rng.below(30) {
            0 => {
                if db.flush().is_ok() {
                    generation.durable_count = generation.acked.len();
                }
            }
            1 => {
                let _ = db.compact_range::<&[u8]>(..);
            }
            _ => {
                let ops_count = if rng.one_in(4) { 1 + rng.below(5) } else { 1 };
                let index = generation.acked.len();
                let ops: Vec<Op> = (0..ops_count).map(|_| random_op(rng, index)).collect();
                let sync = rng.one_in(5);
                if submit(db, rng, &ops, sync) {
                    generation.acknowledge(ops, sync || policy_always);
                } else {
                    generation.failed = Some(ops);
                    break;
                }
            }
        }
    }
    switch.cut(mode);
    POWER_LOSSES.fetch_add(1, Ordering::Relaxed);
    generation
}

fn power_loss_iteration(seed: u64) {
    let mut rng = Rng(seed);
    let (options, policy_always) = random_options(&mut rng);
    let fs = FaultFileSystem::new();
    let keys = all_keys();
    let mut base = Model::new();
    for _ in 0..GENERATIONS_COUNT {
        let (db, switch) = open(&fs, &options);
        let state = read_all(&db, &keys).unwrap();
        assert_eq!(state, base, "reopened state changed since it was checked");
        let generation = run_generation(&db, &mut rng, &switch, policy_always);
        drop(db);
        let (db, _switch) = open(&fs, &options);
        let state = read_all(&db, &keys).unwrap();
        let prefix = check_generation(&base, &generation, &state);
        ACKED.fetch_add(generation.acked.len() as u64, Ordering::Relaxed);
        RECOVERED.fetch_add(prefix as u64, Ordering::Relaxed);
        base = state;
        db.close().unwrap();
    }
    FILES_CREATED.fetch_add(fs.stats().creates_count, Ordering::Relaxed);
}

#[test]
fn randomized_power_loss_recovers_an_acknowledged_prefix() {
    let seeds = seeds(60);
    eprintln!("{} seeds from {}", seeds.len(), seeds[0]);
    for seed in seeds {
        with_seed("durability_power_loss", seed, power_loss_iteration);
    }
    eprintln!(
        "simulated power losses: {}, writes acknowledged: {}, recovered: {}, files created: {}",
        POWER_LOSSES.load(Ordering::Relaxed),
        ACKED.load(Ordering::Relaxed),
        RECOVERED.load(Ordering::Relaxed),
        FILES_CREATED.load(Ordering::Relaxed)
    );
}
