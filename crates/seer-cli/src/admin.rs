//! The commands that inspect or maintain an open database as a whole:
//! `stats` (the `DB::stats` text), `verify` (the `DB::verify` report),
//! `compact`, `flush` and `ingest` (`DB::ingest`).

use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use seer_db::{VerifyReport, DB};

use crate::error::{CliError, Outcome};
use crate::format::file_label;
use crate::open;
use crate::progress::Progress;

/// `seer stats DB`.
pub fn stats(db: &DB, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let text = db.stats();
    write!(out, "{text}")?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(Outcome::Ok)
}

/// `seer verify DB`: every checked file, every damaged one, and
/// [`Outcome::Negative`] when any is damaged. A database too damaged to
/// open (recovery refuses a damaged WAL or manifest) is reported damaged
/// too, naming the file.
pub fn verify(
    path: &Path,
    options: seer_db::DBOptions,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let db = match open::open_checked(path, options)? {
        Ok(db) => db,
        Err(seer_db::Error::Corruption(corruption)) => {
            writeln!(
                out,
                "DAMAGED {}: {corruption} (the database cannot be opened)",
                file_label(&corruption.file)
            )?;
            return Ok(Outcome::Negative);
        }
        Err(error) => return Err(CliError::from_db(path, &error)),
    };
    let progress = Progress::spinner("verifying every live file");
    let report = db.verify();
    progress.finish();
    let closed = db.close();
    let report = report.map_err(|e| CliError::from_db(path, &e))?;
    closed.map_err(|e| CliError::from_db(path, &e))?;
    write_report(&report, out)
}

fn write_report(report: &VerifyReport, out: &mut dyn Write) -> Result<Outcome, CliError> {
    for (file, size_bytes) in &report.checked_files {
        writeln!(out, "ok {} ({size_bytes} bytes)", file_label(file))?;
    }
    for (file, error) in &report.bad_files {
        writeln!(out, "DAMAGED {}: {error}", file_label(file))?;
    }
    if report.manifest_torn_tail_bytes > 0 {
        writeln!(
            out,
            "manifest: torn tail of {} bytes (a crash during the last edit; not damage)",
            report.manifest_torn_tail_bytes
        )?;
    }
    if report.wal_torn_tail_bytes > 0 {
        writeln!(
            out,
            "wal: torn tail of {} bytes (a crash during the last write; not damage)",
            report.wal_torn_tail_bytes
        )?;
    }
    writeln!(
        out,
        "{} files checked, {} damaged",
        report.checked_files.len() + report.bad_files.len(),
        report.bad_files.len()
    )?;
    Ok(Outcome::damaged_if(!report.is_ok()))
}

/// `seer compact DB [--from K] [--to K]`: the keys in `[from, to)` (every
/// key without bounds) compacted down into one run of the largest level.
pub fn compact(db: &DB, from: Option<Vec<u8>>, to: Option<Vec<u8>>) -> Result<Outcome, CliError> {
    let start = from.map_or(Bound::Unbounded, Bound::Included);
    let end = to.map_or(Bound::Unbounded, Bound::Excluded);
    let progress = Progress::spinner("compacting");
    let result = db.compact_range::<Vec<u8>>((start, end));
    progress.finish();
    result.map_err(|e| CliError::from_db(db.path(), &e))?;
    Ok(Outcome::Ok)
}

/// `seer flush DB`: every write so far made durable in a table.
pub fn flush(db: &DB) -> Result<Outcome, CliError> {
    let progress = Progress::spinner("flushing");
    let result = db.flush();
    progress.finish();
    result.map_err(|e| CliError::from_db(db.path(), &e))?;
    Ok(Outcome::Ok)
}

/// `seer ingest DB FILE...`: the files added in one step; prints their
/// sequence number, entries and levels.
pub fn ingest(db: &DB, files: &[PathBuf], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let progress = Progress::spinner("ingesting");
    let report = db.ingest(files);
    progress.finish();
    let report = report.map_err(|e| CliError::from_db(db.path(), &e))?;
    writeln!(
        out,
        "ingested {} files at seq {}: {} entries, {} bytes, levels {:?}",
        files.len(),
        report.seq,
        report.entries,
        report.table_bytes,
        report.levels
    )?;
    Ok(Outcome::Ok)
}
