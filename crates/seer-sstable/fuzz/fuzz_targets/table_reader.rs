//! Fuzz target: any bytes opened as a table give a table or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seer_testkit::fuzz::table_reader(data));
