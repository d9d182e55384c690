//! [`DB::verify`](crate::DB::verify): reads every live file back from disk and checks every
//! checksum in it, through each layer's own verify (seer-db parses no
//! format here):
//!
//! - `CURRENT`, the manifest it names and the presence of every table it
//!   references (`VersionSet::verify`, over `seer_compaction::manifest::verify`,
//!   while no edit is logged);
//! - every table of the current version, opened afresh without the block
//!   cache (`seer_sstable::Table` checks the footer, filter, properties and
//!   index at open), then every block's checksum by
//!   `Table::verify_checksums`, without decoding entries;
//! - every WAL segment the manifest does not yet mark obsolete
//!   (`seer_wal::verify_segments`: every frame, every record and their
//!   sequence order), strictly except for a torn tail of the newest
//!   segment, which recovery tolerates.
//!
//! Damage is reported per file, never raised: the report lists every bad
//! file with its typed error, so one damaged table does not hide another.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use seer_core::filename::{file_name, CURRENT_FILE_NAME};
use seer_core::{FileKind, FileSystem};
use seer_sstable::Table;

use crate::error::{Error, Result};
use crate::tree::OpenVersionSet;

/// What [`DB::verify`](crate::DB::verify) found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Every file read back, with its size in bytes.
    pub checked_files: Vec<(PathBuf, u64)>,
    /// Every file that failed its check, with the error that names the
    /// damaged offset (a missing table is reported once, as found by the
    /// manifest's check).
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
/// called inside the lifecycle gate); `tree` verifies its manifest and gives
/// the current version, whose tables are checked. Fails only when `dir`
/// cannot be listed.
pub(crate) fn verify(
    fs: &dyn FileSystem,
    dir: &Path,
    tree: &OpenVersionSet,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let version = Arc::clone(&tree.current().version);
    let first_live_segment = match tree.verify_manifest() {
        Ok(manifest) => {
            report.manifest_torn_tail_bytes = manifest.state.dropped_tail_bytes;
            report.check(fs, manifest.current_path, Ok(()));
            report.check(fs, manifest.manifest_path, Ok(()));
            manifest.state.log_number
        }
        Err(error) => {
            let path = error
                .file()
                .map_or_else(|| dir.join(CURRENT_FILE_NAME), Path::to_owned);
            report.bad_files.push((path, error.into()));
            // Every segment is checked when the manifest is unreadable.
            0
        }
    };
    for (_, meta) in version.tables() {
        let path = dir.join(file_name(FileKind::Table, meta.file_number));
        if report.bad_files.iter().any(|(bad, _)| *bad == path) {
            continue;
        }
        let result = verify_table(fs, &path, meta.file_number);
        report.check(fs, path, result);
    }
    for segment in seer_wal::verify_segments(fs, dir, first_live_segment)? {
        match segment.result {
            Ok(summary) => {
                report.wal_torn_tail_bytes += summary.log.torn_tail_bytes;
                report.check(fs, segment.path, Ok(()));
            }
            Err(error) => report.bad_files.push((segment.path, error.into())),
        }
    }
    Ok(report)
}

/// Opens table `path` afresh (no cache) and checks every block's checksum.
fn verify_table(fs: &dyn FileSystem, path: &Path, file_number: u64) -> Result<()> {
    Table::open(fs, path, file_number, None)?.verify_checksums()?;
    Ok(())
}
