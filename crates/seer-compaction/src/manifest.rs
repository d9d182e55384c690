//! The manifest: a log of [`VersionEdit`]s in seer-log's checksummed framing
//! (a `LogKind::Manifest` log header, then one frame per edit), and the
//! `CURRENT` file naming the live manifest.
//!
//! `CURRENT` names the manifest and carries a format version and a
//! checksum ([`encode_current`]); it is replaced atomically: the new
//! contents go to a temporary file, which is synced, renamed over
//! `CURRENT`, and the directory synced.
//! Replay applies every edit to an empty version; a torn final frame (a
//! crash during the last append) is dropped, any other damage, including a
//! whole frame that does not decode or apply, is an error. [`verify`]
//! checks a directory's `CURRENT`, its manifest and the presence of every
//! table the manifest references.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use seer_core::filename::{file_name, parse_file_name, CURRENT_FILE_NAME};
use seer_core::{FileKind, FileSystem, SeqNo};
use seer_log::{LogEnd, LogHeader, LogKind, LogReader, LogWriter, RecoveryMode};

use crate::edit::VersionEdit;
use crate::error::{Error, Result};
use crate::policy::PolicyParams;
use crate::version::{EditError, Version};

/// An open manifest being appended to.
#[derive(Debug)]
pub struct ManifestWriter {
    writer: LogWriter,
    file_number: u64,
}

impl ManifestWriter {
    /// Creates manifest `file_number` in `dir` holding `snapshot` as its first
    /// edit, synced. `CURRENT` is not touched.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        file_number: u64,
        snapshot: &VersionEdit,
    ) -> Result<Self> {
        let path = dir.join(file_name(FileKind::Manifest, file_number));
        let header = LogHeader {
            kind: LogKind::Manifest,
            file_number,
        };
        let mut writer = LogWriter::create(fs, &path, header)?;
        writer.add_frame(&snapshot.encode())?;
        writer.sync()?;
        Ok(Self {
            writer,
            file_number,
        })
    }

    /// Appends `edit` and syncs it.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        self.writer.add_frame(&edit.encode())?;
        self.writer.sync()?;
        Ok(())
    }

    /// The manifest's file number.
    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    /// The manifest's length in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.writer.len_bytes()
    }
}

/// The version of the `CURRENT` format written by this code.
pub const CURRENT_FORMAT_VERSION: u32 = 1;

/// The bytes of a `CURRENT` naming manifest `manifest_number`: the
/// manifest's file name and `\n`, then `v<format version> <checksum>\n`,
/// the checksum (xxh3-64, 16 hex digits) covering the first line with its
/// newline.
pub fn encode_current(manifest_number: u64) -> String {
    let name_line = format!("{}\n", file_name(FileKind::Manifest, manifest_number));
    let checksum = seer_core::checksum(name_line.as_bytes());
    format!("{name_line}v{CURRENT_FORMAT_VERSION} {checksum:016x}\n")
}

/// Writes a fresh manifest holding `state` in `dir` and points `CURRENT`
/// at it: the manifest takes file number `state.next_file_number`, the
/// temporary file of the `CURRENT` swap the next one, and
/// `state.next_file_number` moves past both (the manifest records that).
/// An open starts its manifest this way; so does a checkpoint or a backup,
/// in another directory, from a copy of the live state.
pub fn create_live(
    fs: &dyn FileSystem,
    dir: &Path,
    state: &mut ManifestState,
) -> Result<ManifestWriter> {
    let manifest_number = state.next_file_number;
    let temp_number = manifest_number + 1;
    state.next_file_number = temp_number + 1;
    let manifest = ManifestWriter::create(fs, dir, manifest_number, &state.snapshot_edit())?;
    set_current(fs, dir, manifest_number, temp_number)?;
    Ok(manifest)
}

/// The manifest number a `CURRENT` file of `bytes` names; `path` names the
/// file in errors. Bytes without `CURRENT`'s two lines are
/// [`Error::NotADatabase`] (not a seerdb file); a known shape with an
/// unknown version, a wrong checksum or no manifest name is
/// [`Error::Corruption`].
pub fn decode_current(path: &Path, bytes: &[u8]) -> Result<u64> {
    let not_current = || Error::NotADatabase {
        file: path.to_path_buf(),
        reason: "it is not a seerdb CURRENT file (a manifest name and a checksum line)".to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| not_current())?;
    let Some((name, check_line)) = text
        .strip_suffix('\n')
        .and_then(|body| body.split_once('\n'))
    else {
        return Err(not_current());
    };
    let check_offset = name.len() as u64 + 1;
    let Some((version, checksum)) = check_line
        .strip_prefix('v')
        .and_then(|rest| rest.split_once(' '))
    else {
        return Err(not_current());
    };
    if version != CURRENT_FORMAT_VERSION.to_string() {
        return Err(Error::corruption(
            path,
            check_offset,
            format!("unknown CURRENT format version {version:?}"),
        ));
    }
    let expected = seer_core::checksum(&bytes[..check_offset as usize]);
    if checksum != format!("{expected:016x}") {
        return Err(Error::corruption(
            path,
            check_offset,
            format!("checksum {checksum:?} does not match the manifest name {name:?}"),
        ));
    }
    match parse_file_name(name) {
        Some((FileKind::Manifest, number)) => Ok(number),
        _ => Err(Error::corruption(
            path,
            0,
            format!("{name:?} is not a manifest name"),
        )),
    }
}

/// Points `CURRENT` at manifest `manifest_number`, through temporary file
/// `temp_number`: write, sync, rename, sync the directory.
pub fn set_current(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest_number: u64,
    temp_number: u64,
) -> Result<()> {
    let temp = dir.join(file_name(FileKind::Temp, temp_number));
    let current = dir.join(CURRENT_FILE_NAME);
    let contents = encode_current(manifest_number);
    let mut file = fs.create(&temp).map_err(|e| Error::io(&temp, e))?;
    file.append(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&temp, e))?;
    drop(file);
    fs.rename(&temp, &current)
        .map_err(|e| Error::io(&current, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// The manifest number `CURRENT` names, or `None` without a `CURRENT`.
/// The one reader of `CURRENT` (see [`decode_current`]); it also checks
/// that the manifest exists ([`Error::NotADatabase`] naming it otherwise).
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<u64>> {
    let current = dir.join(CURRENT_FILE_NAME);
    if !fs.exists(&current).map_err(|e| Error::io(&current, e))? {
        return Ok(None);
    }
    let bytes = fs.read(&current).map_err(|e| Error::io(&current, e))?;
    let number = decode_current(&current, &bytes)?;
    let manifest = dir.join(file_name(FileKind::Manifest, number));
    if !fs.exists(&manifest).map_err(|e| Error::io(&manifest, e))? {
        return Err(Error::NotADatabase {
            file: current,
            reason: format!("it names {}, which does not exist", manifest.display()),
        });
    }
    Ok(Some(number))
}

/// Everything a manifest records, folded over its edits.
#[derive(Debug, Clone)]
pub struct ManifestState {
    /// The last committed version.
    pub version: Arc<Version>,
    /// WAL segments below this number are obsolete.
    pub log_number: u64,
    /// The next unused file number (as recorded).
    pub next_file_number: u64,
    /// The largest sequence number durable in tables.
    pub last_seq: SeqNo,
    /// The compaction policy in force.
    pub policy: Option<PolicyParams>,
    /// The merge operator's name.
    pub merge_operator_name: Option<String>,
    /// The live named keyspaces, by id (the default keyspace, id 0, is not
    /// listed).
    pub keyspaces: BTreeMap<u32, String>,
    /// The next unused keyspace id (1 in a database that made none).
    pub next_keyspace_id: u32,
    /// Edits replayed.
    pub edits_count: usize,
    /// Bytes of a torn final edit that were dropped (0 when none).
    pub dropped_tail_bytes: u64,
}

impl ManifestState {
    /// The state of a new database with `levels_count` levels.
    pub fn empty(levels_count: usize) -> Self {
        Self {
            version: Arc::new(Version::empty(levels_count)),
            log_number: 0,
            next_file_number: 1,
            last_seq: 0,
            policy: None,
            merge_operator_name: None,
            keyspaces: BTreeMap::new(),
            next_keyspace_id: 1,
            edits_count: 0,
            dropped_tail_bytes: 0,
        }
    }

    /// Folds `edit` into the state.
    pub fn apply(&mut self, edit: &VersionEdit) -> Result<()> {
        self.version = Arc::new(self.version.apply(edit)?);
        if let Some(log_number) = edit.log_number {
            self.log_number = log_number;
        }
        if let Some(next) = edit.next_file_number {
            self.next_file_number = next;
        }
        if let Some(last_seq) = edit.last_seq {
            self.last_seq = last_seq;
        }
        if edit.policy.is_some() {
            self.policy = edit.policy;
        }
        if edit.merge_operator_name.is_some() {
            self.merge_operator_name
                .clone_from(&edit.merge_operator_name);
        }
        for (id, name) in &edit.created_keyspaces {
            if *id == 0
                || self.keyspaces.contains_key(id)
                || self.keyspaces.values().any(|live| live == name)
            {
                return Err(Error::Edit(EditError::KeyspaceClash {
                    id: *id,
                    name: name.clone(),
                }));
            }
            self.keyspaces.insert(*id, name.clone());
            self.next_keyspace_id = self.next_keyspace_id.max(id.saturating_add(1));
        }
        for id in &edit.dropped_keyspaces {
            self.keyspaces.remove(id);
        }
        if let Some(next) = edit.next_keyspace_id {
            self.next_keyspace_id = self.next_keyspace_id.max(next);
        }
        self.edits_count += 1;
        Ok(())
    }

    /// One edit that rebuilds this state from an empty database.
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut edit = self.version.snapshot_edit();
        edit.log_number = Some(self.log_number);
        edit.next_file_number = Some(self.next_file_number);
        edit.last_seq = Some(self.last_seq);
        edit.policy = self.policy;
        edit.merge_operator_name
            .clone_from(&self.merge_operator_name);
        edit.created_keyspaces = self
            .keyspaces
            .iter()
            .map(|(id, name)| (*id, name.clone()))
            .collect();
        if self.next_keyspace_id > 1 {
            edit.next_keyspace_id = Some(self.next_keyspace_id);
        }
        edit
    }
}

/// Replays manifest `manifest_number` of `dir` onto an empty tree of
/// `levels_count` levels.
pub fn replay(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest_number: u64,
    levels_count: usize,
) -> Result<ManifestState> {
    let path: PathBuf = dir.join(file_name(FileKind::Manifest, manifest_number));
    let bytes = fs.read(&path).map_err(|e| Error::io(&path, e))?;
    replay_bytes(path, Bytes::from(bytes), levels_count)
}

/// Replays the manifest bytes `bytes`; `path` names them in errors.
pub fn replay_bytes(path: PathBuf, bytes: Bytes, levels_count: usize) -> Result<ManifestState> {
    let file_bytes = bytes.len() as u64;
    let mut reader = LogReader::from_bytes(
        path.clone(),
        bytes,
        LogKind::Manifest,
        RecoveryMode::TolerateCorruptedTail,
    )?;
    let mut state = ManifestState::empty(levels_count);
    while let Some(frame) = reader.next_frame()? {
        let applied = VersionEdit::decode(&frame.payload)
            .map_err(|e| e.to_string())
            .and_then(|edit| state.apply(&edit).map_err(|e| e.to_string()));
        if let Err(detail) = applied {
            return Err(Error::corruption(&path, frame.offset, detail));
        }
    }
    if state.edits_count == 0 {
        return Err(Error::corruption(&path, 0, "the manifest holds no edit"));
    }
    if let Some(LogEnd::TornTail { offset }) = reader.end() {
        state.dropped_tail_bytes = file_bytes.saturating_sub(*offset);
    }
    Ok(state)
}

/// What [`verify`] found in an intact database directory.
#[derive(Debug, Clone)]
pub struct ManifestVerification {
    /// The `CURRENT` file.
    pub current_path: PathBuf,
    /// The manifest it names.
    pub manifest_path: PathBuf,
    /// That manifest's number.
    pub manifest_number: u64,
    /// The manifest's length in bytes.
    pub manifest_bytes: u64,
    /// The state its edits replay to (edits, a dropped torn tail, the
    /// version and the first live WAL segment).
    pub state: ManifestState,
    /// Tables the version references, each present at its recorded size.
    pub tables_count: usize,
}

/// Verifies the manifest of `dir`: `CURRENT` (through [`read_current`]),
/// the replay of every edit of the manifest it names onto an empty tree of
/// `levels_count` levels (a torn final edit is dropped, as on open), and
/// every table the resulting version references: present, at the size the
/// manifest records. The tables' contents are the table layer's to check.
///
/// The error names its file: `CURRENT` ([`Error::NotADatabase`] when it is
/// missing, is not a seerdb `CURRENT` or names a missing manifest), the
/// manifest ([`Error::Corruption`] at the damaged edit's offset), or a
/// table ([`Error::Io`] when it is missing, [`Error::Corruption`] at the
/// recorded end when its size differs).
pub fn verify(
    fs: &dyn FileSystem,
    dir: &Path,
    levels_count: usize,
) -> Result<ManifestVerification> {
    let current_path = dir.join(CURRENT_FILE_NAME);
    let manifest_number = read_current(fs, dir)?.ok_or_else(|| Error::NotADatabase {
        file: current_path.clone(),
        reason: "it is missing".to_owned(),
    })?;
    let manifest_path = dir.join(file_name(FileKind::Manifest, manifest_number));
    let bytes = fs
        .read(&manifest_path)
        .map_err(|e| Error::io(&manifest_path, e))?;
    let manifest_bytes = bytes.len() as u64;
    let state = replay_bytes(manifest_path.clone(), Bytes::from(bytes), levels_count)?;
    let mut tables_count = 0;
    for (_, table) in state.version.tables() {
        let path = dir.join(file_name(FileKind::Table, table.file_number));
        let size_bytes = fs.file_size(&path).map_err(|e| Error::io(&path, e))?;
        if size_bytes != table.file_size_bytes {
            return Err(Error::corruption(
                &path,
                size_bytes.min(table.file_size_bytes),
                format!(
                    "the table is {size_bytes} bytes, {} records {}",
                    manifest_path.display(),
                    table.file_size_bytes
                ),
            ));
        }
        tables_count += 1;
    }
    Ok(ManifestVerification {
        current_path,
        manifest_path,
        manifest_number,
        manifest_bytes,
        state,
        tables_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11, defect 18: `CURRENT` carries a checksum, so a damaged one
    /// is a typed error naming it, never another manifest.
    #[test]
    fn a_damaged_current_is_an_error_naming_it_never_another_manifest() {
        let path = Path::new("/db/CURRENT");
        let bytes = encode_current(12).into_bytes();
        assert_eq!(decode_current(path, &bytes).unwrap(), 12);
        assert!(String::from_utf8_lossy(&bytes).starts_with("MANIFEST-"));
        for index in 0..bytes.len() {
            for flip in [1u8, 0x20, 0x80] {
                let mut damaged = bytes.clone();
                damaged[index] ^= flip;
                match decode_current(path, &damaged) {
                    Err(
                        Error::Corruption(seer_core::Corruption { file, .. })
                        | Error::NotADatabase { file, .. },
                    ) => {
                        assert_eq!(file, path);
                    }
                    other => panic!("byte {index} ^ {flip:#x}: {other:?}"),
                }
            }
        }
        for short in 0..bytes.len() {
            assert!(
                decode_current(path, &bytes[..short]).is_err(),
                "cut at {short}"
            );
        }
        // The checksum-less form of earlier versions is not a seerdb CURRENT.
        assert!(matches!(
            decode_current(path, b"MANIFEST-000012\n"),
            Err(Error::NotADatabase { .. })
        ));
        let name_bytes = file_name(FileKind::Manifest, 12).len() as u64 + 1;
        let unknown_version = String::from_utf8(bytes).unwrap().replace("\nv1 ", "\nv2 ");
        match decode_current(path, unknown_version.as_bytes()) {
            Err(Error::Corruption(seer_core::Corruption { offset, .. })) => {
                assert_eq!(offset, name_bytes)
            }
            other => panic!("{other:?}"),
        }
    }
}
