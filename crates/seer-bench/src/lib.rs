//! # seer-bench
//!
//! db_bench-style workloads for seerdb, run side by side with peer engines
//! (fjall and RocksDB, behind the cargo features `fjall` and `rocksdb`).
//! It owns the workload definitions ([`workload`]), the engine trait and its
//! adapters ([`engine`], [`engines`]), running one job ([`run`]) or a whole
//! suite of them in child processes ([`suite`]), and the reports
//! ([`report`], [`chart`]). It does not own any storage code: every engine
//! is measured through its public API.
//!
//! The binary is the entry point: `cargo run --release -p seer-bench --
//! --help`, or `cargo xtask bench`.

pub mod chart;
pub mod dist;
pub mod engine;
pub mod engines;
pub mod error;
pub mod host;
pub mod keys;
pub mod latency;
pub mod report;
pub mod run;
pub mod suite;
pub mod workload;

pub use engine::{Engine, EngineConfig, EngineKind, ScanPerSeek, SeekCursor};
pub use error::{BenchError, Result};
pub use workload::{RunParams, Workload};

#[cfg(test)]
mod mem_engine;
#[cfg(test)]
mod tests;
