//! Measures the figures directly: inserts/s (1 and 2 threads),
//! gets/s and full-scan entries/s for 1M entries (16-byte keys, 100-byte
//! values) at P = 1, 2, 4, 8, 16. Run with
//! `cargo run --release -p seer-memtable --example throughput [entry_count]`.
#![allow(clippy::unwrap_used)]

#[path = "../benches/workload/mod.rs"]
mod workload;

use std::sync::Arc;
use std::time::Instant;

use seer_core::{InternalIterator, MAX_SEQ};
use seer_memtable::Memtable;
use workload::Workload;

/// Operations per second of `operation_count` operations run by `run`.
fn rate_per_s(operation_count: usize, run: impl FnOnce()) -> f64 {
    let start = Instant::now();
    run();
    operation_count as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let entry_count: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |arg| arg.parse().unwrap());
    let workload = Workload::new(entry_count);
    println!("entries: {entry_count}; rates in millions of operations per second");
    println!("| P | insert 1 thread | insert 2 threads | get | full scan | MiB accounted |");
    println!("|---|---|---|---|---|---|");
    for partition_count in [1, 2, 4, 8, 16] {
        let memtable = Arc::new(Memtable::new(partition_count, usize::MAX));
        let insert_1 = rate_per_s(entry_count, || workload.insert_all(&memtable, 1));
        let two_threads = Arc::new(Memtable::new(partition_count, usize::MAX));
        let insert_2 = rate_per_s(entry_count, || workload.insert_all(&two_threads, 2));
        drop(two_threads);
        let get = rate_per_s(entry_count, || {
            for key in &workload.keys {
                std::hint::black_box(memtable.get(key, MAX_SEQ));
            }
        });
        let scan = rate_per_s(entry_count, || {
            let mut cursor = memtable.iter();
            cursor.seek_to_first().unwrap();
            while cursor.valid() {
                std::hint::black_box(cursor.value());
                cursor.next().unwrap();
            }
        });
        let mib = memtable.approximate_memory_bytes() as f64 / (1 << 20) as f64;
        println!(
            "| {partition_count} | {:.2} | {:.2} | {:.2} | {:.2} | {mib:.0} |",
            insert_1 / 1e6,
            insert_2 / 1e6,
            get / 1e6,
            scan / 1e6
        );
    }
}
