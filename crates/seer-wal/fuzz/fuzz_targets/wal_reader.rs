//! Fuzzes the WAL segment reader: any bytes give records or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| seer_wal::fuzzing::wal_reader(data));
