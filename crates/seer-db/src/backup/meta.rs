//! The backup metadata file, `meta/<id>`: which files make up one backup,
//! where the backup directory stores each and under which name a restore
//! puts it, with their sizes and checksums; a format version first and a
//! checksum of everything before it last (docs/FORMATS.md, "Backup
//! metadata").
//!
//! ```text
//! seerdb-backup 2
//! id 2
//! timestamp_ms 1764608400000
//! seq 81234
//! file shared/00000000000000000012-6105-9f0c2d4e5a6b7c8d.sst 00000000000000000012.sst 6105 9f0c2d4e5a6b7c8d
//! file private/00000000000000000002/CURRENT CURRENT 60 0123456789abcdef
//! checksum 5a6b7c8d9f0c2d4e
//! ```

use std::path::Path;

use seer_core::filename::parse_file_name;
use seer_core::{Corruption, SeqNo};

use seer_wal::KeyspaceId;

use crate::dir::KEYSPACES_DIR_NAME;
use crate::error::{Error, Result};

/// The version of the metadata format written by this code (2: file
/// names may lie in a named keyspace's directory, `keyspaces/<id>/`;
/// version 1 files, which never name one, are read too).
pub(crate) const BACKUP_META_FORMAT_VERSION: u32 = 2;

/// The oldest metadata format version this code reads.
const OLDEST_FORMAT_VERSION: u32 = 1;

const MAGIC: &str = "seerdb-backup";

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupFile {
    /// Where the backup directory holds it, relative to that directory:
    /// `shared/<table>` or `private/<id>/<name>`.
    pub stored: String,
    /// Its name in a restored database directory (a seerdb file name).
    pub name: String,
    /// Its length.
    pub size_bytes: u64,
    /// [`seer_core::checksum()`] of its content.
    pub checksum: u64,
}

/// What a metadata file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupMeta {
    /// The backup's id.
    pub id: u64,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// It holds exactly the writes up to this sequence number.
    pub seq: SeqNo,
    /// Every file of it.
    pub files: Vec<BackupFile>,
}

impl BackupMeta {
    /// The file's bytes.
    pub(crate) fn encode(&self) -> String {
        let mut text = format!(
            "{MAGIC} {BACKUP_META_FORMAT_VERSION}\nid {}\ntimestamp_ms {}\nseq {}\n",
            self.id, self.timestamp_ms, self.seq
        );
        for file in &self.files {
            text.push_str(&format!(
                "file {} {} {} {:016x}\n",
                file.stored, file.name, file.size_bytes, file.checksum
            ));
        }
        let checksum = seer_core::checksum(text.as_bytes());
        text.push_str(&format!("checksum {checksum:016x}\n"));
        text
    }

    /// Decodes the bytes of the metadata file at `path` (named in errors):
    /// a wrong checksum, an unknown version or a malformed line is a
    /// [`Error::Corruption`] at the offset of the line.
    pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Self> {
        let damaged = |offset: usize, detail: String| {
            Error::Corruption(Corruption::new(path, offset as u64, detail))
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| damaged(e.valid_up_to(), "not UTF-8 text".to_owned()))?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map_or(0, |newline| newline + 1);
        let (body, check_line) = text.split_at(body_end);
        let expected = seer_core::checksum(body.as_bytes());
        if check_line != format!("checksum {expected:016x}\n") {
            return Err(damaged(body_end, "the checksum does not match".to_owned()));
        }
        let mut lines = Lines {
            text: body,
            offset: 0,
        };
        let version = lines.field(MAGIC, &damaged)?;
        let known = (OLDEST_FORMAT_VERSION..=BACKUP_META_FORMAT_VERSION)
            .any(|known| version == known.to_string());
        if !known {
            return Err(damaged(0, format!("unknown format version {version:?}")));
        }
        let id = lines.number("id", &damaged)?;
        let timestamp_ms = lines.number("timestamp_ms", &damaged)?;
        let seq = lines.number("seq", &damaged)?;
        let mut files = Vec::new();
        while !lines.text.is_empty() {
            let offset = lines.offset;
            let line = lines.field("file", &damaged)?;
            files.push(parse_file(id, line).map_err(|detail| damaged(offset, detail))?);
        }
        Ok(Self {
            id,
            timestamp_ms,
            seq,
            files,
        })
    }
}

/// The lines of a metadata file's body, with the offset of the next.
struct Lines<'a> {
    text: &'a str,
    offset: usize,
}

impl<'a> Lines<'a> {
    /// The rest of the next line, which must start with `key` and a space.
    fn field(&mut self, key: &str, damaged: &impl Fn(usize, String) -> Error) -> Result<&'a str> {
        let (line, rest) = self.text.split_once('\n').unwrap_or((self.text, ""));
        let value = line
            .strip_prefix(key)
            .and_then(|value| value.strip_prefix(' '))
            .ok_or_else(|| damaged(self.offset, format!("expected a {key:?} line")))?;
        self.offset += line.len() + 1;
        self.text = rest;
        Ok(value)
    }

    fn number(&mut self, key: &str, damaged: &impl Fn(usize, String) -> Error) -> Result<u64> {
        let offset = self.offset;
        let value = self.field(key, damaged)?;
        value
            .parse()
            .map_err(|_| damaged(offset, format!("{key} {value:?} is not a number")))
    }
}

/// A `file` line's fields; the stored path must lie in the backup's own
/// private directory or in `shared/`, and the name must be a seerdb file
/// name (so a restore never writes outside its target).
fn parse_file(id: u64, line: &str) -> std::result::Result<BackupFile, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [stored, name, size, checksum] = fields[..] else {
        return Err(format!("a file line has four fields: {line:?}"));
    };
    let private = private_dir_name(id);
    let placed = match stored.split_once('/') {
        Some(("shared", file)) => !file.contains('/'),
        Some(("private", rest)) => rest
            .split_once('/')
            .is_some_and(|(dir, file)| dir == private && file == name),
        _ => false,
    };
    if !placed || stored.contains("..") {
        return Err(format!("{stored:?} is not a file of backup {id}"));
    }
    if !is_database_file_name(name) {
        return Err(format!("{name:?} is not a seerdb file name"));
    }
    Ok(BackupFile {
        stored: stored.to_owned(),
        name: name.to_owned(),
        size_bytes: size
            .parse()
            .map_err(|_| format!("size {size:?} is not a number"))?,
        checksum: u64::from_str_radix(checksum, 16)
            .map_err(|_| format!("checksum {checksum:?} is not hexadecimal"))?,
    })
}

/// A file's place in a database directory: a seerdb file name, or one in
/// a named keyspace's directory (`keyspaces/<id>/<name>`).
fn is_database_file_name(name: &str) -> bool {
    let file = match name.split_once('/') {
        None => name,
        Some((KEYSPACES_DIR_NAME, rest)) => match rest.split_once('/') {
            Some((id, file)) if id.parse::<KeyspaceId>().is_ok() && !file.contains('/') => file,
            _ => return false,
        },
        Some(_) => return false,
    };
    parse_file_name(file).is_some()
}

/// The name of backup `id`'s metadata file in `meta/` and of its private
/// directory in `private/`: the id in 20 digits, so names sort as ids.
pub(crate) fn private_dir_name(id: u64) -> String {
    format!("{id:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> BackupMeta {
        BackupMeta {
            id: 2,
            timestamp_ms: 1_764_608_400_000,
            seq: 81234,
            files: vec![
                BackupFile {
                    stored: "shared/00000000000000000012-6105-9f0c2d4e5a6b7c8d.sst".to_owned(),
                    name: "00000000000000000012.sst".to_owned(),
                    size_bytes: 6105,
                    checksum: 0x9f0c_2d4e_5a6b_7c8d,
                },
                BackupFile {
                    stored: "private/00000000000000000002/CURRENT".to_owned(),
                    name: "CURRENT".to_owned(),
                    size_bytes: 60,
                    checksum: 7,
                },
            ],
        }
    }

    #[test]
    fn backup_metadata_round_trips_and_every_flipped_byte_is_a_corruption_naming_it() {
        let path = Path::new("/backups/meta/00000000000000000002");
        let bytes = meta().encode().into_bytes();
        assert_eq!(BackupMeta::decode(path, &bytes).unwrap(), meta());
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x04;
            match BackupMeta::decode(path, &damaged) {
                Err(Error::Corruption(Corruption { file, .. })) => assert_eq!(file, path),
                other => panic!("byte {index}: {other:?}"),
            }
        }
        for cut in 0..bytes.len() {
            assert!(
                BackupMeta::decode(path, &bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_file_line_outside_the_backup_or_with_a_foreign_name_is_refused() {
        for (stored, name) in [
            ("private/00000000000000000003/CURRENT", "CURRENT"),
            ("shared/../x", "CURRENT"),
            ("elsewhere/x", "CURRENT"),
            ("shared/a/b", "CURRENT"),
            ("shared/x", "../CURRENT"),
            ("shared/x", "notes.txt"),
            ("shared/x", "keyspaces/x/CURRENT"),
            ("shared/x", "keyspaces/1/../CURRENT"),
            ("shared/x", "keyspaces/1/2/CURRENT"),
            ("shared/x", "other/1/CURRENT"),
            (
                "private/00000000000000000002/keyspaces/1/CURRENT",
                "CURRENT",
            ),
        ] {
            let line = format!("{stored} {name} 1 00");
            assert!(parse_file(2, &line).is_err(), "{line}");
        }
        for (stored, name) in [
            ("shared/x", "keyspaces/1/00000000000000000012.sst"),
            (
                "private/00000000000000000002/keyspaces/1/CURRENT",
                "keyspaces/1/CURRENT",
            ),
        ] {
            let line = format!("{stored} {name} 1 00");
            assert!(parse_file(2, &line).is_ok(), "{line}");
        }
    }

    #[test]
    fn version_1_metadata_is_still_read() {
        let path = Path::new("/backups/meta/00000000000000000002");
        let text = meta().encode();
        let body = text
            .replacen("seerdb-backup 2", "seerdb-backup 1", 1)
            .lines()
            .filter(|line| !line.starts_with("checksum"))
            .map(|line| format!("{line}\n"))
            .collect::<String>();
        let checksum = seer_core::checksum(body.as_bytes());
        let bytes = format!("{body}checksum {checksum:016x}\n").into_bytes();
        assert_eq!(BackupMeta::decode(path, &bytes).unwrap(), meta());
    }
}
