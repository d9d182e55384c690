//! Fuzzes whole-database operation sequences (writes, batches, flushes,
//! compactions, reads, clean reopens and process crashes) against a model,
//! on the in-memory fault-injecting file system.
#![no_main]

use seer_core::fault::FaultFileSystem;
use seer_db::fuzzing::{db_ops, Machine};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fs = FaultFileSystem::new();
    let crash = || fs.crash();
    db_ops(
        data,
        &Machine {
            file_system: fs.shared(),
            crash: &crash,
        },
    );
});
