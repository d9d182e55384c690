//! The kill -9 crash test (`cargo xtask crash --cycles N`).
//!
//! The parent (`crashtest parent --cycles N [--seed S] [--dir D]`) runs
//! cycles. In each it starts itself as a child (`crashtest child ...`) that
//! opens the database and writes from several threads: puts, deletes,
//! merges, batches and transactions, some with `sync`, under a sync policy
//! that changes from cycle to cycle. Each thread writes only its own keys
//! and, after each acknowledged write, prints `ack <thread> <op>` on
//! stdout, a pipe whose contents outlive the child. At a random moment
//! (sometimes before the database has even opened) the parent kills the
//! child with SIGKILL, reopens the database and checks every thread's keys
//! against a model of its acknowledged operations: all of them must be
//! there (a process crash loses nothing acknowledged, synced or not), the
//! one operation in flight may or may not be, batches and transactions are
//! all or nothing, merge operands keep their order. It also re-checks an
//! earlier cycle's keys and runs `DB::verify`. Operations are a pure
//! function of (seed, cycle, thread, op), so the parent recomputes them.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use seer_db::{DBOptions, StringAppendOperator, SyncPolicy, WriteOptions, DB};
use seer_testkit::model::{self, Model};

const THREADS_COUNT: u64 = 4;
const KEYS_PER_THREAD: u64 = 24;

/// SplitMix64 finaliser: the random choices, from (seed, cycle, thread, op).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(parts: &[u64]) -> u64 {
    parts.iter().fold(0, |acc, &part| mix(acc ^ part))
}

/// One user-level operation of the model.
#[derive(Debug, Clone)]
enum Op {
    Put(String, String),
    Delete(String),
    Merge(String, String),
}

impl Op {
    /// The same write as seer-testkit's model (and its batches) take it.
    fn to_model(&self) -> model::Op {
        match self {
            Op::Put(k, v) => model::Op::Put(k.clone().into_bytes(), v.clone().into_bytes()),
            Op::Delete(k) => model::Op::Delete(k.clone().into_bytes()),
            Op::Merge(k, v) => model::Op::Merge(k.clone().into_bytes(), v.clone().into_bytes()),
        }
    }
}

/// How an operation is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Single,
    Batch,
    Transaction,
}

/// Operation `op` of `thread` in `cycle`: its parts, how it is submitted,
/// and whether it asks for `sync`.
fn operation(seed: u64, cycle: u64, thread: u64, op: u64) -> (Vec<Op>, Via, bool) {
    let r = draw(&[seed, cycle, thread, op]);
    let key = |i: u64| {
        format!(
            "c{cycle}-t{thread}-k{:02}",
            (r >> (8 * i)) % KEYS_PER_THREAD
        )
    };
    let value = format!("c{cycle}-t{thread}-o{op}-{}", "v".repeat((r % 97) as usize));
    let sync = (r >> 40).is_multiple_of(8);
    let (ops, via) = match (r >> 48) % 10 {
        0..=3 => (vec![Op::Put(key(1), value)], Via::Single),
        4 => (vec![Op::Delete(key(1))], Via::Single),
        5 | 6 => (
            vec![Op::Merge(
                format!("c{cycle}-t{thread}-merge"),
                op.to_string(),
            )],
            Via::Single,
        ),
        7 | 8 => {
            let via = if (r >> 56).is_multiple_of(2) {
                Via::Batch
            } else {
                Via::Transaction
            };
            let ops = (1..=3)
                .map(|i| Op::Put(key(i), format!("{value}-{i}")))
                .chain([Op::Delete(key(4))])
                .collect();
            (ops, via)
        }
        _ => (
            vec![
                Op::Put(key(1), value.clone()),
                Op::Merge(format!("c{cycle}-t{thread}-merge"), format!("b{op}")),
            ],
            Via::Batch,
        ),
    };
    (ops, via, sync)
}

fn options(seed: u64, cycle: u64) -> DBOptions {
    let policy = match draw(&[seed, cycle, u64::MAX]) % 3 {
        0 => SyncPolicy::Always,
        1 => SyncPolicy::Never,
        _ => SyncPolicy::Interval(Duration::from_millis(5)),
    };
    DBOptions::default()
        .sync_policy(policy)
        .memtable_capacity(64 << 10)
        .target_file_size(64 << 10)
        .base_level_size(256 << 10)
        .l0_compaction_trigger(2)
        .merge_operator(StringAppendOperator::new(","))
}

fn submit(db: &DB, ops: &[Op], via: Via, sync: bool) -> seer_db::Result<()> {
    let options = WriteOptions {
        sync,
        disable_wal: false,
    };
    match (via, ops) {
        (Via::Single, [Op::Put(k, v)]) => db.put_opt(k, v, options).map(drop),
        (Via::Transaction, _) => {
            let mut txn = db.begin_transaction();
            for op in ops {
                match op {
                    Op::Put(k, v) => txn.put(k, v),
                    Op::Delete(k) => txn.delete(k),
                    Op::Merge(k, v) => txn.merge(k, v),
                }
            }
            txn.commit_with(options)
        }
        _ => {
            let ops: Vec<model::Op> = ops.iter().map(Op::to_model).collect();
            db.write(model::batch_of(&ops), options).map(drop)
        }
    }
}

/// The child: writes until killed, printing one line per acknowledgement.
fn child(dir: &Path, seed: u64, cycle: u64) -> Result<(), String> {
    let db = options(seed, cycle)
        .open(dir)
        .map_err(|e| format!("child open: {e}"))?;
    let stdout = Mutex::new(std::io::stdout());
    {
        let mut out = stdout.lock().map_err(|_| "stdout lock poisoned")?;
        writeln!(out, "ready").map_err(|e| e.to_string())?;
    }
    std::thread::scope(|scope| {
        for thread in 0..THREADS_COUNT {
            let (db, stdout) = (&db, &stdout);
            scope.spawn(move || {
                for op in 0.. {
                    let (ops, via, sync) = operation(seed, cycle, thread, op);
                    if let Err(error) = submit(db, &ops, via, sync) {
                        eprintln!("child: thread {thread} op {op} failed: {error}");
                        return;
                    }
                    let Ok(mut out) = stdout.lock() else { return };
                    if writeln!(out, "ack {thread} {op}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(())
}

/// Applies `ops` to `model` (seer-testkit's, with the same `","`
/// string-append merges as the database here).
fn apply(model: &mut Model, ops: &[Op]) {
    for op in ops {
        model::apply(model, &op.to_model());
    }
}

fn thread_keys(cycle: u64, thread: u64) -> Vec<String> {
    (0..KEYS_PER_THREAD)
        .map(|k| format!("c{cycle}-t{thread}-k{k:02}"))
        .chain([format!("c{cycle}-t{thread}-merge")])
        .collect()
}

fn read_keys(db: &DB, keys: &[String]) -> Result<Model, String> {
    let mut state = Model::new();
    for key in keys {
        if let Some(value) = db.get(key).map_err(|e| format!("get {key}: {e}"))? {
            state.insert(key.clone().into_bytes(), value.to_vec());
        }
    }
    Ok(state)
}

/// Checks one thread of `cycle` after the kill; returns its final model.
fn check_thread(db: &DB, seed: u64, cycle: u64, thread: u64, acked: u64) -> Result<Model, String> {
    let mut model = Model::new();
    for op in 0..acked {
        apply(&mut model, &operation(seed, cycle, thread, op).0);
    }
    let state = read_keys(db, &thread_keys(cycle, thread))?;
    if state == model {
        return Ok(model);
    }
    apply(&mut model, &operation(seed, cycle, thread, acked).0);
    if state == model {
        return Ok(model);
    }
    Err(format!(
        "cycle {cycle} thread {thread}: state after {acked} acknowledged ops matches neither \
         {acked} nor {} ops applied\nstate: {}\nmodel with in-flight op: {}",
        acked + 1,
        model::describe(&state),
        model::describe(&model)
    ))
}

/// What one cycle did.
struct CycleOutcome {
    acked_count: u64,
    /// Whether the child had opened the database before it was killed.
    opened: bool,
    models: Vec<Model>,
}

fn run_cycle(dir: &Path, seed: u64, cycle: u64) -> Result<CycleOutcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["child", "--dir"])
        .arg(dir)
        .args(["--seed", &seed.to_string(), "--cycle", &cycle.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn child: {e}"))?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let reader = std::thread::spawn(move || {
        let mut acked = vec![0u64; THREADS_COUNT as usize];
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("ready"), _, _) => ready = true,
                (Some("ack"), Some(t), Some(op)) => {
                    let (Ok(t), Ok(op)) = (t.parse::<usize>(), op.parse::<u64>()) else {
                        continue;
                    };
                    // A torn last line (killed mid-write) fails to parse or
                    // is an op number below the next: count contiguous acks.
                    if op == acked[t] {
                        acked[t] = op + 1;
                    }
                }
                _ => {}
            }
        }
        (acked, ready)
    });
    let r = draw(&[seed, cycle, 7]);
    let delay = if r.is_multiple_of(10) {
        Duration::from_millis(r % 20)
    } else {
        Duration::from_millis(30 + (r >> 8) % 400)
    };
    std::thread::sleep(delay);
    child.kill().map_err(|e| format!("kill: {e}"))?;
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    let (acked, ready) = reader.join().map_err(|_| "reader panicked")?;
    if status.success() {
        return Err(format!(
            "cycle {cycle}: the child exited by itself ({status})"
        ));
    }
    let db = options(seed, cycle)
        .open(dir)
        .map_err(|e| format!("cycle {cycle}: reopen after kill failed: {e}"))?;
    let mut models = Vec::new();
    for (thread, &count) in acked.iter().enumerate() {
        models.push(check_thread(&db, seed, cycle, thread as u64, count)?);
    }
    let report = db.verify().map_err(|e| format!("verify: {e}"))?;
    if !report.is_ok() {
        return Err(format!(
            "cycle {cycle}: verify found {:?}",
            report.bad_files
        ));
    }
    db.close().map_err(|e| format!("close: {e}"))?;
    Ok(CycleOutcome {
        acked_count: acked.iter().sum(),
        opened: ready,
        models,
    })
}

/// Re-reads an earlier cycle's keys: later cycles must not have lost them.
fn recheck(dir: &Path, seed: u64, cycle: u64, models: &[Model]) -> Result<(), String> {
    let db = options(seed, cycle)
        .open(dir)
        .map_err(|e| format!("recheck open: {e}"))?;
    for (thread, model) in models.iter().enumerate() {
        let state = read_keys(&db, &thread_keys(cycle, thread as u64))?;
        if &state != model {
            return Err(format!(
                "cycle {cycle} thread {thread} changed after later cycles"
            ));
        }
    }
    db.close().map_err(|e| format!("close: {e}"))
}

fn parent(dir: &Path, seed: u64, cycles: u64) -> Result<(), String> {
    eprintln!(
        "crash test: {cycles} cycles, seed {seed}, dir {} (replay: --seed {seed})",
        dir.display()
    );
    let started = Instant::now();
    let mut history: Vec<Vec<Model>> = Vec::new();
    let mut acked_total = 0;
    let mut killed_during_open = 0;
    for cycle in 0..cycles {
        let outcome = run_cycle(dir, seed, cycle)?;
        acked_total += outcome.acked_count;
        killed_during_open += u64::from(!outcome.opened);
        history.push(outcome.models);
        let earlier = draw(&[seed, cycle, 11]) % (cycle + 1);
        recheck(dir, seed, earlier, &history[earlier as usize])?;
        if (cycle + 1) % 50 == 0 || cycle + 1 == cycles {
            eprintln!(
                "{} cycles, {acked_total} acknowledged writes checked, {:.1}s",
                cycle + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "crash test passed: {cycles} kill -9 cycles ({killed_during_open} during open or \
         recovery), {acked_total} acknowledged writes, 0 violations, {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

fn number(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    flag(args, name).map_or(Ok(default), |v| {
        v.parse().map_err(|e| format!("{name} {v}: {e}"))
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => (|| {
            let dir = PathBuf::from(flag(&args, "--dir").ok_or("child needs --dir")?);
            child(&dir, number(&args, "--seed", 0)?, number(&args, "--cycle", 0)?)
        })(),
        Some("parent") => (|| {
            let seed = number(&args, "--seed", u64::from(std::process::id()))?;
            let cycles = number(&args, "--cycles", 20)?;
            let scratch;
            let dir = match flag(&args, "--dir") {
                Some(dir) => PathBuf::from(dir),
                None => {
                    scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
                    scratch.path().join("db")
                }
            };
            parent(&dir, seed, cycles)
        })(),
        _ => Err("usage: crashtest parent --cycles N [--seed S] [--dir D] | crashtest child --dir D --seed S --cycle C".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crashtest: {message}");
            ExitCode::FAILURE
        }
    }
}
