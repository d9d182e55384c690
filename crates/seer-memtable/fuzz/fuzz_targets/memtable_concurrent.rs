//! Fuzzes the arena memtable with concurrent inserts and reads: two writer
//! threads and a reader, then gets and scans checked against a model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    seer_testkit::fuzz::memtable_concurrent(data);
});
