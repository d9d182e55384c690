//! `CURRENT` at open: a `CURRENT` naming a missing manifest is
//! `NotADatabase`, a damaged one a corruption error naming it (issue 11,
//! defect 18).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use seer_db::{Error, DB};

fn database_with_one_key(dir: &Path) {
    let db = DB::open(dir).unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
}

#[test]
fn a_current_naming_a_missing_manifest_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    database_with_one_key(dir.path());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("MANIFEST-")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let files_before = std::fs::read_dir(dir.path()).unwrap().count();
    match DB::open(dir.path()) {
        Err(Error::NotADatabase { reason, .. }) => {
            assert!(
                reason.contains("CURRENT") && reason.contains("MANIFEST-"),
                "{reason}"
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files_before);
}

#[test]
fn a_damaged_current_is_a_corruption_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    database_with_one_key(dir.path());
    let current = dir.path().join("CURRENT");
    let good = std::fs::read(&current).unwrap();
    // A digit of the manifest name: the name still parses, the checksum
    // does not match.
    let digit = good.iter().position(u8::is_ascii_digit).unwrap();
    let mut damaged = good.clone();
    damaged[digit] = if damaged[digit] == b'9' {
        b'8'
    } else {
        damaged[digit] + 1
    };
    std::fs::write(&current, &damaged).unwrap();
    match DB::open(dir.path()) {
        Err(Error::Corruption(seer_db::Corruption { file, .. })) => assert_eq!(file, current),
        other => panic!("{:?}", other.map(|_| ())),
    }
    std::fs::write(&current, &good).unwrap();
    let db = DB::open(dir.path()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    db.close().unwrap();
}

#[test]
fn verify_reports_a_current_naming_a_missing_manifest_as_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    db.put(b"k", b"v").unwrap();
    db.flush().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("MANIFEST-") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let report = db.verify().unwrap();
    let current = dir.path().join("CURRENT");
    match report.bad_files.as_slice() {
        [(file, Error::NotADatabase { reason, .. })] => {
            assert_eq!(file, &current);
            assert!(reason.contains("MANIFEST-"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    db.close().unwrap();
}
