//! Fuzzes manifest replay: any bytes give a state or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    seer_testkit::fuzz::manifest_reader(data);
});
