//! Fuzz target: any bytes decoded as a range tombstone block give fragments
//! or errors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seer_testkit::fuzz::range_del_decoder(data));
