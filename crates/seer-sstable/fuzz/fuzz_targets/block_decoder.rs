//! Fuzz target: any bytes decoded as a block give entries or errors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seer_testkit::fuzz::block_decoder(data));
