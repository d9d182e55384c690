//! [`DB::verify`](crate::DB::verify): reads every live file back from disk and checks every
//! checksum in it, through each layer's own reader (seer-db parses no
//! format here):
//!
//! - `CURRENT` and the manifest it names (`seer_compaction::manifest`);
//! - every table of the current version, opened afresh without the block
//!   cache (`seer_sstable::Table` checks the footer, filter, properties and
//!   index at open), then every block's checksum by
//!   `Table::verify_checksums`, without decoding entries;
//! - every WAL segment the manifest does not yet mark obsolete
//!   (`seer_wal::SegmentReader`), strictly except for a torn tail of the
//!   newest segment, which recovery tolerates.
//!
//! Damage is reported per file, never raised: the report lists every bad
//! file with its typed error, so one damaged table does not hide another.

use std::path::{Path, PathBuf};

use seer_compaction::{manifest, Version};
use seer_core::filename::file_name;
use seer_core::{FileKind, FileSystem};
use seer_log::LogEnd;
use seer_sstable::Table;
use seer_wal::{list_segments, segment_path, SegmentReader, WalRecoveryMode};

use crate::error::{Error, Result};

/// What [`DB::verify`](crate::DB::verify) found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Every file read back, with its size in bytes.
    pub checked_files: Vec<(PathBuf, u64)>,
    /// Every file that failed its check, with the error that names the
    /// damaged offset.
    pub bad_files: Vec<(PathBuf, Error)>,
    /// Bytes of a torn final edit at the end of the manifest (left by a
    /// crash during a write; not damage).
    pub manifest_torn_tail_bytes: u64,
    /// Bytes of a torn final record at the end of the newest WAL segment
    /// (left by a crash during a write; not damage).
    pub wal_torn_tail_bytes: u64,
}

impl VerifyReport {
    /// Whether every checked file is intact.
    pub fn is_ok(&self) -> bool {
        self.bad_files.is_empty()
    }

    fn check(&mut self, fs: &dyn FileSystem, path: PathBuf, result: Result<()>) {
        match result {
            Ok(()) => {
                let size_bytes = fs.file_size(&path).unwrap_or(0);
                self.checked_files.push((path, size_bytes));
            }
            Err(error) => self.bad_files.push((path, error)),
        }
    }
}

/// Reads every live WAL segment, table and manifest of `dir` back from
/// disk and checks all their checksums ([`DB::verify`](crate::DB::verify),
/// called inside the lifecycle gate); `version` is the current version,
/// whose tables are checked. Fails only when `dir` cannot be listed.
pub(crate) fn verify(
    fs: &dyn FileSystem,
    dir: &Path,
    levels_count: usize,
    version: &Version,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let log_number = verify_manifest(fs, dir, levels_count, &mut report);
    for (_, meta) in version.tables() {
        let path = dir.join(file_name(FileKind::Table, meta.file_number));
        let result = verify_table(fs, &path, meta.file_number);
        report.check(fs, path, result);
    }
    let segments = list_segments(fs, dir)?;
    let live: Vec<u64> = segments.into_iter().filter(|&n| n >= log_number).collect();
    for (index, &segment) in live.iter().enumerate() {
        let newest = index + 1 == live.len();
        let path = segment_path(dir, segment);
        let result = verify_segment(fs, &path, newest, &mut report.wal_torn_tail_bytes);
        report.check(fs, path, result);
    }
    Ok(report)
}

/// Checks `CURRENT` and the manifest; returns the first live WAL segment
/// (0, so every segment is checked, when the manifest is unreadable).
fn verify_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    levels_count: usize,
    report: &mut VerifyReport,
) -> u64 {
    let current = dir.join(file_name(FileKind::Current, 0));
    let number = match manifest::read_current(fs, dir) {
        Ok(Some(number)) => number,
        Ok(None) => {
            let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "CURRENT is missing");
            report.bad_files.push((current, Error::io(dir, missing)));
            return 0;
        }
        Err(error) => {
            report.bad_files.push((current, error.into()));
            return 0;
        }
    };
    report.check(fs, current, Ok(()));
    let path = dir.join(file_name(FileKind::Manifest, number));
    match manifest::replay(fs, dir, number, levels_count) {
        Ok(state) => {
            report.manifest_torn_tail_bytes = state.dropped_tail_bytes;
            report.check(fs, path, Ok(()));
            state.log_number
        }
        Err(error) => {
            report.bad_files.push((path, error.into()));
            0
        }
    }
}

/// Opens table `path` afresh (no cache) and checks every block's checksum.
fn verify_table(fs: &dyn FileSystem, path: &Path, file_number: u64) -> Result<()> {
    Table::open(fs, path, file_number, None)?.verify_checksums()?;
    Ok(())
}

/// Reads every record of one WAL segment; only the newest may end torn.
fn verify_segment(
    fs: &dyn FileSystem,
    path: &Path,
    newest: bool,
    torn_tail_bytes: &mut u64,
) -> Result<()> {
    let mode = if newest {
        WalRecoveryMode::TolerateCorruptedTail
    } else {
        WalRecoveryMode::AbsoluteConsistency
    };
    let mut reader = SegmentReader::open(fs, path, mode)?;
    let mut last_seq = None;
    while reader.next_record(&mut last_seq)?.is_some() {}
    if let Some(LogEnd::TornTail { offset }) = reader.log().end() {
        *torn_tail_bytes = reader.log().len_bytes().saturating_sub(*offset);
    }
    Ok(())
}
