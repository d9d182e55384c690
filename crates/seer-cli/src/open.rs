//! Opening a database for the commands that need one ([`with_db`]): the
//! path is checked first (missing, a file, a directory without `CURRENT`
//! each get their own one-line error, and nothing is created), then the
//! database is opened and closed at the end of the command.
//!
//! The reading commands (`get`, `scan`, `count`, `stats`, `verify`) open
//! with [`read_only_options`]: without the writer's lock and without
//! writing a byte (seer-db's read-only open: the manifest's tree plus the
//! WAL replayed into memory), so they work on a database another process
//! holds open and leave its files as they were. The writing and
//! maintenance commands (`put`, `delete`, `compact`, `flush`) open
//! normally ([`options`]): they take the lock and run recovery, and a
//! database another process holds is refused with one line.

use std::path::Path;

use seer_core::filename::CURRENT_FILE_NAME;
use seer_db::{DBOptions, StringAppendOperator, U64AddOperator, DB};

use crate::cli::MergeOperatorChoice;
use crate::error::{existing, CliError, Outcome};

/// How the commands open a database: default options, never creating it,
/// with the merge operator chosen on the command line.
pub fn options(merge_operator: Option<&MergeOperatorChoice>) -> DBOptions {
    let options = DBOptions::default().create_if_missing(false);
    match merge_operator {
        None => options,
        Some(MergeOperatorChoice::U64Add) => options.merge_operator(U64AddOperator),
        Some(MergeOperatorChoice::StringAppend(delimiter)) => {
            options.merge_operator(StringAppendOperator::new(delimiter.clone()))
        }
    }
}

/// How the reading commands open a database: [`options`], read-only (no
/// lock, nothing written).
pub fn read_only_options(merge_operator: Option<&MergeOperatorChoice>) -> DBOptions {
    options(merge_operator).read_only(true)
}

/// Opens the database at `path` with `options`, runs `command` on it and
/// closes it (a failure to close is the command's error when the command
/// succeeded).
pub fn with_db(
    path: &Path,
    options: DBOptions,
    command: impl FnOnce(&DB) -> Result<Outcome, CliError>,
) -> Result<Outcome, CliError> {
    run_and_close(path, open(path, options)?, command)
}

/// As [`with_db`], but creates the database when `path` does not exist or
/// is an empty directory (`seer put --create`); a directory holding
/// anything else is refused by the library's open.
pub fn with_db_created(
    path: &Path,
    options: DBOptions,
    command: impl FnOnce(&DB) -> Result<Outcome, CliError>,
) -> Result<Outcome, CliError> {
    let db = options
        .create_if_missing(true)
        .open(path)
        .map_err(|e| CliError::from_db(path, &e))?;
    run_and_close(path, db, command)
}

/// Runs `command` on `db` (opened at `path`) and closes it.
fn run_and_close(
    path: &Path,
    db: DB,
    command: impl FnOnce(&DB) -> Result<Outcome, CliError>,
) -> Result<Outcome, CliError> {
    let outcome = command(&db);
    let closed = db.close().map_err(|e| CliError::from_db(path, &e));
    let outcome = outcome?;
    closed?;
    Ok(outcome)
}

/// Opens the existing database at `path` with `options`.
pub fn open(path: &Path, options: DBOptions) -> Result<DB, CliError> {
    open_checked(path, options)?.map_err(|e| CliError::from_db(path, &e))
}

/// The checks of `path` (the outer error), then the library's open and
/// its typed error (the inner one), for a command that tells damage from
/// other failures.
pub fn open_checked(path: &Path, options: DBOptions) -> Result<seer_db::Result<DB>, CliError> {
    let path = existing(path)?;
    if !path.is_dir() {
        return Err(CliError::new(format!(
            "{} is not a seerdb database: it is a file, not a directory",
            path.display()
        )));
    }
    if !path.join(CURRENT_FILE_NAME).exists() {
        return Err(CliError::new(format!(
            "{} is not a seerdb database: it has no {CURRENT_FILE_NAME} file",
            path.display()
        )));
    }
    Ok(options.open(&path))
}
