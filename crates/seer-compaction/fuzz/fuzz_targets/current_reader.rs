//! Fuzzes the `CURRENT` decoder: any bytes give a manifest number or an
//! error, never a panic, and a flipped byte never names another manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    seer_testkit::fuzz::current_reader(data);
});
