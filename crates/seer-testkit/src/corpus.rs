//! Replay of a checked-in cargo-fuzz corpus (`crates/<crate>/fuzz/corpus/
//! <target>/`) through the target's entry point in [`crate::fuzz`], as an
//! ordinary test.

use std::path::{Path, PathBuf};

/// The corpus directory of fuzz target `target` of library crate
/// `crate_name` (e.g. `"seer-wal"`, `"wal_reader"`).
pub fn corpus_dir(crate_name: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_name)
        .join("fuzz/corpus")
        .join(target)
}

/// Runs `run` on every input of the corpus of `crate_name`'s fuzz target
/// `target`, in file-name order, and returns how many there were. Panics
/// (the test fails) when the corpus cannot be read or holds fewer than
/// `min_inputs_count` inputs, so a lost corpus does not pass silently.
pub fn replay(
    crate_name: &str,
    target: &str,
    min_inputs_count: usize,
    run: impl Fn(&[u8]),
) -> usize {
    let dir = corpus_dir(crate_name, target);
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|entry| match entry {
                Ok(entry) => entry.path(),
                Err(error) => panic!("listing {}: {error}", dir.display()),
            })
            .collect(),
        Err(error) => panic!("reading corpus {}: {error}", dir.display()),
    };
    paths.sort();
    for path in &paths {
        match std::fs::read(path) {
            Ok(input) => run(&input),
            Err(error) => panic!("reading {}: {error}", path.display()),
        }
    }
    assert!(
        paths.len() >= min_inputs_count,
        "the {target} corpus has {} inputs, expected at least {min_inputs_count}",
        paths.len()
    );
    paths.len()
}
