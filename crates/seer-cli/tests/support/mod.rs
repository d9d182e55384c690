//! What the `seer` binary's tests share: running the built binary and
//! building real databases with seer-db.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use seer_db::{CompactionPolicy, DBOptions, PolicyParams, StringAppendOperator, DB};

/// What one run of `seer` printed and how it exited.
#[derive(Debug)]
pub struct Run {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit status (`None` when killed by a signal).
    pub status: Option<i32>,
}

/// Runs the built `seer` with `args`.
pub fn seer<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_seer"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        status: output.status.code(),
    }
}

/// Held for the whole of each test of a test binary whose tests run as
/// threads of one process (`cargo test`; nextest runs each test in its own
/// process). A child spawned by one test while another test's database is
/// open inherits that database's `LOCK` descriptor, and with it the lock,
/// until the child's `exec` closes it; on a loaded machine that can outlast
/// the other test's close, so its next `seer` would find its database
/// locked.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The options test databases are written with: a fixed leveling policy
/// and one compaction thread, so the files a sequence of writes leaves are
/// the same every run; the string-append merge operator.
pub fn options() -> DBOptions {
    DBOptions::default()
        .compaction_policy(CompactionPolicy::Fixed(PolicyParams::leveling(10).unwrap()))
        .background_threads(1)
        .merge_operator(StringAppendOperator::new(","))
}

/// A new database in a fresh temporary directory.
pub fn new_db() -> (tempfile::TempDir, PathBuf, DB) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = options().open(&path).unwrap();
    (dir, path, db)
}

/// The files of `dir` whose names end in `suffix`, in name order.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}
