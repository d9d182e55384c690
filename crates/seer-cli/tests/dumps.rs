//! Data-driven tests of the dumps (`seer manifest`, `seer wal`,
//! `seer table`) and of `seer verify` on databases built by the test: the
//! files in `tests/testdata/` hold commands and the output they must print
//! (format and rewriting: `seer_testkit::datadriven`;
//! `SEER_REWRITE_TESTDATA=1 cargo test -p seer-cli --test dumps` rewrites
//! the outputs, to be reviewed with `git diff`).
//!
//! Commands:
//!
//! - `db`: a new database (with the tests' fixed options) receiving the
//!   writes the input lists, one a line: `put K V`, `delete K`,
//!   `merge K OPERAND`, `put_ttl K V TTL_MS` (an expiring put; the clock
//!   stands at 1 000 000 ms), `batch OP; OP; ...` (one atomic batch of those),
//!   `flush`, `compact`; closed at the end. Prints its files' names.
//! - `seer ARGS...`: runs the binary; in `ARGS`, `DB` is the database
//!   directory and `DB/NAME` a file in it, where `NAME` may be `sst:N` or
//!   `wal:N` for the N-th table or WAL segment in name order (from 1).
//!   Prints standard output, then standard error and the exit status when
//!   they are not empty and 0; the database's path reads as `DB`.
//! - `flip NAME OFFSET`: flips a bit of byte `OFFSET` (from the end when
//!   negative) of file `NAME` (as in `seer`).
//! - `truncate NAME BYTES`: cuts the last `BYTES` bytes off file `NAME`.
//!
//! `seer verify` opens the database, which replays the WAL into a table
//! and starts a new manifest and segment (until read-only opens exist), so
//! the files after it differ from those before.

#![allow(clippy::unwrap_used)]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use seer_db::{ManualClock, DB};
use seer_testkit::datadriven::{run_file, test_files, TestCase};
use support::{files_ending, options, seer};

struct State {
    _dir: tempfile::TempDir,
    db: PathBuf,
}

#[test]
fn dumps() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    for file in test_files(&testdata) {
        let mut state: Option<State> = None;
        run_file(&file, |case| run_case(&mut state, case));
    }
}

fn run_case(state: &mut Option<State>, case: &TestCase) -> String {
    match case.command.as_str() {
        "db" => {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("db");
            build(&db, &case.input);
            let listing = file_names(&db);
            *state = Some(State { _dir: dir, db });
            listing
        }
        "seer" => {
            let state = state.as_ref().expect("`db` comes first");
            run_seer(&state.db, &case.command_line)
        }
        "flip" => {
            let state = state.as_ref().expect("`db` comes first");
            let words: Vec<&str> = case.command_line.split_whitespace().collect();
            let file = resolve(&state.db, words[1]);
            let mut bytes = std::fs::read(&file).unwrap();
            let offset: i64 = words[2].parse().unwrap();
            let at = if offset < 0 {
                bytes.len() - offset.unsigned_abs() as usize
            } else {
                offset as usize
            };
            bytes[at] ^= 0x08;
            std::fs::write(&file, bytes).unwrap();
            String::new()
        }
        "truncate" => {
            let state = state.as_ref().expect("`db` comes first");
            let words: Vec<&str> = case.command_line.split_whitespace().collect();
            let file = resolve(&state.db, words[1]);
            let cut: u64 = words[2].parse().unwrap();
            let len = std::fs::metadata(&file).unwrap().len();
            let handle = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
            handle.set_len(len - cut).unwrap();
            String::new()
        }
        other => panic!("{}: unknown command {other}", case.position()),
    }
}

fn build(path: &Path, input: &str) {
    // A clock standing at 1 000 000 ms: expiries in the dumps are fixed.
    let db = options()
        .clock(ManualClock::new(1_000_000))
        .open(path)
        .unwrap();
    for line in input.lines() {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "flush" => db.flush().unwrap(),
            "compact" => db.compact_range::<&[u8]>(..).unwrap(),
            "batch" => {
                let mut batch = db.batch();
                for op in rest.split(';') {
                    let words: Vec<&str> = op.split_whitespace().collect();
                    match words[..] {
                        ["put", key, value] => batch.put(key, value),
                        ["put_ttl", key, value, ms] => batch.put_with_ttl(key, value, ttl(ms)),
                        ["delete", key] => batch.delete(key),
                        ["merge", key, operand] => batch.merge(key, operand),
                        _ => panic!("bad batch op {op:?}"),
                    };
                }
                db.write(batch, Default::default()).unwrap();
            }
            _ => write_one(&db, verb, rest),
        }
    }
    db.close().unwrap();
}

fn write_one(db: &DB, verb: &str, rest: &str) {
    let words: Vec<&str> = rest.split_whitespace().collect();
    match (verb, &words[..]) {
        ("put", [key, value]) => db.put(key, value).unwrap(),
        ("put_ttl", [key, value, ms]) => db.put_with_ttl(key, value, ttl(ms)).unwrap(),
        ("delete", [key]) => db.delete(key).unwrap(),
        ("merge", [key, operand]) => db.merge(key, operand).unwrap(),
        _ => panic!("bad write {verb} {rest:?}"),
    }
}

fn ttl(ms: &str) -> Duration {
    Duration::from_millis(ms.parse().unwrap())
}

fn file_names(db: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(db)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.join("\n")
}

/// `DB`, `DB/NAME`, `DB/sst:N` or `DB/wal:N` as a path; anything else as is.
fn resolve(db: &Path, word: &str) -> PathBuf {
    if word == "DB" {
        return db.to_owned();
    }
    let Some(name) = word.strip_prefix("DB/") else {
        return PathBuf::from(word);
    };
    match name.split_once(':') {
        Some((kind, n)) => {
            let files = files_ending(db, &format!(".{kind}"));
            files[n.parse::<usize>().unwrap() - 1].clone()
        }
        None => db.join(name),
    }
}

fn run_seer(db: &Path, command_line: &str) -> String {
    let args: Vec<PathBuf> = command_line
        .split_whitespace()
        .skip(1)
        .map(|word| resolve(db, word))
        .collect();
    let run = seer(&args);
    let mut out = run.stdout;
    if !run.stderr.is_empty() {
        let _ = write!(out, "stderr: {}", run.stderr);
    }
    if run.status != Some(0) {
        let status = run
            .status
            .map_or("a signal".to_owned(), |code| code.to_string());
        let _ = writeln!(out, "exit status {status}");
    }
    out.replace(db.to_str().unwrap(), "DB")
}
