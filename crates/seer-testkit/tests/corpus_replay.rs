//! Replays every checked-in cargo-fuzz corpus (`crates/*/fuzz/corpus/`)
//! through the entry point its fuzz target calls, so a finding kept in a
//! corpus stays fixed.
#![allow(clippy::unwrap_used)]

use seer_testkit::corpus::replay;
use seer_testkit::fuzz;

#[test]
fn wal_reader_corpus_replays_clean() {
    replay("seer-wal", "wal_reader", 4, fuzz::wal_reader);
}

#[test]
fn manifest_reader_corpus_replays_clean() {
    replay(
        "seer-compaction",
        "manifest_reader",
        3,
        fuzz::manifest_reader,
    );
}

#[test]
fn current_reader_corpus_replays_clean() {
    replay("seer-compaction", "current_reader", 3, fuzz::current_reader);
}

#[test]
fn memtable_concurrent_corpus_replays_clean() {
    replay(
        "seer-memtable",
        "memtable_concurrent",
        3,
        fuzz::memtable_concurrent,
    );
}

#[test]
fn block_decoder_corpus_replays_clean() {
    replay("seer-sstable", "block_decoder", 3, fuzz::block_decoder);
}

#[test]
fn table_reader_corpus_replays_clean() {
    replay("seer-sstable", "table_reader", 4, fuzz::table_reader);
}

#[test]
fn range_del_decoder_corpus_replays_clean() {
    replay(
        "seer-sstable",
        "range_del_decoder",
        4,
        fuzz::range_del_decoder,
    );
}

#[test]
fn db_ops_corpus_replays_clean() {
    replay("seer-db", "db_ops", 4, fuzz::db_ops);
}

/// Replays one input `SEER_FUZZ_REPLAYS` times (default 1), for a
/// nondeterministic finding: `SEER_FUZZ_INPUT=path SEER_FUZZ_REPLAYS=200
/// cargo test -p seer-testkit --test corpus_replay -- --ignored`.
#[test]
#[ignore = "replays the input named by SEER_FUZZ_INPUT"]
fn db_ops_input_replays_clean() {
    let path = std::env::var("SEER_FUZZ_INPUT").unwrap();
    let replays: usize = std::env::var("SEER_FUZZ_REPLAYS").map_or(1, |v| v.parse().unwrap());
    let input = std::fs::read(path).unwrap();
    for _ in 0..replays {
        fuzz::db_ops(&input);
    }
}
