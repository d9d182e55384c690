//! Entry point of the `db_ops` fuzz target (crates/seer-db/fuzz), public so
//! the corpus replay test runs the very same code.
//!
//! The input is decoded into a sequence of operations (puts, deletes,
//! merges, batches, flushes, compactions, point reads, scans, clean reopens
//! and process crashes) run against a database with tiny memtables and
//! tables on a caller-provided in-memory file system, and against a
//! `BTreeMap` model. Each instance of the database gets its own fenced view
//! of the disk ([`Instance`]), so after a simulated crash the dead instance
//! does no more I/O, as after a real one. Every read, and the whole contents after every reopen,
//! must equal the model: a process crash loses nothing acknowledged. Any
//! difference or error panics, which is what the fuzzer looks for.

use std::collections::BTreeMap;
use std::path::Path;

use seer_core::{SharedFileSystem, StringAppendOperator};

use crate::{Batch, DBOptions, WriteOptions, DB};

/// The database directory inside the fuzzed file system.
const DIR: &str = "/fuzzdb";
/// Operations run per input at most, so an input stays fast.
const MAX_OPS_COUNT: usize = 400;

/// One database instance's view of the fuzz run's disk (booted by the
/// caller, e.g. through a fresh `seer_core::fault::PowerSwitch` on the run's
/// `FaultFileSystem` in the fuzz target and its replay test).
pub struct Instance {
    /// Where this instance's I/O goes.
    pub file_system: SharedFileSystem,
    /// Kills this instance as a process crash would: what it wrote stays,
    /// every handle and lock it holds dies, and none of its threads (a
    /// flush or compaction still running) reaches the disk afterwards.
    pub crash: Box<dyn Fn()>,
}

/// One decoded operation.
#[derive(Debug)]
enum Step {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Merge(Vec<u8>, Vec<u8>),
    Batch(Vec<Step>),
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

    fn write(&mut self, tag: u8) -> Option<Step> {
        Some(match tag % 3 {
            0 => Step::Put(self.key()?, self.value()?),
            1 => Step::Delete(self.key()?),
            _ => Step::Merge(self.key()?, self.value()?),
        })
    }

    fn step(&mut self) -> Option<Step> {
        let tag = self.byte()?;
        Some(match tag % 16 {
            0..=5 => self.write(tag / 16)?,
            6 => {
                let count = 1 + self.byte()? % 6;
                let mut steps = Vec::new();
                for _ in 0..count {
                    let tag = self.byte()?;
                    steps.push(self.write(tag)?);
                }
                Step::Batch(steps)
            }
            7 => Step::Flush,
            8 => Step::Compact,
            9 | 10 => Step::Get(self.key()?),
            11 => Step::Scan,
            12 => Step::Reopen,
            13 => Step::Crash,
            _ => self.write(tag / 16)?,
        })
    }
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn apply(model: &mut Model, step: &Step) {
    match step {
        Step::Put(key, value) => {
            model.insert(key.clone(), value.clone());
        }
        Step::Delete(key) => {
            model.remove(key);
        }
        Step::Merge(key, operand) => {
            let merged = match model.remove(key) {
                Some(mut base) => {
                    base.push(b',');
                    base.extend_from_slice(operand);
                    base
                }
                None => operand.clone(),
            };
            model.insert(key.clone(), merged);
        }
        Step::Batch(steps) => steps.iter().for_each(|s| apply(model, s)),
        _ => {}
    }
}

fn open(instance: &Instance) -> DB {
    let opened = DBOptions::default()
        .file_system(instance.file_system.clone())
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

fn write(db: &DB, step: &Step) -> crate::Result<()> {
    match step {
        Step::Put(key, value) => db.put(key, value),
        Step::Delete(key) => db.delete(key),
        Step::Merge(key, operand) => db.merge(key, operand),
        Step::Batch(steps) => {
            let mut batch = Batch::new();
            for step in steps {
                match step {
                    Step::Put(key, value) => batch.put(key, value),
                    Step::Delete(key) => batch.delete(key),
                    Step::Merge(key, operand) => batch.merge(key, operand),
                    _ => &mut batch,
                };
            }
            db.write(batch, WriteOptions::default()).map(drop)
        }
        _ => Ok(()),
    }
}

/// Runs the operations `data` encodes against a fresh database and a
/// model; `boot` gives each database instance its view of one disk. Panics
/// on any difference or error.
pub fn db_ops(data: &[u8], boot: &dyn Fn() -> Instance) {
    let mut decoder = Decoder { bytes: data };
    let mut model = Model::new();
    let mut instance = boot();
    let mut db = open(&instance);
    for _ in 0..MAX_OPS_COUNT {
        let Some(step) = decoder.step() else { break };
        match &step {
            Step::Flush => {
                if let Err(error) = db.flush() {
                    panic!("flush failed: {error}");
                }
            }
            Step::Compact => {
                if let Err(error) = db.compact_range::<&[u8]>(..) {
                    panic!("compaction failed: {error}");
                }
            }
            Step::Get(key) => match db.get(key) {
                Ok(got) => assert_eq!(got.as_deref(), model.get(key).map(Vec::as_slice)),
                Err(error) => panic!("get failed: {error}"),
            },
            Step::Scan => check_scan(&db, &model),
            Step::Reopen => {
                if let Err(error) = db.close() {
                    panic!("close failed: {error}");
                }
                drop(db);
                instance = boot();
                db = open(&instance);
                check_scan(&db, &model);
            }
            Step::Crash => {
                (instance.crash)();
                drop(db);
                instance = boot();
                db = open(&instance);
                check_scan(&db, &model);
            }
            write_step => {
                if let Err(error) = write(&db, write_step) {
                    panic!("write failed: {error}");
                }
                apply(&mut model, write_step);
            }
        }
    }
    check_scan(&db, &model);
    if let Err(error) = db.close() {
        panic!("final close failed: {error}");
    }
}
