//! The WAL workload: synced group commits per second at 1, 4, 16 and 64
//! writers, and unsynced append throughput, printed as a table.
//!
//! `cargo run --release -p seer-wal --example wal_bench -- [--seconds S] [--dir DIR]`
//! (a temporary directory under DIR, default the system temp dir).
//!
//! With `--preallocation-pairs N` it instead measures what segment
//! preallocation buys: N rounds, each running synced commits at 1 and 8
//! writers without preallocation and then with the default step, printed per
//! round and as medians, so both see the same machine state.
//!
//! With `--roll-rounds N` it measures how long a writer's `roll` takes
//! under `SyncPolicy::Never`, with the new segment created at the roll or
//! prepared as a spare beforehand, and with 32 MiB of unsynced records in the
//! old segment or none: N rounds of the four cases, printed as medians and
//! maxima in milliseconds.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use seer_core::RealFileSystem;
use seer_wal::{
    Apply, CommitPipeline, Sequenced, SyncPolicy, WalOptions, WriteOp, WriteOptions, WriteRecord,
    DEFAULT_PREALLOCATE_STEP_BYTES,
};

struct Discard;

impl Apply for Discard {
    type Error = std::convert::Infallible;

    fn apply(&self, _group: &[Sequenced]) -> Result<(), Self::Error> {
        Ok(())
    }
}

struct Args {
    seconds: f64,
    dir: PathBuf,
    preallocation_pairs: Option<usize>,
    roll_rounds: Option<usize>,
}

fn parse_args() -> Args {
    let mut args = Args {
        seconds: 2.0,
        dir: std::env::temp_dir(),
        preallocation_pairs: None,
        roll_rounds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => args.seconds = value.parse().unwrap(),
            "--dir" => args.dir = PathBuf::from(value),
            "--preallocation-pairs" => args.preallocation_pairs = Some(value.parse().unwrap()),
            "--roll-rounds" => args.roll_rounds = Some(value.parse().unwrap()),
            other => panic!(
                "unknown argument {other}; use --seconds S --dir DIR \
                 [--preallocation-pairs N | --roll-rounds N]"
            ),
        }
    }
    args
}

fn open(
    dir: &tempfile::TempDir,
    policy: SyncPolicy,
    preallocate_step_bytes: u64,
) -> CommitPipeline<Discard> {
    let options = WalOptions {
        sync_policy: policy,
        preallocate_step_bytes,
        ..WalOptions::default()
    };
    CommitPipeline::open(RealFileSystem::shared(), dir.path(), 1, 0, options, Discard).unwrap()
}

fn put(value_bytes: usize, i: u64) -> WriteRecord {
    WriteRecord::Single(WriteOp::Put {
        key: Bytes::from(format!("key{i:016}")),
        value: Bytes::from(vec![b'v'; value_bytes]),
    })
}

/// Synced commits per second with `writers` threads for `duration`, and the
/// mean group size.
fn synced_commits(
    base: &PathBuf,
    writers: u64,
    duration: Duration,
    preallocate_step_bytes: u64,
) -> (f64, f64) {
    let dir = tempfile::tempdir_in(base).unwrap();
    let wal = open(&dir, SyncPolicy::Always, preallocate_step_bytes);
    let stop = AtomicBool::new(false);
    let commits = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let (wal, stop, commits) = (&wal, &stop, &commits);
            scope.spawn(move || {
                let mut i = w << 32;
                while !stop.load(Ordering::Relaxed) {
                    wal.write(put(100, i), WriteOptions::default()).unwrap();
                    commits.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let commits = commits.load(Ordering::Relaxed) as f64;
    (commits / elapsed, commits)
}

/// MB/s of 4 KiB puts through the pipeline with `SyncPolicy::Never`, without
/// and with one final fdatasync.
fn unsynced_append(base: &PathBuf, total_bytes: usize) -> (f64, f64) {
    let dir = tempfile::tempdir_in(base).unwrap();
    let wal = open(&dir, SyncPolicy::Never, DEFAULT_PREALLOCATE_STEP_BYTES);
    let record = put(4096, 0);
    let count = total_bytes / record.encoded_len();
    let start = Instant::now();
    for _ in 0..count {
        wal.write(record.clone(), WriteOptions::default()).unwrap();
    }
    let appended = start.elapsed().as_secs_f64();
    wal.sync().unwrap();
    let synced = start.elapsed().as_secs_f64();
    let megabytes = (count * record.encoded_len()) as f64 / 1e6;
    (megabytes / appended, megabytes / synced)
}

/// Synced commits per second at 1 and 8 writers, without and with segment
/// preallocation, alternating round by round.
fn compare_preallocation(base: &PathBuf, pairs: usize, duration: Duration) {
    println!("round  writers  no preallocation /s  preallocated /s");
    for writers in [1u64, 8] {
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..pairs {
            for (side, step) in [0, DEFAULT_PREALLOCATE_STEP_BYTES].into_iter().enumerate() {
                rates[side].push(synced_commits(base, writers, duration, step).0);
            }
            println!(
                "{round:>5}  {writers:>7}  {:>19.0}  {:>15.0}",
                rates[0][round], rates[1][round]
            );
        }
        let [off, on] = rates.map(|mut side| {
            side.sort_by(f64::total_cmp);
            side[side.len() / 2]
        });
        println!(
            "median {writers:>6}  {off:>19.0}  {on:>15.0}  ({:.2}x)",
            on / off
        );
    }
}

/// Milliseconds of each `roll` per case (spare prepared or not, 32 MiB
/// unsynced or nothing), `rounds` times each, printed as median and max.
fn time_rolls(base: &PathBuf, rounds: usize) {
    let dir = tempfile::tempdir_in(base).unwrap();
    let wal = open(&dir, SyncPolicy::Never, DEFAULT_PREALLOCATE_STEP_BYTES);
    let record = put(4096, 0);
    let unsynced_count = (32 << 20) / record.encoded_len();
    let mut segment = 1;
    let mut times_ms: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        for (case, (spare, unsynced)) in
            [(false, true), (true, true), (false, false), (true, false)]
                .into_iter()
                .enumerate()
        {
            let count = if unsynced { unsynced_count } else { 1 };
            for _ in 0..count {
                wal.write(record.clone(), WriteOptions::default()).unwrap();
            }
            if !unsynced {
                wal.sync().unwrap();
            }
            segment += 1;
            if spare {
                wal.prepare_segment(segment).unwrap();
                wal.wait_for_spare().unwrap();
            }
            // The previous roll's background work, out of the measurement.
            wal.stop_syncer();
            let start = Instant::now();
            wal.roll(segment).unwrap();
            times_ms[case].push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("roll under SyncPolicy::Never       median ms     max ms");
    let labels = [
        "created at the roll, 32 MiB unsynced",
        "spare, 32 MiB unsynced",
        "created at the roll, all synced",
        "spare, all synced",
    ];
    for (label, mut times) in labels.into_iter().zip(times_ms) {
        times.sort_by(f64::total_cmp);
        let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
        println!("{label:<37} {median:>9.2} {max:>10.2}");
    }
}

fn main() {
    let args = parse_args();
    let duration = Duration::from_secs_f64(args.seconds);
    if let Some(rounds) = args.roll_rounds {
        time_rolls(&args.dir, rounds.max(1));
        return;
    }
    if let Some(pairs) = args.preallocation_pairs {
        compare_preallocation(&args.dir, pairs.max(1), duration);
        return;
    }
    println!(
        "seer-wal benchmark in {} ({}s per row)",
        args.dir.display(),
        args.seconds
    );
    println!("{:<34} {:>14}", "workload", "result");
    let mut single = 0.0;
    for writers in [1u64, 4, 16, 64] {
        let (rate, _) =
            synced_commits(&args.dir, writers, duration, DEFAULT_PREALLOCATE_STEP_BYTES);
        if writers == 1 {
            single = rate;
        }
        let label = format!("synced commits, {writers} writers");
        println!("{label:<34} {rate:>10.0} /s  ({:.1}x)", rate / single);
    }
    let (append, with_sync) = unsynced_append(&args.dir, 512 << 20);
    println!(
        "{:<34} {append:>10.0} MB/s",
        "unsynced append, 4 KiB records"
    );
    println!(
        "{:<34} {with_sync:>10.0} MB/s",
        "same, plus one final fdatasync"
    );
}
