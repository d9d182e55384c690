//! Replays the checked-in corpus of the `db_ops` fuzz target
//! (crates/seer-db/fuzz/corpus/db_ops) through the same entry point, on
//! `FaultFileSystem`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use seer_core::fault::FaultFileSystem;
use seer_db::fuzzing::{db_ops, Machine};

#[test]
fn db_ops_corpus_replays_clean() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/db_ops");
    let mut count = 0;
    for entry in std::fs::read_dir(corpus).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        let fs = FaultFileSystem::new();
        let crash = || fs.crash();
        let machine = Machine {
            file_system: fs.shared(),
            crash: &crash,
        };
        db_ops(&input, &machine);
        count += 1;
    }
    assert!(count >= 4, "the corpus is missing");
}
