//! The entry point of seer-db's fuzz target `db_ops`.
//!
//! The input is decoded into a sequence of operations (puts, deletes,
//! merges, batches, flushes, compactions, point reads, scans, clean reopens
//! and process crashes) run against a database with tiny memtables and
//! tables on an in-memory `FaultFileSystem`, and against the [`Model`].
//! Each instance of the database gets its own fenced view of the disk (a
//! fresh `PowerSwitch`), so after a simulated crash the dead instance does
//! no more I/O, as after a real one. Every read, and the whole contents
//! after every reopen, must equal the model: a process crash loses nothing
//! acknowledged. Any difference or error panics, which is what the fuzzer
//! looks for.

use std::path::Path;
use std::sync::Arc;

use seer_core::fault::{FaultFileSystem, PowerSwitch};
use seer_core::StringAppendOperator;
use seer_db::{DBOptions, WriteOptions, DB};

use crate::model::{apply, apply_all, batch_of, Model, Op};

/// The database directory inside the fuzzed file system.
const DIR: &str = "/fuzzdb";
/// Operations run per input at most, so an input stays fast.
const MAX_OPS_COUNT: usize = 400;

/// One action decoded from the fuzz input: a write or batch (also applied
/// to the model), a maintenance call, a read checked against the model, or
/// a clean reopen or simulated crash.
#[derive(Debug)]
enum FuzzAction {
    Write(Op),
    Batch(Vec<Op>),
    Flush,
    Compact,
    Get(Vec<u8>),
    Scan,
    Reopen,
    Crash,
}

/// Reads operations from the fuzzer's bytes.
struct Decoder<'a> {
    bytes: &'a [u8],
}

impl Decoder<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    fn key(&mut self) -> Option<Vec<u8>> {
        Some(format!("key{:02}", self.byte()? % 24).into_bytes())
    }

    fn value(&mut self) -> Option<Vec<u8>> {
        let len = usize::from(self.byte()? % 64);
        let fill = self.byte()?;
        Some(vec![b'a' + fill % 26; len])
    }

    fn write(&mut self, tag: u8) -> Option<Op> {
        Some(match tag % 3 {
            0 => Op::Put(self.key()?, self.value()?),
            1 => Op::Delete(self.key()?),
            _ => Op::Merge(self.key()?, self.value()?),
        })
    }

    fn next_action(&mut self) -> Option<FuzzAction> {
        let tag = self.byte()?;
        Some(match tag % 16 {
            0..=5 => FuzzAction::Write(self.write(tag / 16)?),
            6 => {
                let count = 1 + self.byte()? % 6;
                let mut ops = Vec::new();
                for _ in 0..count {
                    let tag = self.byte()?;
                    ops.push(self.write(tag)?);
                }
                FuzzAction::Batch(ops)
            }
            7 => FuzzAction::Flush,
            8 => FuzzAction::Compact,
            9 | 10 => FuzzAction::Get(self.key()?),
            11 => FuzzAction::Scan,
            12 => FuzzAction::Reopen,
            13 => FuzzAction::Crash,
            _ => FuzzAction::Write(self.write(tag / 16)?),
        })
    }
}

/// Opens the database on `instance`, one instance's fenced view of the
/// run's disk: crashing it kills what it holds and nothing else.
fn open(instance: &Arc<PowerSwitch>) -> DB {
    let opened = DBOptions::default()
        .file_system(instance.clone())
        .memtable_capacity(1024)
        .memtable_partitions(1)
        .target_file_size(1024)
        .block_size(128)
        .base_level_size(4096)
        .l0_compaction_trigger(2)
        .background_threads(1)
        .disable_metrics(true)
        .merge_operator(StringAppendOperator::new(","))
        .open(Path::new(DIR));
    match opened {
        Ok(db) => db,
        Err(error) => panic!("open failed: {error}"),
    }
}

fn check_scan(db: &DB, model: &Model) {
    let mut scanned = Model::new();
    for entry in db.iter() {
        match entry {
            Ok((key, value)) => {
                scanned.insert(key.to_vec(), value.to_vec());
            }
            Err(error) => panic!("scan failed: {error}"),
        }
    }
    assert_eq!(&scanned, model, "scan differs from the model");
}

fn write(db: &DB, action: &FuzzAction) -> seer_db::Result<()> {
    match action {
        FuzzAction::Write(Op::Put(key, value)) => db.put(key, value),
        FuzzAction::Write(Op::Delete(key)) => db.delete(key),
        FuzzAction::Write(Op::Merge(key, operand)) => db.merge(key, operand),
        FuzzAction::Write(Op::DeleteRange(start, end)) => {
            db.delete_range(start.as_slice()..end.as_slice())
        }
        FuzzAction::Batch(ops) => db.write(batch_of(ops), WriteOptions::default()).map(drop),
        _ => Ok(()),
    }
}

/// Runs the operations `data` encodes against a fresh database on a fresh
/// in-memory disk and against the model. Panics on any difference or error.
pub fn db_ops(data: &[u8]) {
    let fs = FaultFileSystem::new();
    let mut decoder = Decoder { bytes: data };
    let mut model = Model::new();
    let mut instance = PowerSwitch::new(&fs);
    let mut db = open(&instance);
    for _ in 0..MAX_OPS_COUNT {
        let Some(action) = decoder.next_action() else {
            break;
        };
        match &action {
            FuzzAction::Flush => {
                if let Err(error) = db.flush() {
                    panic!("flush failed: {error}");
                }
            }
            FuzzAction::Compact => {
                if let Err(error) = db.compact_range::<&[u8]>(..) {
                    panic!("compaction failed: {error}");
                }
            }
            FuzzAction::Get(key) => match db.get(key) {
                Ok(got) => assert_eq!(got.as_deref(), model.get(key).map(Vec::as_slice)),
                Err(error) => panic!("get failed: {error}"),
            },
            FuzzAction::Scan => check_scan(&db, &model),
            FuzzAction::Reopen => {
                if let Err(error) = db.close() {
                    panic!("close failed: {error}");
                }
                drop(db);
                instance = PowerSwitch::new(&fs);
                db = open(&instance);
                check_scan(&db, &model);
            }
            FuzzAction::Crash => {
                instance.crash();
                drop(db);
                instance = PowerSwitch::new(&fs);
                db = open(&instance);
                check_scan(&db, &model);
            }
            write_action => {
                if let Err(error) = write(&db, write_action) {
                    panic!("write failed: {error}");
                }
                match write_action {
                    FuzzAction::Write(op) => apply(&mut model, op),
                    FuzzAction::Batch(ops) => apply_all(&mut model, ops),
                    _ => {}
                }
            }
        }
    }
    check_scan(&db, &model);
    if let Err(error) = db.close() {
        panic!("final close failed: {error}");
    }
}
