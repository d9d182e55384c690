//! The commands that copy a database: `checkpoint` (`DB::checkpoint_with`)
//! and `backup create|list|verify|restore` (seer-db's `BackupEngine`).

use std::io::Write;
use std::path::Path;

use seer_db::{BackupEngine, BackupId, CheckpointOptions, DBOptions, DB};

use crate::cli::BackupAction;
use crate::error::{CliError, Outcome};
use crate::format::file_label;
use crate::open::with_db;
use crate::progress::Progress;

/// `seer checkpoint DB PATH [--copy]`: prints the checkpoint's sequence
/// number and how its tables were placed.
pub fn checkpoint(
    db: &DB,
    path: &Path,
    copy: bool,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let progress = Progress::spinner("writing the checkpoint");
    let report = db.checkpoint_with(path, CheckpointOptions::default().copy_tables(copy));
    progress.finish();
    let report = report.map_err(|e| CliError::from_db(path, &e))?;
    writeln!(
        out,
        "checkpoint {} at seq {}: {} tables linked, {} copied ({} bytes)",
        path.display(),
        report.seq,
        report.tables_linked_count,
        report.tables_copied_count,
        report.copied_bytes
    )?;
    Ok(Outcome::Ok)
}

/// `seer backup ...`; `options` open the database of `create`.
pub fn backup(
    action: BackupAction,
    options: DBOptions,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    match action {
        BackupAction::Create { backups, db } => {
            let mut engine = open_engine(&backups)?;
            with_db(&db, options, |db| {
                let progress = Progress::spinner("backing up");
                let id = engine.create_backup(db);
                progress.finish();
                let id = id.map_err(|e| CliError::from_db(&backups, &e))?;
                writeln!(out, "backup {id}")?;
                Ok(Outcome::Ok)
            })
        }
        BackupAction::List { backups } => {
            for info in open_engine(&backups)?.list() {
                writeln!(
                    out,
                    "{}\t{}\tseq {}\t{} bytes\t{} files",
                    info.id, info.timestamp_ms, info.seq, info.size_bytes, info.files_count
                )?;
            }
            Ok(Outcome::Ok)
        }
        BackupAction::Verify { backups, id } => match open_engine(&backups)?.verify(BackupId(id)) {
            Ok(()) => {
                writeln!(out, "backup {id}: ok")?;
                Ok(Outcome::Ok)
            }
            Err(seer_db::Error::Corruption(corruption)) => {
                writeln!(
                    out,
                    "DAMAGED {}: {corruption}",
                    file_label(&corruption.file)
                )?;
                Ok(Outcome::Negative)
            }
            Err(error) => Err(CliError::from_db(&backups, &error)),
        },
        BackupAction::Restore {
            backups,
            id,
            target,
        } => {
            let engine = open_engine(&backups)?;
            let progress = Progress::spinner("restoring");
            let restored = engine.restore(BackupId(id), &target);
            progress.finish();
            restored.map_err(|e| CliError::from_db(&target, &e))?;
            writeln!(out, "restored backup {id} to {}", target.display())?;
            Ok(Outcome::Ok)
        }
    }
}

fn open_engine(backups: &Path) -> Result<BackupEngine, CliError> {
    BackupEngine::open(backups).map_err(|e| CliError::from_db(backups, &e))
}
