//! Replays the checked-in corpus of the `db_ops` fuzz target
//! (crates/seer-db/fuzz/corpus/db_ops) through the same entry point, on
//! `FaultFileSystem`, each database instance behind its own `PowerSwitch`.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use seer_core::fault::{FaultFileSystem, PowerSwitch};
use seer_db::fuzzing::{db_ops, Instance};

#[test]
fn db_ops_corpus_replays_clean() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/db_ops");
    let mut count = 0;
    for entry in std::fs::read_dir(corpus).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        replay(&input);
        count += 1;
    }
    assert!(count >= 4, "the corpus is missing");
}

/// Runs one input on a fresh disk.
fn replay(input: &[u8]) {
    let fs = FaultFileSystem::new();
    db_ops(input, &|| {
        let switch = PowerSwitch::new(&fs);
        Instance {
            file_system: switch.clone(),
            crash: Box::new(move || switch.crash()),
        }
    });
}

/// Replays one input `SEER_FUZZ_REPLAYS` times (default 1), for a
/// nondeterministic finding: `SEER_FUZZ_INPUT=path SEER_FUZZ_REPLAYS=200
/// cargo test -p seer-db --test durability_fuzz_corpus -- --ignored`.
#[test]
#[ignore = "replays the input named by SEER_FUZZ_INPUT"]
fn db_ops_input_replays_clean() {
    let path = std::env::var("SEER_FUZZ_INPUT").unwrap();
    let replays: usize = std::env::var("SEER_FUZZ_REPLAYS").map_or(1, |v| v.parse().unwrap());
    let input = std::fs::read(path).unwrap();
    for _ in 0..replays {
        replay(&input);
    }
}
