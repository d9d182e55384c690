//! The database's manifest file: a seer-wal log of
//! [`seer_compaction::VersionEdit`]s, named by `CURRENT`.
//!
//! seer-compaction owns the edit encoding and [`Version::apply`]; this module
//! only stores edits (it stands in until the compaction layer ships its own
//! manifest writer). Each open rewrites the whole state into a fresh
//! manifest, so a torn tail of the previous one is never appended to.
//! `CURRENT` is replaced by write-temp, sync, rename, sync-dir.

use std::path::{Path, PathBuf};

use seer_compaction::{PolicyParams, Version, VersionEdit};
use seer_core::filename::{file_name, parse_file_name, CURRENT_FILE_NAME};
use seer_core::{FileKind, FileSystem, SeqNo};
use seer_wal::{LogHeader, LogKind, LogReader, LogWriter, WalRecoveryMode};

use crate::error::{Error, Result};

/// The state a manifest describes besides the version.
#[derive(Debug, Clone, Default)]
pub(crate) struct ManifestState {
    /// WAL segments below this number are already in tables.
    pub log_number: u64,
    /// The next unused file number.
    pub next_file_number: u64,
    /// The largest sequence number recorded.
    pub last_seq: SeqNo,
    /// The compaction policy in force when last recorded.
    pub policy: Option<PolicyParams>,
    /// The merge operator the data was written with.
    pub merge_operator_name: Option<String>,
}

impl ManifestState {
    /// Folds the bookkeeping fields of `edit` in.
    pub(crate) fn absorb(&mut self, edit: &VersionEdit) {
        if let Some(log_number) = edit.log_number {
            self.log_number = self.log_number.max(log_number);
        }
        if let Some(next) = edit.next_file_number {
            self.next_file_number = self.next_file_number.max(next);
        }
        if let Some(seq) = edit.last_seq {
            self.last_seq = self.last_seq.max(seq);
        }
        if edit.policy.is_some() {
            self.policy = edit.policy;
        }
        if edit.merge_operator_name.is_some() {
            self.merge_operator_name
                .clone_from(&edit.merge_operator_name);
        }
    }

    /// An edit carrying every bookkeeping field.
    pub(crate) fn to_edit(&self) -> VersionEdit {
        let mut edit = VersionEdit::new();
        edit.log_number = Some(self.log_number);
        edit.next_file_number = Some(self.next_file_number);
        edit.last_seq = Some(self.last_seq);
        edit.policy = self.policy;
        edit.merge_operator_name
            .clone_from(&self.merge_operator_name);
        edit
    }
}

/// The open manifest, appended to by flushes and compactions.
#[derive(Debug)]
pub(crate) struct Manifest {
    writer: LogWriter,
    number: u64,
}

impl Manifest {
    /// Writes a new manifest `number` holding `version` and `state`, makes it
    /// durable and points `CURRENT` at it.
    pub(crate) fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        version: &Version,
        state: &ManifestState,
    ) -> Result<Self> {
        let path = dir.join(file_name(FileKind::Manifest, number));
        let header = LogHeader {
            kind: LogKind::Manifest,
            file_number: number,
        };
        let mut writer = LogWriter::create(fs, &path, header)?;
        let mut edit = version.snapshot_edit();
        let bookkeeping = state.to_edit();
        edit.log_number = bookkeeping.log_number;
        edit.next_file_number = bookkeeping.next_file_number;
        edit.last_seq = bookkeeping.last_seq;
        edit.policy = bookkeeping.policy;
        edit.merge_operator_name = bookkeeping.merge_operator_name;
        writer.add_frame(&edit.encode())?;
        writer.sync()?;
        set_current(fs, dir, number)?;
        Ok(Self { writer, number })
    }

    /// Appends `edit` and syncs it.
    pub(crate) fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        self.writer.add_frame(&edit.encode())?;
        self.writer.sync()?;
        Ok(())
    }

    /// This manifest's file number.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }
}

/// Reads the manifest `CURRENT` names: the version and the bookkeeping.
pub(crate) fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    levels_count: usize,
) -> Result<(Version, ManifestState)> {
    let current_path = dir.join(CURRENT_FILE_NAME);
    let current = fs
        .read(&current_path)
        .map_err(|e| Error::io(&current_path, e))?;
    let name = std::str::from_utf8(&current)
        .ok()
        .map(str::trim_end)
        .filter(|name| matches!(parse_file_name(name), Some((FileKind::Manifest, _))))
        .ok_or_else(|| Error::NotADatabase {
            path: dir.to_owned(),
            reason: "CURRENT does not name a seerdb manifest".to_owned(),
        })?;
    let path = dir.join(name);
    let mut reader = LogReader::open(
        fs,
        &path,
        LogKind::Manifest,
        WalRecoveryMode::TolerateCorruptedTail,
    )?;
    let mut version = Version::empty(levels_count);
    let mut state = ManifestState::default();
    while let Some(frame) = reader.next_frame()? {
        let edit = VersionEdit::decode(&frame.payload)
            .map_err(|e| corruption(&path, frame.offset, e.to_string()))?;
        version = version
            .apply(&edit)
            .map_err(|e| corruption(&path, frame.offset, e.to_string()))?;
        state.absorb(&edit);
    }
    Ok((version, state))
}

fn set_current(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<()> {
    let temp = dir.join(file_name(FileKind::Temp, number));
    let current = dir.join(CURRENT_FILE_NAME);
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |e| Error::io(path, e)
    };
    let mut file = fs.create(&temp).map_err(io(&temp))?;
    let content = format!("{}\n", file_name(FileKind::Manifest, number));
    file.append(content.as_bytes()).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    fs.rename(&temp, &current).map_err(io(&current))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

fn corruption(path: &Path, offset: u64, detail: String) -> Error {
    Error::Corruption {
        file: path.to_owned(),
        offset,
        detail,
    }
}
