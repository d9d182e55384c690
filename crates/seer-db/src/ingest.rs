//! Bulk load: [`TableWriter`], which writes a sorted table file outside
//! any database (RocksDB's `SstFileWriter`), and the work of
//! [`DB::ingest`](crate::DB::ingest), which adds such files to a database
//! atomically (`docs/OPERATIONS.md`, "Bulk load").
//!
//! A written file holds its entries at sequence number 0. An ingest
//! validates every file (it opens as a table of our format, its checksums
//! hold, its keys ascend strictly, every entry is at sequence 0, the files'
//! key ranges are disjoint), then, with every write held off, flushes the
//! memtables, rewrites each file's entries into new tables of the database
//! at one new sequence number (seerdb's table entries carry their sequence
//! numbers, so a file cannot be linked in as it is), places each file's
//! tables at the deepest level where no table of that level or above meets
//! its key range, and logs all of them in one manifest edit whose last
//! sequence number covers the new one; only then does that number become
//! visible, so a snapshot taken before sees none of the data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::{TableMeta, Version, VersionEdit};
use seer_core::filename::file_name;
use seer_core::{
    Corruption, FileKind, FragmentedTombstones, InternalIterator, InternalKey, ParsedInternalKey,
    RangeTombstone, SeqNo, SharedFileSystem, ValueKind,
};
use seer_sstable::{Table, TableBuilder, TableOptions};

use crate::background::{while_no_compaction_runs, JobContext};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::DBOptions;

/// Writes one sorted table file outside any database, in the format and
/// with the block size, compression and bloom bits of the [`DBOptions`] it
/// is created with, for [`DB::ingest`](crate::DB::ingest). Keys must be
/// added in strictly ascending order (one entry per key). The file appears
/// at its path only once [`TableWriter::finish`] returns (it is built in a
/// staging directory beside it); a writer dropped unfinished removes what
/// it wrote.
pub struct TableWriter {
    fs: SharedFileSystem,
    path: PathBuf,
    staging_dir: PathBuf,
    builder: Option<TableBuilder>,
    max_key_size_bytes: usize,
    max_value_size_bytes: usize,
    smallest_key: Option<Bytes>,
    last_key: Option<Bytes>,
    encoded_key: Vec<u8>,
    range_deletes: Vec<RangeTombstone>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What [`TableWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWriterReport {
    /// The file.
    pub path: PathBuf,
    /// Entries written (puts, deletes and merge operands).
    pub entries: u64,
    /// The first key.
    pub smallest_key: Bytes,
    /// The last key.
    pub largest_key: Bytes,
    /// The file's size.
    pub file_size_bytes: u64,
}

/// What [`DB::ingest`](crate::DB::ingest) added.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestReport {
    /// The sequence number every ingested entry got (0 when no file was
    /// given).
    pub seq: SeqNo,
    /// Entries added.
    pub entries: u64,
    /// For each file, in the order given, the level its tables went to.
    pub levels: Vec<usize>,
    /// Bytes of the tables written into the database.
    pub table_bytes: u64,
}

impl TableWriter {
    /// Starts a table file at `path` (which must not exist) with the table
    /// options and file system of `options`.
    pub fn create(path: impl AsRef<Path>, options: &DBOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fs = Arc::clone(&options.file_system);
        if fs.exists(&path).map_err(|e| Error::io(&path, e))? {
            return Err(Error::TargetExists { path });
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::invalid(format!(
                "{} names no file in a directory",
                path.display()
            )));
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let staging_dir = parent.join(format!(".{}.seer-table-writer", name.to_string_lossy()));
        fs.create_dir_all(&staging_dir)
            .map_err(|e| Error::io(&staging_dir, e))?;
        let staged = staging_dir.join(file_name(FileKind::Table, 0));
        let builder = TableBuilder::new(Arc::clone(&fs), &staged, table_options(options))?;
        Ok(Self {
            fs,
            path,
            staging_dir,
            builder: Some(builder),
            max_key_size_bytes: options.max_key_size_bytes,
            max_value_size_bytes: options.max_value_size_bytes,
            smallest_key: None,
            last_key: None,
            encoded_key: Vec::new(),
            range_deletes: Vec::new(),
        })
    }

    /// Adds `key` set to `value`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.add(key.as_ref(), ValueKind::Put, value.as_ref())
    }

    /// Adds a deletion of `key` (it hides older versions in the database
    /// it is ingested into).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.add(key.as_ref(), ValueKind::Delete, &[])
    }

    /// Adds merge operand `operand` for `key` (the database it is ingested
    /// into needs a merge operator).
    pub fn merge(&mut self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> Result<()> {
        self.add(key.as_ref(), ValueKind::Merge, operand.as_ref())
    }

    /// Adds a deletion of every key in `start..end` (`start < end`), in
    /// any order relative to the other calls: once ingested it hides the
    /// older versions of those keys in the database, not the entries of
    /// this file (they get the same sequence number).
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        let (start, end) = (start.as_ref(), end.as_ref());
        if start >= end {
            return Err(Error::invalid("delete_range needs start < end"));
        }
        if start.len() > self.max_key_size_bytes || end.len() > self.max_key_size_bytes {
            return Err(Error::invalid(format!(
                "range bound exceeds max_key_size {}",
                self.max_key_size_bytes
            )));
        }
        self.range_deletes.push(RangeTombstone::new(
            Bytes::copy_from_slice(start),
            Bytes::copy_from_slice(end),
            0,
        ));
        Ok(())
    }

    fn add(&mut self, key: &[u8], kind: ValueKind, value: &[u8]) -> Result<()> {
        if let Some(previous) = &self.last_key {
            if key <= &previous[..] {
                return Err(Error::UnsortedKey {
                    key: key.to_vec(),
                    previous: previous.to_vec(),
                });
            }
        }
        if key.len() > self.max_key_size_bytes || value.len() > self.max_value_size_bytes {
            return Err(Error::invalid(format!(
                "key of {} bytes or value of {} bytes exceeds max_key_size {} or max_value_size {}",
                key.len(),
                value.len(),
                self.max_key_size_bytes,
                self.max_value_size_bytes
            )));
        }
        let Some(builder) = self.builder.as_mut() else {
            return Err(Error::internal(
                "ingest",
                "table writer used after a failure",
            ));
        };
        let key = Bytes::copy_from_slice(key);
        self.encoded_key.clear();
        InternalKey::new(key.clone(), 0, kind).encode_into(&mut self.encoded_key);
        builder.add(&self.encoded_key, value)?;
        if self.smallest_key.is_none() {
            self.smallest_key = Some(key.clone());
        }
        self.last_key = Some(key);
        Ok(())
    }

    /// Writes the table's meta blocks and footer, syncs it and moves it to
    /// its path (the directory synced). A table needs at least one entry or
    /// range deletion.
    pub fn finish(mut self) -> Result<TableWriterReport> {
        let tombstones = FragmentedTombstones::new(std::mem::take(&mut self.range_deletes));
        let entry_bounds = self.smallest_key.clone().zip(self.last_key.clone());
        let Some((smallest_key, largest_key)) = widest(entry_bounds, &tombstones) else {
            return Err(Error::invalid(
                "a table needs at least one entry or range deletion",
            ));
        };
        let Some(mut builder) = self.builder.take() else {
            return Err(Error::internal(
                "ingest",
                "table writer used after a failure",
            ));
        };
        if !tombstones.is_empty() {
            builder.set_range_tombstones(tombstones)?;
        }
        let staged = builder.path().to_path_buf();
        let fs = self.fs.as_ref();
        let meta = builder
            .finish()
            .map_err(Error::from)
            .and_then(|meta| {
                fs.rename(&staged, &self.path)
                    .map_err(|e| Error::io(&self.path, e))?;
                Ok(meta)
            })
            .inspect_err(|_| {
                // Best effort: the staging directory goes with the drop.
                let _ = fs.remove_file(&staged);
            })?;
        let parent = self.staging_dir.parent().unwrap_or(Path::new("."));
        fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
        fs.remove_dir(&self.staging_dir)
            .map_err(|e| Error::io(&self.staging_dir, e))?;
        Ok(TableWriterReport {
            path: self.path.clone(),
            entries: meta.entry_count,
            smallest_key,
            largest_key,
            file_size_bytes: meta.file_size_bytes,
        })
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if let Some(builder) = self.builder.take() {
            // Best effort: an unfinished file is never at `path`.
            let _ = builder.abandon();
        }
        let _ = self.fs.remove_dir(&self.staging_dir);
    }
}

/// The user keys from the smaller to the larger of `entry_bounds` and the
/// bounds of `tombstones` (`None` when both are empty).
fn widest(
    entry_bounds: Option<(Bytes, Bytes)>,
    tombstones: &FragmentedTombstones,
) -> Option<(Bytes, Bytes)> {
    let tombstone_bounds = tombstones
        .user_key_bounds()
        .map(|(start, end)| (Bytes::copy_from_slice(start), Bytes::copy_from_slice(end)));
    [entry_bounds, tombstone_bounds]
        .into_iter()
        .flatten()
        .reduce(|(s1, l1), (s2, l2)| (s1.min(s2), l1.max(l2)))
}

/// The table options of `options` (as the database's own tables use).
fn table_options(options: &DBOptions) -> TableOptions {
    TableOptions {
        block_size_bytes: options.block_size_bytes,
        compression: options.compression,
        bloom_bits_per_key: options.bloom_bits_per_key,
        ..TableOptions::default()
    }
}

/// A file to ingest, validated.
struct Checked {
    path: PathBuf,
    table: Arc<Table>,
    smallest: Bytes,
    largest: Bytes,
}

fn rejected(path: &Path, reason: impl ToString) -> Error {
    Error::IngestRejected {
        file: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Opens `path` as a table and checks it is one [`TableWriter`] wrote:
/// our format, checksums intact, every entry and range tombstone at
/// sequence 0, user keys strictly ascending. Its key range spans its
/// entries and range tombstones.
fn check_file(fs: &SharedFileSystem, options: &DBOptions, path: &Path) -> Result<Checked> {
    let table = Table::open(fs.as_ref(), path, 0, None).map_err(|e| rejected(path, e))?;
    table.verify_checksums().map_err(|e| rejected(path, e))?;
    if table
        .range_tombstones()
        .seq_bounds()
        .is_some_and(|bounds| bounds != (0, 0))
    {
        return Err(rejected(path, "range deletion not at sequence 0"));
    }
    let table = Arc::new(table);
    let mut iter = table.iter();
    iter.seek_to_first().map_err(|e| rejected(path, e))?;
    let mut smallest: Option<Bytes> = None;
    let mut previous: Option<Bytes> = None;
    while iter.valid() {
        let parsed = ParsedInternalKey::parse(iter.key()).map_err(|e| rejected(path, e))?;
        if parsed.seq != 0 {
            return Err(rejected(
                path,
                format!("entry at sequence {} (not 0)", parsed.seq),
            ));
        }
        match parsed.kind {
            ValueKind::Put | ValueKind::Delete => {}
            ValueKind::Merge if options.merge_operator.is_some() => {}
            ValueKind::Merge => {
                return Err(rejected(
                    path,
                    "holds merge operands and the database has no merge_operator",
                ));
            }
            ValueKind::ExpiringPut => return Err(rejected(path, "holds expiring puts")),
        }
        if previous.as_ref().is_some_and(|p| parsed.user_key <= &p[..]) {
            return Err(rejected(path, "keys not strictly ascending"));
        }
        let key = Bytes::copy_from_slice(parsed.user_key);
        smallest.get_or_insert_with(|| key.clone());
        previous = Some(key);
        iter.next().map_err(|e| rejected(path, e))?;
    }
    let Some((smallest, largest)) = widest(smallest.zip(previous), table.range_tombstones()) else {
        return Err(rejected(path, "holds no entry"));
    };
    Ok(Checked {
        path: path.to_path_buf(),
        table,
        smallest,
        largest,
    })
}

/// Refuses files whose key ranges meet.
fn check_disjoint(files: &[Checked]) -> Result<()> {
    let mut by_start: Vec<&Checked> = files.iter().collect();
    by_start.sort_by(|a, b| a.smallest.cmp(&b.smallest));
    for pair in by_start.windows(2) {
        if let [first, second] = pair {
            if second.smallest <= first.largest {
                return Err(Error::IngestOverlap {
                    file: second.path.clone(),
                    other: first.path.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Ingests the table files at `paths` (see [`crate::DB::ingest`]).
pub(crate) fn ingest(engine: &Engine, paths: &[PathBuf]) -> Result<IngestReport> {
    engine.refuse_read_only()?;
    let fs = Arc::clone(&engine.options().file_system);
    let files = paths
        .iter()
        .map(|path| check_file(&fs, engine.options(), path))
        .collect::<Result<Vec<_>>>()?;
    if files.is_empty() {
        engine.check_open()?;
        return Ok(IngestReport::default());
    }
    check_disjoint(&files)?;
    engine.with_writes_held(|seq| {
        // Reads look at the memtables first: none may hold older data the
        // ingested tables should shadow, nor range over their keys.
        engine.flush()?;
        let db = engine.job_context();
        let written = rewrite_all(&db, &files, seq)?;
        // From here on the tables stay even on failure: a failed manifest
        // write leaves the edit's fate unknown until the next open, which
        // deletes them if it was lost.
        place_and_install(&db, &files, &written, seq)
    })
}

/// Rewrites each file's entries at `seq` into new tables of the database
/// (cut at the target file size, synced with the directory); on failure
/// removes the tables it wrote (best effort: a crash leaves them
/// unreferenced, and the next open deletes them).
fn rewrite_all(
    db: &JobContext<'_>,
    files: &[Checked],
    seq: SeqNo,
) -> Result<Vec<Vec<Arc<TableMeta>>>> {
    let mut written: Vec<Vec<Arc<TableMeta>>> = Vec::with_capacity(files.len());
    let outcome = rewrite_each(db, files, seq, &mut written);
    if outcome.is_err() {
        for meta in written.iter().flatten() {
            let path = db
                .dir
                .path()
                .join(file_name(FileKind::Table, meta.file_number));
            let _ = db.fs.remove_file(&path);
        }
    }
    outcome.map(|()| written)
}

fn rewrite_each(
    db: &JobContext<'_>,
    files: &[Checked],
    seq: SeqNo,
    written: &mut Vec<Vec<Arc<TableMeta>>>,
) -> Result<()> {
    let version = Arc::clone(&db.tree().current().version);
    let mut context = db.executor_context();
    // Ingested data is written as given.
    context.compaction_filter = None;
    let new_file_number = || db.tree().new_file_number();
    for file in files {
        let mut entries = Restamped {
            inner: file.table.iter(),
            path: &file.path,
            seq,
            key: Vec::new(),
        };
        let tombstones = FragmentedTombstones::new(
            file.table
                .range_tombstones()
                .tombstones()
                .map(|t| RangeTombstone::new(t.start, t.end, seq)),
        );
        let input = seer_compaction::FlushInput {
            entries: &mut entries,
            entries_count: file.table.properties().entry_count,
            range_tombstones: &tombstones,
        };
        let result = seer_compaction::flush(
            input,
            &version,
            &context,
            db.options().target_file_size_bytes,
            Vec::new(),
            &new_file_number,
        )
        .map_err(|e| match Error::from(e) {
            Error::Corruption(c) => rejected(&file.path, c),
            other => other,
        })?;
        written.push(result.outputs);
    }
    Ok(())
}

/// Places each file's tables at the deepest level no table of it or above
/// meets, and logs them all in one edit whose last sequence number is
/// `seq`, while no compaction runs.
fn place_and_install(
    db: &JobContext<'_>,
    files: &[Checked],
    written: &[Vec<Arc<TableMeta>>],
    seq: SeqNo,
) -> Result<IngestReport> {
    let tables = written
        .iter()
        .flatten()
        .map(|meta| db.tree().open_table_file(meta))
        .collect::<Result<Vec<_>>>()?;
    while_no_compaction_runs(db, || {
        let version = Arc::clone(&db.tree().current().version);
        let mut edit = VersionEdit::new();
        let mut report = IngestReport {
            seq,
            ..IngestReport::default()
        };
        // One run per level for all the files placed there.
        let mut runs: Vec<(usize, u64)> = Vec::new();
        for (file, outputs) in files.iter().zip(written) {
            let level = deepest_free_level(&version, &file.smallest, &file.largest);
            let run_id = match runs.iter().find(|(l, _)| *l == level) {
                Some(&(_, run_id)) => run_id,
                None => {
                    let run_id = run_for(&version, level, || db.tree().new_file_number());
                    runs.push((level, run_id));
                    run_id
                }
            };
            for meta in outputs {
                edit.add_table(level, run_id, Arc::clone(meta));
                report.entries += meta.entry_count;
                report.table_bytes += meta.file_size_bytes;
            }
            report.levels.push(level);
        }
        edit.last_seq = Some(seq);
        db.tree().install(edit, tables)?;
        Ok(report)
    })
}

/// The deepest level such that no table of it or of any level above meets
/// `[start, end]`.
fn deepest_free_level(version: &Version, start: &[u8], end: &[u8]) -> usize {
    let mut deepest = 0;
    for (level, runs) in version.levels().iter().enumerate() {
        let meets = runs
            .runs()
            .iter()
            .any(|run| !run.overlapping_tables(start, end).is_empty());
        if meets {
            break;
        }
        deepest = level;
    }
    deepest
}

/// The run of `level` ingested tables join: below level 0, the level's
/// run when it has exactly one (a leveled level keeps one run); otherwise
/// a new run, newest of its level.
fn run_for(version: &Version, level: usize, new_run_id: impl FnOnce() -> u64) -> u64 {
    match version.levels().get(level).map(|l| l.runs()) {
        Some([only]) if level > 0 => only.run_id(),
        _ => new_run_id(),
    }
}

/// A table's entries with every sequence number replaced by `seq`.
struct Restamped<'a> {
    inner: seer_sstable::TableIterator,
    path: &'a Path,
    seq: SeqNo,
    key: Vec<u8>,
}

impl Restamped<'_> {
    fn restamp(&mut self) -> Result<(), seer_compaction::Error> {
        self.key.clear();
        if self.inner.valid() {
            let parsed = ParsedInternalKey::parse(self.inner.key())
                .map_err(|e| Corruption::new(self.path, 0, e.to_string()))?;
            InternalKey::new(
                Bytes::copy_from_slice(parsed.user_key),
                self.seq,
                parsed.kind,
            )
            .encode_into(&mut self.key);
        }
        Ok(())
    }
}

impl InternalIterator for Restamped<'_> {
    type Error = seer_compaction::Error;

    fn valid(&self) -> bool {
        self.inner.valid()
    }

    fn key(&self) -> &[u8] {
        &self.key
    }

    fn value(&self) -> &Bytes {
        self.inner.value()
    }

    fn seek_to_first(&mut self) -> Result<(), Self::Error> {
        self.inner.seek_to_first()?;
        self.restamp()
    }

    fn seek_to_last(&mut self) -> Result<(), Self::Error> {
        self.inner.seek_to_last()?;
        self.restamp()
    }

    fn seek(&mut self, target: &[u8]) -> Result<(), Self::Error> {
        self.inner.seek(target)?;
        self.restamp()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Self::Error> {
        self.inner.seek_for_prev(target)?;
        self.restamp()
    }

    fn next(&mut self) -> Result<(), Self::Error> {
        self.inner.next()?;
        self.restamp()
    }

    fn prev(&mut self) -> Result<(), Self::Error> {
        self.inner.prev()?;
        self.restamp()
    }
}
