//! Fuzzes whole-database operation sequences (writes, batches, flushes,
//! compactions, reads, clean reopens and process crashes) against a model,
//! on the in-memory fault-injecting file system, each database instance
//! behind its own `PowerSwitch` so a crashed one does no more I/O.
#![no_main]

use seer_core::fault::{FaultFileSystem, PowerSwitch};
use seer_db::fuzzing::{db_ops, Instance};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fs = FaultFileSystem::new();
    db_ops(data, &|| {
        let switch = PowerSwitch::new(&fs);
        Instance {
            file_system: switch.clone(),
            crash: Box::new(move || switch.crash()),
        }
    });
});
