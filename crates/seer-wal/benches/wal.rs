//! Criterion benches of the WAL: record encoding, unsynced appends through
//! the pipeline, and synced group commits with 1 to 64 concurrent writers.
//! Log files go to a temporary directory under `SEER_BENCH_DIR` (default
//! the system temp dir).
#![allow(clippy::unwrap_used)]
// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seer_core::RealFileSystem;
use seer_wal::{
    Apply, CommitPipeline, Record, Sequenced, SyncPolicy, WalOptions, WriteOp, WriteOptions,
    WriteRecord,
};

struct Discard;

impl Apply for Discard {
    type Error = std::convert::Infallible;

    fn apply(&self, _group: &[Sequenced]) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn put(value_bytes: usize, i: u64) -> WriteRecord {
    WriteRecord::Single(WriteOp::Put {
        key: Bytes::from(format!("key{i:016}")),
        value: Bytes::from(vec![b'v'; value_bytes]),
    })
}

fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("SEER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    tempfile::tempdir_in(base).unwrap()
}

fn pipeline(dir: &tempfile::TempDir, policy: SyncPolicy) -> CommitPipeline<Discard> {
    let options = WalOptions {
        sync_policy: policy,
        ..WalOptions::default()
    };
    CommitPipeline::open(RealFileSystem::shared(), dir.path(), 1, 0, options, Discard).unwrap()
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for value_bytes in [16usize, 100, 1024] {
        let record = Record::from_write(put(value_bytes, 7), 42);
        group.throughput(Throughput::Bytes(record.encoded_len() as u64));
        let mut out = Vec::with_capacity(4096);
        group.bench_function(BenchmarkId::from_parameter(value_bytes), |b| {
            b.iter(|| {
                out.clear();
                record.encode(&mut out);
                out.len()
            })
        });
    }
    group.finish();
}

fn append_unsynced(c: &mut Criterion) {
    let dir = bench_dir();
    let wal = pipeline(&dir, SyncPolicy::Never);
    let record = put(4096, 1);
    let mut group = c.benchmark_group("append_unsynced");
    group.throughput(Throughput::Bytes(record.encoded_len() as u64));
    group.bench_function("4KiB", |b| {
        b.iter(|| wal.write(record.clone(), WriteOptions::default()).unwrap())
    });
    group.finish();
}

/// Time for `iters` synced commits spread over `writers` threads.
fn synced_commits(wal: &Arc<CommitPipeline<Discard>>, writers: u64, iters: u64) -> Duration {
    let left = Arc::new(AtomicU64::new(iters));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let (wal, left) = (Arc::clone(wal), Arc::clone(&left));
            scope.spawn(move || {
                while left
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    wal.write(put(100, w), WriteOptions::default()).unwrap();
                }
            });
        }
    });
    start.elapsed()
}

fn commit_synced(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_synced");
    group.throughput(Throughput::Elements(1));
    for writers in [1u64, 4, 16, 64] {
        let dir = bench_dir();
        let wal = Arc::new(pipeline(&dir, SyncPolicy::Always));
        group.bench_function(BenchmarkId::from_parameter(writers), |b| {
            b.iter_custom(|iters| synced_commits(&wal, writers, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, encode, append_unsynced, commit_synced);
criterion_main!(benches);
