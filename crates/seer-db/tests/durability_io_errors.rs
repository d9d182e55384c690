//! Randomized injected I/O failures on the whole database.
//!
//! Each seed opens a small database on `FaultFileSystem`, arms one fault
//! (a failed, short or out-of-space append, a failed file or directory
//! sync, rename or create, the Nth from now), runs the random workload of
//! the power-loss test, and checks:
//!
//! - once a write has returned an error, every later write fails too (the
//!   database is read-only and never acknowledges a write it may not have
//!   persisted);
//! - after a process crash (or a power loss) and a reopen without faults,
//!   the database equals the model after some prefix of the history that
//!   covers every acknowledged write (after a power loss: every write
//!   acknowledged as durable).
//!
//! `SEER_SEED=<n>` replays a seed; `SEER_ITERATIONS=<n>` sets their number.
#![allow(clippy::unwrap_used)]

mod durability_support;

use std::sync::atomic::{AtomicU64, Ordering};

use durability_support::{
    all_keys, check_generation, open, random_op, random_options, read_all, seeds, submit,
    with_seed, Generation, Model, Op, Rng,
};
use seer_core::fault::{Fault, FaultFileSystem};

/// Seeds whose fault fired, and of those, the ones that failed a write.
static FIRED: AtomicU64 = AtomicU64::new(0);
static FAILED_A_WRITE: AtomicU64 = AtomicU64::new(0);

/// Arms one random fault (or a disk that fills up soon).
fn arm_random_fault(rng: &mut Rng, fs: &FaultFileSystem) -> String {
    let nth = 1 + rng.below(40);
    let fault = match rng.below(8) {
        0 => Fault::FailWrite { nth },
        1 => Fault::ShortWrite {
            nth,
            kept_bytes: rng.below(64) as usize,
        },
        2 => Fault::FailSync {
            nth: 1 + rng.below(8),
        },
        3 => Fault::FailDirSync {
            nth: 1 + rng.below(4),
        },
        4 => Fault::FailRename {
            nth: 1 + rng.below(3),
        },
        5 => Fault::FailCreate {
            nth: 1 + rng.below(4),
        },
        6 => Fault::FailEverySync,
        _ => {
            let capacity_bytes = fs.used_bytes() + rng.below(16 << 10);
            fs.set_capacity_bytes(Some(capacity_bytes));
            return format!("disk full at {capacity_bytes} bytes");
        }
    };
    fs.arm(fault);
    format!("{fault:?}")
}

fn io_error_iteration(seed: u64) {
    let mut rng = Rng(seed);
    let (options, policy_always) = random_options(&mut rng);
    let fs = FaultFileSystem::new();
    let (db, switch) = open(&fs, &options);
    let fault = arm_random_fault(&mut rng, &fs);
    let mut generation = Generation::default();
    for _ in 0..1 + rng.below(200) {
        match rng.below(30) {
            0 => {
                if db.flush().is_ok() && generation.failed.is_none() {
                    generation.durable_count = generation.acked.len();
                }
            }
            1 => {
                let _ = db.compact_range::<&[u8]>(..);
            }
            _ => {
                let ops_count = if rng.one_in(4) { 1 + rng.below(5) } else { 1 };
                let index = generation.acked.len();
                let ops: Vec<Op> = (0..ops_count).map(|_| random_op(&mut rng, index)).collect();
                let sync = rng.one_in(5);
                let acked = submit(&db, &mut rng, &ops, sync);
                match (acked, &generation.failed) {
                    (true, None) => generation.acknowledge(ops, sync || policy_always),
                    (false, None) => generation.failed = Some(ops),
                    (true, Some(_)) => {
                        panic!("a write was acknowledged after a failed one ({fault})")
                    }
                    (false, Some(_)) => {}
                }
            }
        }
    }
    let fired = fs.stats().injected_faults_count + fs.stats().storage_full_count > 0;
    FIRED.fetch_add(u64::from(fired), Ordering::Relaxed);
    FAILED_A_WRITE.fetch_add(u64::from(generation.failed.is_some()), Ordering::Relaxed);
    let power_loss = rng.one_in(2);
    if power_loss {
        switch.cut(rng.power_loss_mode());
    } else {
        switch.crash();
        generation.durable_count = generation.acked.len();
    }
    drop(db);
    fs.disarm_all();
    fs.set_capacity_bytes(None);
    let (db, _switch) = open(&fs, &options);
    let state = read_all(&db, &all_keys()).unwrap();
    check_generation(&Model::new(), &generation, &state);
    db.put(b"after-reopen", b"1").unwrap();
    db.close().unwrap();
}

#[test]
fn injected_io_errors_never_acknowledge_a_lost_write() {
    let seeds = seeds(60);
    eprintln!("{} seeds from {}", seeds.len(), seeds[0]);
    for seed in seeds {
        with_seed("durability_io_errors", seed, io_error_iteration);
    }
    eprintln!(
        "faults fired: {}, of which failed a foreground write: {}",
        FIRED.load(Ordering::Relaxed),
        FAILED_A_WRITE.load(Ordering::Relaxed)
    );
}
