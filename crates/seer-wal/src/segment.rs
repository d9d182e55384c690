//! WAL segment files: one log per memtable, named by `seer_core::filename`
//! (`NNNNNNNNNNNNNNNNNNNN.wal`), listed in number order and deleted once
//! obsolete.

use std::path::{Path, PathBuf};

use seer_core::filename::{file_name, parse_file_name};
use seer_core::{FileKind, FileSystem};

use crate::error::{Result, WalError};

/// The path of WAL segment `number` in `dir`.
pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(file_name(FileKind::Wal, number))
}

/// The numbers of the WAL segments in `dir`, ascending.
pub fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let names = fs.list_dir(dir).map_err(|e| WalError::io(dir, e))?;
    let mut numbers: Vec<u64> = names
        .iter()
        .filter_map(|name| match parse_file_name(name) {
            Some((FileKind::Wal, number)) => Some(number),
            _ => None,
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Deletes every segment numbered below `first_live` (their memtables are
/// durable in tables), syncs the directory, and returns the deleted numbers.
pub fn delete_segments_before(
    fs: &dyn FileSystem,
    dir: &Path,
    first_live: u64,
) -> Result<Vec<u64>> {
    let obsolete: Vec<u64> = list_segments(fs, dir)?
        .into_iter()
        .filter(|&n| n < first_live)
        .collect();
    for &number in &obsolete {
        let path = segment_path(dir, number);
        fs.remove_file(&path).map_err(|e| WalError::io(&path, e))?;
    }
    if !obsolete.is_empty() {
        fs.sync_dir(dir).map_err(|e| WalError::io(dir, e))?;
    }
    Ok(obsolete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_core::fault::FaultFileSystem;

    #[test]
    fn list_and_delete_obsolete() {
        let fs = FaultFileSystem::new();
        let dir = Path::new("/db");
        fs.create_dir_all(dir).unwrap();
        let segments = [9, 3, 12].map(|number| segment_path(dir, number));
        let others = [dir.join("CURRENT"), dir.join(file_name(FileKind::Table, 4))];
        for path in segments.iter().chain(&others) {
            fs.create(path).unwrap();
        }
        assert_eq!(list_segments(&fs, dir).unwrap(), [3, 9, 12]);
        assert_eq!(delete_segments_before(&fs, dir, 12).unwrap(), [3, 9]);
        assert_eq!(list_segments(&fs, dir).unwrap(), [12]);
        assert!(fs.exists(&dir.join("CURRENT")).unwrap());
    }
}
