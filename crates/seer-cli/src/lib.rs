//! # seer-cli
//!
//! The `seer` admin command line, what `ldb` and `sst_dump` are to
//! RocksDB: read and write keys (`get`, `put`, `delete`, `scan`, `count`),
//! inspect a database (`stats`, `verify`) and its files (`manifest`, `wal`,
//! `table`), maintain it (`compact`, `flush`, `ingest`) and copy it (`checkpoint`,
//! `backup`). It owns the command line
//! ([`cli`]), how bytes are written and printed ([`mod@format`]) and the
//! rendering of every dump; it parses no file format itself: the files are
//! read through the layers' read-only inspection APIs and the database
//! through `seer-db`. Nothing depends on it.
//!
//! - [`cli`]: the clap definitions, with each subcommand's help and
//!   examples;
//! - [`mod@format`]: UTF-8, hex and escaped bytes, JSON strings;
//! - [`open`]: opening an existing database (never creating one):
//!   read-only (no lock, nothing written) for the reading commands, with
//!   the writer's lock for the others;
//! - [`data`]: the data commands;
//! - [`admin`]: `stats`, `verify`, `compact`, `flush`, `ingest`;
//! - [`copies`]: `checkpoint` and `backup create|list|verify|restore`;
//! - [`files`]: `manifest`, `wal`, `table`, from the files alone;
//! - [`progress`]: spinners and bars on a terminal only;
//! - [`error`]: outcomes, one-line errors and exit statuses.

pub mod admin;
pub mod cli;
pub mod copies;
pub mod data;
pub mod error;
pub mod files;
pub mod format;
pub mod open;
pub mod progress;

use std::io::Write;

use cli::{Cli, Command, RangeArgs};
use data::{DataFormats, KeySelection};
use error::{CliError, Outcome};
use files::{DumpFormats, TableSections};
use open::{with_db, with_db_created};
use seer_db::DB;

/// Runs the parsed command line, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let formats = DataFormats {
        key: cli.key_format,
        value: cli.value_format,
        json: cli.json,
    };
    let dump = DumpFormats {
        key: cli.key_format,
        value: cli.value_format,
    };
    let options = || open::options(cli.merge_operator.as_ref());
    let read_only = || open::read_only_options(cli.merge_operator.as_ref());
    let outcome = match cli.command {
        Command::Get { db, key } => {
            let key = formats.parse_key("KEY", &key)?;
            with_db(&db, read_only(), |db| data::get(db, &key, formats, out))?
        }
        Command::Put {
            db,
            key,
            value,
            create,
        } => {
            let key = formats.parse_key("KEY", &key)?;
            let put = |db: &DB| data::put(db, &key, &value, formats);
            if create {
                with_db_created(&db, options(), put)?
            } else {
                with_db(&db, options(), put)?
            }
        }
        Command::Delete { db, key } => {
            let key = formats.parse_key("KEY", &key)?;
            with_db(&db, options(), |db| data::delete(db, &key))?
        }
        Command::Scan {
            db,
            range,
            reverse,
            limit,
        } => {
            let selection = selection(&range, formats)?;
            with_db(&db, read_only(), |db| {
                data::scan(db, &selection, reverse, limit, formats, out)
            })?
        }
        Command::Count { db, range } => {
            let selection = selection(&range, formats)?;
            with_db(&db, read_only(), |db| {
                data::count(db, &selection, formats, out)
            })?
        }
        Command::Stats { db } => with_db(&db, read_only(), |db| admin::stats(db, out))?,
        Command::Manifest { path } => files::manifest(&path, dump, out)?,
        Command::Wal { path } => files::wal(&path, dump, out)?,
        Command::Table {
            file,
            verify,
            no_entries,
            no_index,
        } => {
            let sections = TableSections {
                index: !no_index,
                entries: !no_entries,
                verify,
            };
            files::table(&file, sections, dump, out)?
        }
        Command::Verify { db } => admin::verify(&db, read_only(), out)?,
        Command::Compact { db, from, to } => {
            let from = from.map(|k| formats.parse_key("--from", &k)).transpose()?;
            let to = to.map(|k| formats.parse_key("--to", &k)).transpose()?;
            with_db(&db, options(), |db| admin::compact(db, from, to))?
        }
        Command::Flush { db } => with_db(&db, options(), admin::flush)?,
        Command::Ingest { db, files } => {
            with_db(&db, options(), |db| admin::ingest(db, &files, out))?
        }
        Command::Checkpoint { db, path, copy } => with_db(&db, options(), |db| {
            copies::checkpoint(db, &path, copy, out)
        })?,
        Command::Backup { action } => copies::backup(action, options(), out)?,
    };
    out.flush()?;
    Ok(outcome)
}

fn selection(range: &RangeArgs, formats: DataFormats) -> Result<KeySelection, CliError> {
    let parse = |name: &str, text: &Option<String>| {
        text.as_deref()
            .map(|text| formats.parse_key(name, text))
            .transpose()
    };
    Ok(KeySelection {
        from: parse("--from", &range.from)?,
        to: parse("--to", &range.to)?,
        prefix: parse("--prefix", &range.prefix)?,
    })
}
