//! The command line: [`Cli`] and its subcommands ([`Command`]), with the
//! `--help` text and examples of each.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::format::ByteFormat;

const ROOT_AFTER_HELP: &str = "\
The reading commands (get, scan, count, stats, verify) open the database read-only:
without the writer's lock and without writing a byte, so they work on a database another
process holds open (they see the state as of the open: its tables plus its WAL replayed
in memory). put, delete, compact and flush take the writer's lock: stop the process that
has the database open first. manifest, wal and table read the files alone, without
opening the database.

A database written with a merge operator is read with --merge-operator u64-add or
--merge-operator string-append[=DELIM].

Exit status: 0 done; 1 a negative answer (damage found, or `get` found no value);
2 an error (a missing, locked or foreign database, an unreadable file, a bad argument).

Examples:
  seer get /var/lib/app/db user:42
  seer scan /var/lib/app/db --prefix user: --limit 10 --json
  seer verify /var/lib/app/db
  seer wal /var/lib/app/db/00000000000000000007.wal";

/// `seer`: read, write, inspect and maintain a seerdb database.
#[derive(Debug, Parser)]
#[command(name = "seer", version, about, after_help = ROOT_AFTER_HELP)]
pub struct Cli {
    /// How keys are written in arguments and printed.
    #[arg(long, global = true, value_enum, default_value_t = ByteFormat::Escaped)]
    pub key_format: ByteFormat,
    /// How values are written in arguments and printed.
    #[arg(long, global = true, value_enum, default_value_t = ByteFormat::Escaped)]
    pub value_format: ByteFormat,
    /// Print JSON lines (get, scan, count): {"key":..,"value":..} with the
    /// key and value rendered in their formats.
    #[arg(long, global = true)]
    pub json: bool,
    /// The merge operator the database was written with, for commands that
    /// open it: `u64-add`, or `string-append` with `,` or
    /// `string-append=DELIM` (DELIM in escaped form). Without it, reading a
    /// key that holds merge operands fails.
    #[arg(long, global = true, value_name = "OPERATOR", value_parser = parse_merge_operator)]
    pub merge_operator: Option<MergeOperatorChoice>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A built-in merge operator, as `--merge-operator` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOperatorChoice {
    /// `seer_db::U64AddOperator`.
    U64Add,
    /// `seer_db::StringAppendOperator` joining with these bytes.
    StringAppend(Vec<u8>),
}

fn parse_merge_operator(text: &str) -> Result<MergeOperatorChoice, String> {
    match text.split_once('=') {
        None if text == "u64-add" => Ok(MergeOperatorChoice::U64Add),
        None if text == "string-append" => Ok(MergeOperatorChoice::StringAppend(b",".to_vec())),
        Some(("string-append", delimiter)) => ByteFormat::Escaped
            .parse(delimiter)
            .map(MergeOperatorChoice::StringAppend),
        _ => Err(format!(
            "{text:?} is not u64-add, string-append or string-append=DELIM"
        )),
    }
}

/// Keys selected by `scan` and `count`, in `--key-format`.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// The first key (inclusive).
    #[arg(long, value_name = "KEY")]
    pub from: Option<String>,
    /// The key to stop before (exclusive).
    #[arg(long, value_name = "KEY")]
    pub to: Option<String>,
    /// Only keys starting with these bytes.
    #[arg(long, value_name = "BYTES")]
    pub prefix: Option<String>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prints the value of KEY (exit status 1 when it has none).
    #[command(after_help = "\
Opens the database read-only: no lock, nothing written; works while another process
has it open.

Examples:
  seer get DB user:42
  seer get DB --key-format hex 7573657200 --value-format hex
  seer get DB user:42 --json      # {\"key\":\"user:42\",\"value\":\"...\"} or \"value\":null")]
    Get {
        /// The database directory.
        db: PathBuf,
        /// The key.
        key: String,
    },
    /// Sets KEY to VALUE.
    #[command(after_help = "\
Examples:
  seer put DB user:42 'Ada Lovelace'
  seer put DB --key-format hex --value-format escaped 0001 'line\\nbreak'
  seer put --create NEWDB first-key first-value")]
    Put {
        /// The database directory.
        db: PathBuf,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Create the database when DB does not exist or is an empty
        /// directory (without it, only an existing database is opened).
        #[arg(long)]
        create: bool,
    },
    /// Deletes KEY.
    #[command(after_help = "\
Examples:
  seer delete DB user:42")]
    Delete {
        /// The database directory.
        db: PathBuf,
        /// The key.
        key: String,
    },
    /// Prints the keys and values in a range, one `KEY<TAB>VALUE` a line.
    #[command(after_help = "\
Opens the database read-only: no lock, nothing written; works while another process
has it open.

Examples:
  seer scan DB
  seer scan DB --from a --to m --limit 100
  seer scan DB --prefix user: --reverse --json
  seer scan DB --key-format hex --value-format hex")]
    Scan {
        /// The database directory.
        db: PathBuf,
        /// The keys to print.
        #[command(flatten)]
        range: RangeArgs,
        /// In descending key order.
        #[arg(long)]
        reverse: bool,
        /// Print at most N pairs.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Prints how many keys are in a range.
    #[command(after_help = "\
Opens the database read-only: no lock, nothing written; works while another process
has it open.

Examples:
  seer count DB
  seer count DB --prefix user:")]
    Count {
        /// The database directory.
        db: PathBuf,
        /// The keys to count.
        #[command(flatten)]
        range: RangeArgs,
    },
    /// Prints the levels, runs, sizes, policy in force and why, and amplification.
    #[command(after_help = "\
Opens the database read-only: no lock, nothing written; works while another process
has it open.

Examples:
  seer stats DB")]
    Stats {
        /// The database directory.
        db: PathBuf,
    },
    /// Prints every version edit of the manifest, without opening the database.
    #[command(after_help = "\
Reads the file alone: no open, no lock. A damaged edit is reported (exit status 1) and
reading goes on after it; a torn final edit (a crash during the last append) is not damage.

Examples:
  seer manifest DB                  # the manifest CURRENT names
  seer manifest DB/MANIFEST-00000000000000000004")]
    Manifest {
        /// A database directory or a manifest file.
        path: PathBuf,
    },
    /// Prints every WAL record with its sequence numbers, without opening the database.
    #[command(after_help = "\
Reads the files alone: no open, no lock. Damaged records are reported (exit status 1) and
reading goes on after them; a torn tail (a crash during the last write) is not damage.

Examples:
  seer wal DB                       # every segment, in number order
  seer wal DB/00000000000000000007.wal --value-format hex")]
    Wal {
        /// A database directory or a WAL segment file.
        path: PathBuf,
    },
    /// Prints a table's properties, layout, index, filter, range tombstones and entries.
    #[command(after_help = "\
Reads the file alone: no open, no lock.

Examples:
  seer table DB/00000000000000000012.sst
  seer table DB/00000000000000000012.sst --no-entries --verify")]
    Table {
        /// The table file.
        file: PathBuf,
        /// Also check every block's checksum (exit status 1 when one is damaged).
        #[arg(long)]
        verify: bool,
        /// Leave out the entries.
        #[arg(long)]
        no_entries: bool,
        /// Leave out the layout and index.
        #[arg(long)]
        no_index: bool,
    },
    /// Checks every checksum of every live file (exit status 1 when any is damaged).
    #[command(after_help = "\
Opens the database read-only: no lock, nothing written; works while another process
has it open. A database whose WAL or manifest is too damaged to open is reported damaged,
naming the file.

Examples:
  seer verify DB")]
    Verify {
        /// The database directory.
        db: PathBuf,
    },
    /// Compacts a key range (every key by default) into the largest level.
    #[command(after_help = "\
Examples:
  seer compact DB
  seer compact DB --from user: --to user;")]
    Compact {
        /// The database directory.
        db: PathBuf,
        /// The first key (inclusive).
        #[arg(long, value_name = "KEY")]
        from: Option<String>,
        /// The key to stop before (exclusive).
        #[arg(long, value_name = "KEY")]
        to: Option<String>,
    },
    /// Writes the memtable to a table, so every write so far is in one.
    #[command(after_help = "\
Examples:
  seer flush DB")]
    Flush {
        /// The database directory.
        db: PathBuf,
    },
    /// Adds table files written by seer-db's TableWriter to DB, atomically (bulk load).
    #[command(after_help = "\
Takes the writer's lock (stop the process that has DB open first). Every FILE is validated
first (format, checksums, sorted keys, disjoint key ranges); a refused file is named and
nothing is added. The files' entries get one new sequence number, so they shadow older
data of the same keys. The files are rewritten into DB and left in place.

Examples:
  seer ingest DB /data/part-0.sst /data/part-1.sst")]
    Ingest {
        /// The database directory.
        db: PathBuf,
        /// The table files to add.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Writes an openable copy of DB at PATH (tables hard-linked), as of one sequence number.
    #[command(after_help = "\
Takes the writer's lock (stop the process that has DB open first), flushes, links the
tables (copies them when PATH is on another file system, or with --copy) and writes a
fresh manifest; PATH must not exist. Prints the checkpoint's sequence number.

Examples:
  seer checkpoint DB /backups/db-monday
  seer checkpoint DB /mnt/other-disk/db-copy --copy")]
    Checkpoint {
        /// The database directory.
        db: PathBuf,
        /// The checkpoint directory to create.
        path: PathBuf,
        /// Copy every table instead of linking it.
        #[arg(long)]
        copy: bool,
    },
    /// Creates, lists, verifies or restores incremental backups.
    #[command(after_help = "\
BACKUPS is a backup directory (created by the first `create`); tables shared by several
backups are stored once.

Examples:
  seer backup create /backups/app DB
  seer backup list /backups/app
  seer backup verify /backups/app 3
  seer backup restore /backups/app 3 /srv/app-restored")]
    Backup {
        /// What to do with the backups.
        #[command(subcommand)]
        action: BackupAction,
    },
}

/// `seer backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Backs DB up into BACKUPS (takes the writer's lock); prints the new backup's id.
    Create {
        /// The backup directory.
        backups: PathBuf,
        /// The database directory.
        db: PathBuf,
    },
    /// Prints every backup: id, time (ms since the epoch), sequence number, bytes, files.
    List {
        /// The backup directory.
        backups: PathBuf,
    },
    /// Checks every file of backup ID against its checksum (exit status 1 when one is damaged).
    Verify {
        /// The backup directory.
        backups: PathBuf,
        /// The backup's id.
        id: u64,
    },
    /// Restores backup ID as a new database directory TARGET (which must not exist).
    Restore {
        /// The backup directory.
        backups: PathBuf,
        /// The backup's id.
        id: u64,
        /// The database directory to create.
        target: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn every_subcommand_has_help_with_examples() {
        let mut root = Cli::command();
        root.build();
        let mut names = Vec::new();
        for subcommand in root
            .get_subcommands_mut()
            .filter(|c| c.get_name() != "help")
        {
            let help = subcommand.render_long_help().to_string();
            assert!(
                help.contains("Examples:"),
                "{}: {help}",
                subcommand.get_name()
            );
            names.push(subcommand.get_name().to_owned());
        }
        assert_eq!(names.len(), 15, "{names:?}");
        assert!(Cli::command()
            .render_long_help()
            .to_string()
            .contains("Exit status"));
    }
}
