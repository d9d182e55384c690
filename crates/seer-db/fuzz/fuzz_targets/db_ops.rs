//! Fuzzes whole-database operation sequences (writes, batches, flushes,
//! compactions, reads, clean reopens and process crashes) against a model,
//! on the in-memory fault-injecting file system, each database instance
//! behind its own `PowerSwitch` so a crashed one does no more I/O.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seer_testkit::fuzz::db_ops(data));
