//! Memtable benchmarks for partition counts 1, 2, 4, 8 and 16: single-thread
//! insert, 2-thread insert, point get and full forward iteration, with
//! 16-byte keys and 100-byte values.
#![allow(clippy::unwrap_used, missing_docs)]

mod workload;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use seer_core::{InternalIterator, MAX_SEQ};
use seer_memtable::Memtable;
use workload::Workload;

const ENTRY_COUNT: usize = 100_000;
const PARTITION_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];

fn inserts(c: &mut Criterion, workload: &Workload, thread_count: usize) {
    let mut group = c.benchmark_group(format!("insert_{thread_count}_thread"));
    group.throughput(Throughput::Elements(ENTRY_COUNT as u64));
    group.sample_size(10);
    for partition_count in PARTITION_COUNTS {
        group.bench_function(BenchmarkId::from_parameter(partition_count), |b| {
            b.iter_batched(
                || Arc::new(Memtable::new(partition_count, usize::MAX)),
                |memtable| {
                    workload.insert_all(&memtable, thread_count);
                    memtable
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// Benchmarks `read` over a memtable filled with the workload, per partition
/// count, in group `name`.
fn reads(c: &mut Criterion, workload: &Workload, name: &str, read: impl Fn(&Arc<Memtable>)) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(ENTRY_COUNT as u64));
    group.sample_size(10);
    for partition_count in PARTITION_COUNTS {
        let memtable = Arc::new(Memtable::new(partition_count, usize::MAX));
        workload.insert_all(&memtable, 1);
        group.bench_function(BenchmarkId::from_parameter(partition_count), |b| {
            b.iter(|| read(&memtable))
        });
    }
    group.finish();
}

fn get_every_key(memtable: &Arc<Memtable>, workload: &Workload) {
    for key in &workload.keys {
        criterion::black_box(memtable.get(key, MAX_SEQ));
    }
}

fn scan_forward(memtable: &Arc<Memtable>) {
    let mut cursor = memtable.iter();
    cursor.seek_to_first().unwrap();
    let mut value_bytes = 0usize;
    while cursor.valid() {
        value_bytes += cursor.value().len();
        cursor.next().unwrap();
    }
    assert_eq!(value_bytes, ENTRY_COUNT * workload::VALUE_BYTES);
}

fn benches(c: &mut Criterion) {
    let workload = Workload::new(ENTRY_COUNT);
    inserts(c, &workload, 1);
    inserts(c, &workload, 2);
    reads(c, &workload, "get", |memtable| {
        get_every_key(memtable, &workload)
    });
    reads(c, &workload, "iterate", scan_forward);
}

criterion_group!(memtable_benches, benches);
criterion_main!(memtable_benches);
