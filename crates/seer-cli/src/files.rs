//! The inspection commands that read files alone, without opening the
//! database or taking its lock: `seer manifest` (every version edit),
//! `seer wal` (every record with its sequence numbers) and `seer table`
//! (properties, layout, index, filter, range tombstones, entries,
//! `--verify`). They read
//! through the layers' read-only inspection APIs
//! ([`seer_compaction::ManifestInspector`],
//! [`seer_wal::SegmentInspector`], [`seer_sstable::Table`]) and only render
//! here. Files are named by their file names, never their full paths, so a
//! dump reads the same wherever the database lives.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use seer_compaction::{ManifestInspector, VersionEdit};
use seer_core::filename::{file_name, parse_file_name};
use seer_core::{FileKind, FileSystem, InternalIterator, ParsedInternalKey, RealFileSystem};
use seer_log::{LogEnd, SkippedRange};
use seer_sstable::{BlockHandle, Table, TableMeta, TableProperties};
use seer_wal::{SegmentInspector, WriteOp};

use crate::error::{existing, file_error, CliError, Outcome};
use crate::format::{file_label, ByteFormat};
use crate::progress::Progress;

/// How keys and values are printed in a dump.
#[derive(Debug, Clone, Copy)]
pub struct DumpFormats {
    /// Keys.
    pub key: ByteFormat,
    /// Values and merge operands.
    pub value: ByteFormat,
}

impl DumpFormats {
    fn internal_key(&self, encoded: &[u8]) -> String {
        match ParsedInternalKey::parse(encoded) {
            Ok(key) => format!(
                "{}#{},{}",
                self.key.render(key.user_key),
                key.seq,
                kind_name(key.kind)
            ),
            Err(error) => format!(
                "<bad internal key {}: {error}>",
                ByteFormat::Hex.render(encoded)
            ),
        }
    }
}

/// `seer manifest PATH`: the manifest `CURRENT` names when `path` is a
/// database directory, else the manifest file `path`.
pub fn manifest(
    path: &Path,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let path = existing(path)?;
    let file = if path.is_dir() {
        let number = seer_compaction::manifest::read_current(&RealFileSystem, &path)
            .map_err(|e| file_error(&path, &e))?
            .ok_or_else(|| {
                CliError::new(format!(
                    "{} is not a seerdb database: it has no CURRENT file",
                    path.display()
                ))
            })?;
        path.join(file_name(FileKind::Manifest, number))
    } else {
        path
    };
    let mut inspector =
        ManifestInspector::open(&RealFileSystem, &file).map_err(|e| file_error(&file, &e))?;
    refuse_headerless(
        &file,
        inspector.log().header().is_some(),
        FileKind::Manifest,
        "manifest",
    )?;
    writeln!(
        out,
        "manifest {} ({} bytes)",
        file_label(&file),
        inspector.log().len_bytes()
    )?;
    let mut edits_count = 0;
    while let Some(read) = inspector.next_edit().map_err(|e| file_error(&file, &e))? {
        edits_count += 1;
        writeln!(out, "edit {edits_count} @{}", read.offset)?;
        write_edit(&read.edit, formats, out)?;
    }
    write_end(out, inspector.log().end(), edits_count, "edits")?;
    write_damage(out, inspector.damage())
}

fn write_edit(
    edit: &VersionEdit,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let fields = [
        ("log_number", edit.log_number),
        ("next_file_number", edit.next_file_number),
        ("last_seq", edit.last_seq),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            writeln!(out, "  {name} {value}")?;
        }
    }
    if let Some(policy) = edit.policy {
        writeln!(out, "  policy {policy}")?;
    }
    if let Some(name) = &edit.merge_operator_name {
        writeln!(out, "  merge_operator {name:?}")?;
    }
    for removed in &edit.removed_tables {
        writeln!(out, "  remove L{} #{}", removed.level, removed.file_number)?;
    }
    for added in &edit.added_tables {
        writeln!(
            out,
            "  add L{} run {} {}",
            added.level,
            added.run_id,
            table_meta(&added.meta, formats)
        )?;
    }
    Ok(())
}

fn table_meta(meta: &TableMeta, formats: DumpFormats) -> String {
    format!(
        "#{} {}..{} seq={}..{} entries={} tombstones={} merges={} size={}",
        meta.file_number,
        formats.internal_key(&meta.smallest.encode()),
        formats.internal_key(&meta.largest.encode()),
        meta.smallest_seq,
        meta.largest_seq,
        meta.entry_count,
        meta.tombstone_count,
        meta.merge_count,
        meta.file_size_bytes
    )
}

/// `seer wal PATH`: every segment of the database directory `path` in
/// number order, or the one segment file `path`.
pub fn wal(path: &Path, formats: DumpFormats, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let path = existing(path)?;
    let segments: Vec<PathBuf> = if path.is_dir() {
        seer_wal::list_segments(&RealFileSystem, &path)
            .map_err(|e| file_error(&path, &e))?
            .into_iter()
            .map(|number| seer_wal::segment_path(&path, number))
            .collect()
    } else {
        vec![path]
    };
    if segments.is_empty() {
        writeln!(out, "no WAL segments")?;
    }
    let mut outcome = Outcome::Ok;
    for segment in &segments {
        if wal_segment(segment, formats, out)? == Outcome::Negative {
            outcome = Outcome::Negative;
        }
    }
    Ok(outcome)
}

fn wal_segment(
    file: &Path,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let mut inspector =
        SegmentInspector::open(&RealFileSystem, file).map_err(|e| file_error(file, &e))?;
    refuse_headerless(
        file,
        inspector.log().header().is_some(),
        FileKind::Wal,
        "WAL segment",
    )?;
    writeln!(
        out,
        "segment {} ({} bytes)",
        file_label(file),
        inspector.log().len_bytes()
    )?;
    let mut records_count = 0;
    while let Some(read) = inspector.next_record().map_err(|e| file_error(file, &e))? {
        records_count += 1;
        let record = read.record;
        let (first_seq, last_seq) = (record.first_seq(), record.last_seq());
        let (_, write) = record.into_write();
        let ops = write.ops();
        if let [op] = ops {
            writeln!(
                out,
                "  @{} seq {first_seq} {}",
                read.offset,
                write_op(op, formats)
            )?;
            continue;
        }
        writeln!(
            out,
            "  @{} seq {first_seq}..{last_seq} batch of {}",
            read.offset,
            ops.len()
        )?;
        for (seq, op) in (first_seq..).zip(ops) {
            writeln!(out, "    seq {seq} {}", write_op(op, formats))?;
        }
    }
    if let Some(predecessor) = inspector.predecessor() {
        writeln!(
            out,
            "  follows segment {} ({} bytes, last seq {})",
            predecessor.segment, predecessor.length_bytes, predecessor.last_seq
        )?;
    }
    write_end(out, inspector.log().end(), records_count, "records")?;
    write_damage(out, &inspector.damage())
}

fn write_op(op: &WriteOp, formats: DumpFormats) -> String {
    match op {
        WriteOp::Put { key, value } => format!(
            "put {} = {}",
            formats.key.render(key),
            formats.value.render(value)
        ),
        WriteOp::Delete { key } => format!("delete {}", formats.key.render(key)),
        WriteOp::Merge { key, operand } => format!(
            "merge {} += {}",
            formats.key.render(key),
            formats.value.render(operand)
        ),
        WriteOp::DeleteRange { start, end } => format!(
            "delete_range {}..{}",
            formats.key.render(start),
            formats.key.render(end)
        ),
        WriteOp::ExpiringPut { key, stored } => format!(
            "put {} = {}",
            formats.key.render(key),
            expiring_value(stored, formats)
        ),
    }
}

/// An expiring put's stored value as dumps print it: `VALUE expires MS`
/// (the absolute expiry in Unix milliseconds).
fn expiring_value(stored: &bytes::Bytes, formats: DumpFormats) -> String {
    match seer_core::expiry::split_expiring(stored) {
        Ok((expiry_unix_ms, value)) => {
            format!("{} expires {expiry_unix_ms}", formats.value.render(&value))
        }
        Err(error) => format!(
            "<bad expiring value {}: {error}>",
            ByteFormat::Hex.render(stored)
        ),
    }
}

/// A file without a log header is a log torn at its creation only when
/// its name says it is one; otherwise it is some other file.
fn refuse_headerless(
    file: &Path,
    has_header: bool,
    kind: FileKind,
    what: &str,
) -> Result<(), CliError> {
    if has_header || file_number(file, kind).is_some() {
        return Ok(());
    }
    Err(CliError::new(format!(
        "{} is not a {what}: it has no seerdb log header",
        file.display()
    )))
}

/// The number in `file`'s name when it names a file of `kind`.
fn file_number(file: &Path, kind: FileKind) -> Option<u64> {
    let name = file.file_name()?.to_string_lossy().into_owned();
    match parse_file_name(&name) {
        Some((named, number)) if named == kind => Some(number),
        _ => None,
    }
}

/// How a log ended, after `count` `what`s.
fn write_end(
    out: &mut dyn Write,
    end: Option<&LogEnd>,
    count: u64,
    what: &str,
) -> Result<(), CliError> {
    match end {
        Some(LogEnd::TornTail { offset }) => writeln!(
            out,
            "end: torn tail at byte {offset} after {count} {what} (a write cut short by a \
             crash; recovery drops it, not damage)"
        )?,
        Some(LogEnd::Reserved { offset }) => writeln!(
            out,
            "end: clean after {count} {what}; preallocated zeros from byte {offset}"
        )?,
        Some(LogEnd::Stopped { offset, detail }) => writeln!(
            out,
            "end: stopped at byte {offset} after {count} {what}: {detail}"
        )?,
        Some(LogEnd::Clean) | None => writeln!(out, "end: clean after {count} {what}")?,
    }
    Ok(())
}

/// Every damaged range; [`Outcome::Negative`] when there is one.
fn write_damage(out: &mut dyn Write, damage: &[SkippedRange]) -> Result<Outcome, CliError> {
    for range in damage {
        writeln!(
            out,
            "DAMAGED bytes {}..{} of {}: {}",
            range.start,
            range.end,
            file_label(&range.file),
            range.detail
        )?;
    }
    Ok(Outcome::damaged_if(!damage.is_empty()))
}

/// What `seer table` prints besides the properties.
#[derive(Debug, Clone, Copy)]
pub struct TableSections {
    /// The index entries and block layout.
    pub index: bool,
    /// Every entry.
    pub entries: bool,
    /// Check every block's checksum.
    pub verify: bool,
}

/// `seer table FILE`.
pub fn table(
    file: &Path,
    sections: TableSections,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let file = existing(file)?;
    let number = file_number(&file, FileKind::Table).unwrap_or(0);
    let fs: &dyn FileSystem = &RealFileSystem;
    let table = match Table::open(fs, &file, number, None) {
        Ok(table) => Arc::new(table),
        // A table too damaged to open is what --verify looks for.
        Err(error @ seer_sstable::Error::Corruption { .. }) if sections.verify => {
            writeln!(out, "DAMAGED {}", error_in(&file, &error))?;
            return Ok(Outcome::Negative);
        }
        Err(error) => return Err(file_error(&file, &error)),
    };
    writeln!(
        out,
        "table {} ({} bytes)",
        file_label(&file),
        table.file_size_bytes()
    )?;
    write_properties(table.properties(), formats, out)?;
    let filter = table.filter_info();
    writeln!(
        out,
        "filter: {} bytes, {} probes",
        filter.bits_bytes, filter.probes_count
    )?;
    if sections.index {
        write_index(&table, formats, out)?;
    }
    write_range_tombstones(&table, formats, out)?;
    if sections.entries {
        write_entries(&table, formats, out)?;
    }
    if !sections.verify {
        return Ok(Outcome::Ok);
    }
    let progress = Progress::spinner("verifying checksums");
    let verified = table.verify_checksums();
    progress.finish();
    match verified {
        Ok(()) => {
            writeln!(out, "verify: every block's checksum is intact")?;
            Ok(Outcome::Ok)
        }
        Err(error) => {
            writeln!(out, "DAMAGED {}", error_in(&file, &error))?;
            Ok(Outcome::Negative)
        }
    }
}

fn write_properties(
    properties: &TableProperties,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(out, "properties:")?;
    let counts = [
        ("entries", properties.entry_count),
        ("tombstones", properties.tombstone_count),
        ("merges", properties.merge_count),
        ("raw_key_bytes", properties.raw_key_bytes),
        ("raw_value_bytes", properties.raw_value_bytes),
        ("smallest_seq", properties.smallest_seq),
        ("largest_seq", properties.largest_seq),
        ("data_blocks", properties.data_block_count),
        ("data_bytes", properties.data_bytes),
        ("filter_keys", properties.filter_key_count),
        (
            "bloom_bits_per_key",
            u64::from(properties.bloom_bits_per_key),
        ),
    ];
    for (name, value) in counts {
        writeln!(out, "  {name} {value}")?;
    }
    writeln!(
        out,
        "  smallest {}",
        formats.internal_key(&properties.smallest.encode())
    )?;
    writeln!(
        out,
        "  largest {}",
        formats.internal_key(&properties.largest.encode())
    )?;
    writeln!(out, "  compression {:?}", properties.compression)?;
    match properties.creation_level {
        Some(level) => writeln!(out, "  creation_level L{level}")?,
        None => writeln!(out, "  creation_level unknown")?,
    }
    writeln!(out, "  creation_policy {:?}", properties.creation_policy)?;
    if let Some(expiry) = properties.earliest_expiry_unix_ms {
        writeln!(out, "  earliest_expiry_unix_ms {expiry}")?;
    }
    Ok(())
}

fn write_index(table: &Table, formats: DumpFormats, out: &mut dyn Write) -> Result<(), CliError> {
    let layout = table.layout().map_err(|e| file_error(table.path(), &e))?;
    writeln!(out, "layout:")?;
    if let Some(handle) = layout.range_tombstones {
        writeln!(out, "  range tombstone block {}", block(handle))?;
    }
    for (what, handle) in [
        ("filter", layout.filter),
        ("properties", layout.properties),
        ("index", layout.index),
    ] {
        writeln!(out, "  {what} block {}", block(handle))?;
    }
    writeln!(out, "index: {} data blocks", table.data_block_count())?;
    for (block_index, entry) in table.index_entries().enumerate() {
        writeln!(
            out,
            "  block {block_index} {} separator {}",
            block(entry.handle),
            formats.internal_key(entry.separator)
        )?;
    }
    Ok(())
}

/// Every range tombstone fragment: `[start, end)` and the sequence
/// numbers of the deletes covering it.
fn write_range_tombstones(
    table: &Table,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let fragments = table.range_tombstones().fragments();
    writeln!(out, "range tombstones: {} fragments", fragments.len())?;
    for fragment in fragments {
        let seqs: Vec<String> = fragment.seqs().iter().map(u64::to_string).collect();
        writeln!(
            out,
            "  [{}, {}) seq {}",
            formats.key.render(fragment.start()),
            formats.key.render(fragment.end()),
            seqs.join(",")
        )?;
    }
    Ok(())
}

fn block(handle: BlockHandle) -> String {
    format!("@{} {} bytes", handle.offset, handle.size_bytes)
}

fn write_entries(
    table: &Arc<Table>,
    formats: DumpFormats,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(out, "entries:")?;
    let progress = Progress::bar(table.properties().entry_count, "reading entries");
    let mut iter = table.iter();
    let fail = |error: seer_sstable::Error| file_error(table.path(), &error);
    iter.seek_to_first().map_err(fail)?;
    while iter.valid() {
        let key = formats.internal_key(iter.key());
        let kind = ParsedInternalKey::parse(iter.key()).map(|key| key.kind);
        if kind == Ok(seer_core::ValueKind::Delete) {
            writeln!(out, "  {key}")?;
        } else if kind == Ok(seer_core::ValueKind::ExpiringPut) {
            writeln!(out, "  {key} = {}", expiring_value(iter.value(), formats))?;
        } else {
            writeln!(out, "  {key} = {}", formats.value.render(iter.value()))?;
        }
        progress.step();
        iter.next().map_err(fail)?;
    }
    progress.finish();
    Ok(())
}

/// `error` of the table `file`, after the file's name.
fn error_in(file: &Path, error: &seer_sstable::Error) -> String {
    format!("{}: {}", file_label(file), file_error(file, error).message)
}

/// A value kind as dumps print it (`put`, `delete`, `merge`,
/// `expiringput`).
fn kind_name(kind: seer_core::ValueKind) -> String {
    format!("{kind:?}").to_lowercase()
}
