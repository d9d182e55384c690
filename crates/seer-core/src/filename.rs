//! Names of the files in a seerdb directory.
//!
//! | kind | name |
//! |---|---|
//! | WAL segment | `NNNNNNNNNNNNNNNNNNNN.wal` (20-digit file number) |
//! | table | `NNNNNNNNNNNNNNNNNNNN.sst` |
//! | manifest | `MANIFEST-NNNNNNNNNNNNNNNNNNNN` |
//! | temporary file | `NNNNNNNNNNNNNNNNNNNN.tmp` |
//! | pointer to the live manifest | `CURRENT` |
//! | process lock | `LOCK` |
//!
//! File numbers come from one counter per database, so every name is unique.

/// What a file in the database directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A write-ahead log segment.
    Wal,
    /// A sorted table.
    Table,
    /// A manifest log.
    Manifest,
    /// A file being written before an atomic rename.
    Temp,
    /// The `CURRENT` pointer.
    Current,
    /// The `LOCK` file.
    Lock,
}

/// Name of the `CURRENT` file.
pub const CURRENT_FILE_NAME: &str = "CURRENT";
/// Name of the `LOCK` file.
pub const LOCK_FILE_NAME: &str = "LOCK";
const MANIFEST_PREFIX: &str = "MANIFEST-";

/// The name of file `number` of `kind`. `Current` and `Lock` ignore `number`.
pub fn file_name(kind: FileKind, number: u64) -> String {
    match kind {
        FileKind::Wal => format!("{number:020}.wal"),
        FileKind::Table => format!("{number:020}.sst"),
        FileKind::Temp => format!("{number:020}.tmp"),
        FileKind::Manifest => format!("{MANIFEST_PREFIX}{number:020}"),
        FileKind::Current => CURRENT_FILE_NAME.to_owned(),
        FileKind::Lock => LOCK_FILE_NAME.to_owned(),
    }
}

/// The kind and number of a file name, or `None` for a name seerdb does not
/// write. `Current` and `Lock` have number 0.
pub fn parse_file_name(name: &str) -> Option<(FileKind, u64)> {
    match name {
        CURRENT_FILE_NAME => return Some((FileKind::Current, 0)),
        LOCK_FILE_NAME => return Some((FileKind::Lock, 0)),
        _ => {}
    }
    if let Some(digits) = name.strip_prefix(MANIFEST_PREFIX) {
        return parse_number(digits).map(|n| (FileKind::Manifest, n));
    }
    let (stem, extension) = name.rsplit_once('.')?;
    let kind = match extension {
        "wal" => FileKind::Wal,
        "sst" => FileKind::Table,
        "tmp" => FileKind::Temp,
        _ => return None,
    };
    parse_number(stem).map(|n| (kind, n))
}

fn parse_number(digits: &str) -> Option<u64> {
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [
            FileKind::Wal,
            FileKind::Table,
            FileKind::Temp,
            FileKind::Manifest,
        ] {
            for number in [0, 7, u64::MAX / 2] {
                assert_eq!(
                    parse_file_name(&file_name(kind, number)),
                    Some((kind, number))
                );
            }
        }
        assert_eq!(parse_file_name("CURRENT"), Some((FileKind::Current, 0)));
        assert_eq!(parse_file_name("LOCK"), Some((FileKind::Lock, 0)));
        assert_eq!(parse_file_name("7.wal"), None);
        assert_eq!(parse_file_name("notes.txt"), None);
        assert_eq!(parse_file_name("MANIFEST-12"), None);
    }
}
