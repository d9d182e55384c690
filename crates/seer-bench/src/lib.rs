//! # seer-bench
//!
//! db_bench-style workloads for seerdb, run side by side with peer engines
//! behind cargo features. It will own the workload definitions, the engine
//! trait and the result reports.
