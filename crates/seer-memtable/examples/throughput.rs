//! Measures the figures directly: inserts/s (1 and 2 threads),
//! gets/s and full-scan entries/s for 1M entries (16-byte keys, 100-byte
//! values, random order) at P = 1, 2, 4, 8, 16, and, for contrast, inserts/s
//! of the same keys in ascending order (the skip-list path stays in cache). Run with
//! `cargo run --release -p seer-memtable --example throughput [entry_count]`.
#![allow(clippy::unwrap_used)]

#[path = "../benches/workload/mod.rs"]
mod workload;

use std::sync::Arc;
use std::time::Instant;

use seer_core::{InternalIterator, MAX_SEQ};
use seer_memtable::Memtable;
use workload::Workload;

/// CPU seconds (user + system) this process has used, from
/// `/proc/self/stat` at 100 ticks per second; zero where that is missing.
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// Millions of operations per wall-clock second and per CPU second of
/// `operation_count` operations run by `run`. The machine is shared, so the
/// CPU-second rate is the steadier figure.
fn rates(operation_count: usize, run: impl FnOnce()) -> String {
    let cpu_start_s = process_cpu_s();
    let start = Instant::now();
    run();
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = (process_cpu_s() - cpu_start_s).max(0.01);
    let millions = operation_count as f64 / 1e6;
    format!("{:.2} ({:.2})", millions / wall_s, millions / cpu_s)
}

fn main() {
    let entry_count: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |arg| arg.parse().unwrap());
    let workload = Workload::new(entry_count);
    println!("entries: {entry_count}; millions of operations per wall second (per CPU second)");
    let mut ascending = Workload::new(entry_count);
    ascending.keys.sort_unstable();
    println!(
        "| P | insert 1 thread | insert 2 threads | get | full scan | insert ascending keys | MiB accounted |"
    );
    println!("|---|---|---|---|---|---|---|");
    for partition_count in [1, 2, 4, 8, 16] {
        let memtable = Arc::new(Memtable::new(partition_count, usize::MAX));
        let insert_1 = rates(entry_count, || workload.insert_all(&memtable, 1));
        let two_threads = Arc::new(Memtable::new(partition_count, usize::MAX));
        let insert_2 = rates(entry_count, || workload.insert_all(&two_threads, 2));
        drop(two_threads);
        let get = rates(entry_count, || {
            for key in &workload.keys {
                std::hint::black_box(memtable.get(key, MAX_SEQ));
            }
        });
        let scan = rates(entry_count, || {
            let mut cursor = memtable.iter();
            cursor.seek_to_first().unwrap();
            while cursor.valid() {
                std::hint::black_box(cursor.value());
                cursor.next().unwrap();
            }
        });
        let mib = memtable.approximate_memory_bytes() as f64 / (1 << 20) as f64;
        drop(memtable);
        let in_order = Arc::new(Memtable::new(partition_count, usize::MAX));
        let insert_ascending = rates(entry_count, || ascending.insert_all(&in_order, 1));
        println!(
            "| {partition_count} | {insert_1} | {insert_2} | {get} | {scan} | {insert_ascending} | {mib:.0} |"
        );
    }
}
