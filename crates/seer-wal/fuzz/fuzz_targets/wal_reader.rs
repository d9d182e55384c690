//! Fuzzes the WAL segment reader: any bytes give records or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seer_testkit::fuzz::wal_reader(data));
