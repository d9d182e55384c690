//! The `seer` binary run on real databases: round trips of the data
//! commands in every format, `verify` on damaged files, and the one-line
//! errors (exit status 2) for a write to a locked database (the reading
//! commands open it read-only), a missing path and a path that is not a
//! database.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use support::{files_ending, new_db, seer, serial, Run};

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Runs `seer ARGS` on the database `db` (its path after the subcommand).
fn on_db(subcommand: &str, db: &Path, args: &[&str]) -> Run {
    let mut all = vec![subcommand.to_owned(), path_arg(db)];
    all.extend(args.iter().map(|&arg| arg.to_owned()));
    seer(&all)
}

fn assert_ok(run: &Run) {
    assert_eq!(run.status, Some(0), "{run:?}");
}

/// The error of a failed run: exit status 2 and exactly one line.
fn error_line(run: &Run) -> &str {
    assert_eq!(run.status, Some(2), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    run.stderr.trim_end()
}

#[test]
fn put_get_and_scan_round_trip_arbitrary_bytes_in_every_format() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    db.close().unwrap();
    let pairs: [(&[u8], &[u8]); 4] = [
        (b"alpha", b"first value"),
        (b"beta\x00\xff", b"\x01\x02 binary\n"),
        (b"caf\xc3\xa9", b"tab\there"),
        (b"back\\slash", b""),
    ];
    let formats = ["hex", "escaped"];
    for (index, (key, value)) in pairs.iter().enumerate() {
        let format = formats[index % 2];
        let key_text = render(format, key);
        let value_text = render(format, value);
        let flags = ["--key-format", format, "--value-format", format];
        assert_ok(&on_db(
            "put",
            &db_path,
            &[&flags[..], &[&key_text, &value_text]].concat(),
        ));
        let got = on_db("get", &db_path, &[&flags[..], &[&key_text]].concat());
        assert_ok(&got);
        assert_eq!(got.stdout, format!("{value_text}\n"));
    }

    let scan = on_db(
        "scan",
        &db_path,
        &["--key-format", "hex", "--value-format", "hex"],
    );
    assert_ok(&scan);
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let expected: String = sorted
        .iter()
        .map(|(k, v)| format!("{}\t{}\n", render("hex", k), render("hex", v)))
        .collect();
    assert_eq!(scan.stdout, expected);

    let utf8 = ["--key-format", "utf8", "--value-format", "utf8"];
    let got = on_db("get", &db_path, &[&utf8[..], &["café"]].concat());
    assert_eq!(got.stdout, "tab\there\n");
    assert_ok(&on_db(
        "put",
        &db_path,
        &[&utf8[..], &["ключ", "значение é"]].concat(),
    ));
    let got = on_db("get", &db_path, &[&utf8[..], &["ключ"]].concat());
    assert_eq!(got.stdout, "значение é\n");
    let scan = on_db(
        "scan",
        &db_path,
        &[&utf8[..], &["--from", "ключ", "--json"]].concat(),
    );
    assert_eq!(scan.stdout, "{\"key\":\"ключ\",\"value\":\"значение é\"}\n");
    let json = on_db("get", &db_path, &["--json", "beta\\0\\xff"]);
    assert_eq!(
        json.stdout,
        "{\"key\":\"beta\\\\0\\\\xff\",\"value\":\"\\\\x01\\\\x02 binary\\\\n\"}\n"
    );
}

fn render(format: &str, bytes: &[u8]) -> String {
    match format {
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        _ => bytes
            .iter()
            .map(|&b| match b {
                b'\\' => "\\\\".to_owned(),
                b'\n' => "\\n".to_owned(),
                b'\t' => "\\t".to_owned(),
                b'\r' => "\\r".to_owned(),
                0 => "\\0".to_owned(),
                b' '..=b'~' => char::from(b).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect(),
    }
}

#[test]
fn scan_selects_by_bounds_prefix_direction_and_limit_and_count_agrees() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    for key in ["a1", "a2", "a3", "b1", "b2", "c1"] {
        db.put(key, format!("v-{key}")).unwrap();
    }
    db.delete("a2").unwrap();
    db.flush().unwrap();
    db.put("b3", "v-b3").unwrap();
    db.close().unwrap();

    let keys = |args: &[&str]| -> Vec<String> {
        let run = on_db("scan", &db_path, args);
        assert_ok(&run);
        run.stdout
            .lines()
            .map(|line| line.split('\t').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(keys(&[]), ["a1", "a3", "b1", "b2", "b3", "c1"]);
    assert_eq!(keys(&["--from", "a3", "--to", "b3"]), ["a3", "b1", "b2"]);
    assert_eq!(keys(&["--prefix", "b"]), ["b1", "b2", "b3"]);
    assert_eq!(keys(&["--prefix", "b", "--reverse"]), ["b3", "b2", "b1"]);
    assert_eq!(
        keys(&["--prefix", "b", "--from", "b2", "--reverse"]),
        ["b3", "b2"]
    );
    assert_eq!(keys(&["--prefix", "a", "--to", "b"]), ["a1", "a3"]);
    assert_eq!(keys(&["--reverse", "--limit", "2"]), ["c1", "b3"]);

    let json = on_db("scan", &db_path, &["--prefix", "c", "--json"]);
    assert_eq!(json.stdout, "{\"key\":\"c1\",\"value\":\"v-c1\"}\n");
    let count = on_db("count", &db_path, &["--prefix", "b"]);
    assert_eq!(count.stdout, "3\n");
    let count = on_db("count", &db_path, &["--json"]);
    assert_eq!(count.stdout, "{\"count\":6}\n");

    let missing = on_db("get", &db_path, &["a2"]);
    assert_eq!((missing.status, missing.stdout.as_str()), (Some(1), ""));
    let missing = on_db("get", &db_path, &["a2", "--json"]);
    assert_eq!(missing.stdout, "{\"key\":\"a2\",\"value\":null}\n");
    assert_ok(&on_db("delete", &db_path, &["a1"]));
    assert_eq!(on_db("get", &db_path, &["a1"]).status, Some(1));
}

#[test]
fn flush_and_compact_leave_every_key_readable() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    for i in 0..50 {
        db.put(format!("key{i:02}"), "value").unwrap();
    }
    db.close().unwrap();
    assert!(files_ending(&db_path, ".sst").is_empty());
    assert_ok(&on_db("flush", &db_path, &[]));
    assert_eq!(files_ending(&db_path, ".sst").len(), 1);
    assert_ok(&on_db(
        "compact",
        &db_path,
        &["--from", "key10", "--to", "key20"],
    ));
    assert_ok(&on_db("compact", &db_path, &[]));
    assert_eq!(on_db("count", &db_path, &[]).stdout, "50\n");
    let stats = on_db("stats", &db_path, &[]);
    assert_ok(&stats);
    assert!(!stats.stdout.is_empty());
}

#[test]
fn verify_names_a_table_with_a_flipped_byte_and_exits_one() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    for i in 0..200 {
        db.put(format!("key{i:03}"), "some value to fill a block")
            .unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    let intact = on_db("verify", &db_path, &[]);
    assert_ok(&intact);
    assert!(intact.stdout.contains("0 damaged"), "{intact:?}");

    let table = files_ending(&db_path, ".sst").remove(0);
    let mut bytes = std::fs::read(&table).unwrap();
    bytes[40] ^= 0x20;
    std::fs::write(&table, bytes).unwrap();
    let name = table.file_name().unwrap().to_str().unwrap();
    let damaged = on_db("verify", &db_path, &[]);
    assert_eq!(damaged.status, Some(1), "{damaged:?}");
    assert!(
        damaged.stdout.contains(&format!("DAMAGED {name}")),
        "{damaged:?}"
    );
    let table_verify = seer(&["table", &path_arg(&table), "--verify", "--no-entries"]);
    assert_eq!(table_verify.status, Some(1), "{table_verify:?}");
    assert!(table_verify.stdout.contains("DAMAGED"), "{table_verify:?}");
}

#[test]
fn verify_names_a_wal_segment_too_damaged_to_open_and_exits_one() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    for i in 0..20 {
        db.put(format!("key{i:03}"), "value").unwrap();
    }
    db.close().unwrap();
    let segment = files_ending(&db_path, ".wal").pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let name = segment.file_name().unwrap().to_str().unwrap();
    let run = on_db("verify", &db_path, &[]);
    assert_eq!(run.status, Some(1), "{run:?}");
    assert!(run.stdout.contains(&format!("DAMAGED {name}")), "{run:?}");
    let dump = seer(&["wal", &path_arg(&segment)]);
    assert_eq!(dump.status, Some(1), "{dump:?}");
    assert!(dump.stdout.contains("DAMAGED bytes"), "{dump:?}");
}

#[test]
fn reading_commands_work_on_a_database_held_open_and_writing_ones_give_the_locked_line() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    db.put("k", "v").unwrap();
    // The reading commands open read-only: no lock, nothing written.
    assert_eq!(on_db("get", &db_path, &["k"]).stdout, "v\n");
    assert_eq!(on_db("scan", &db_path, &[]).stdout, "k\tv\n");
    assert_eq!(on_db("count", &db_path, &[]).stdout, "1\n");
    assert_ok(&on_db("stats", &db_path, &[]));
    assert_ok(&on_db("verify", &db_path, &[]));
    // The writing ones take the writer's lock.
    for args in [&["put", "k", "w"][..], &["delete", "k"], &["flush"]] {
        let mut all = vec![args[0].to_owned(), path_arg(&db_path)];
        all.extend(args[1..].iter().map(|&a| a.to_owned()));
        let run = seer(&all);
        let line = error_line(&run);
        assert!(line.contains("locked"), "{line}");
        assert!(line.contains(&path_arg(&db_path)), "{line}");
    }
    // The files alone can be read while the database is open.
    assert_ok(&seer(&["wal", &path_arg(&db_path)]));
    assert_ok(&seer(&["manifest", &path_arg(&db_path)]));
    db.close().unwrap();
    assert_eq!(on_db("get", &db_path, &["k"]).stdout, "v\n");
}

#[test]
fn a_missing_path_a_file_and_a_foreign_directory_are_one_line_errors() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for command in ["get", "scan", "stats", "verify", "wal", "manifest", "table"] {
        let mut args = vec![command.to_owned(), path_arg(&missing)];
        if command == "get" {
            args.push("k".to_owned());
        }
        let run = seer(&args);
        let line = error_line(&run);
        assert!(
            line.contains("nothing-here") && line.contains("no such file"),
            "{line}"
        );
    }
    assert!(!missing.exists(), "a command created the database");

    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "hello").unwrap();
    let line = error_line(&seer(&["scan", &path_arg(&file)])).to_owned();
    assert!(
        line.contains("notes.txt is not a seerdb database"),
        "{line}"
    );
    for command in ["wal", "manifest", "table"] {
        let line = error_line(&seer(&[command, &path_arg(&file)])).to_owned();
        assert!(line.contains("notes.txt"), "{command}: {line}");
    }

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let line = error_line(&seer(&["count", &path_arg(&empty)])).to_owned();
    assert!(line.contains("has no CURRENT file"), "{line}");
    std::fs::write(empty.join("CURRENT"), "not ours").unwrap();
    std::fs::write(empty.join("photo.jpg"), "jpeg").unwrap();
    let line = error_line(&seer(&["count", &path_arg(&empty)])).to_owned();
    assert!(line.contains("is not a seerdb database"), "{line}");

    let bad_hex = seer(&["get", &path_arg(&empty), "--key-format", "hex", "xyz"]);
    assert!(error_line(&bad_hex).contains("bad KEY"), "{bad_hex:?}");
}

#[test]
fn a_scan_piped_into_a_reader_that_stops_early_ends_quietly_with_status_zero() {
    let _serial = serial();
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let (_dir, db_path, db) = new_db();
    let mut batch = db.batch();
    let value = "v".repeat(200);
    for i in 0..2000 {
        batch.put(format!("key{i:05}"), &value);
    }
    db.write(batch, Default::default()).unwrap();
    db.close().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_seer"))
        .args(["scan", &path_arg(&db_path)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("key00000\t"), "{first}");
    // The reader is gone: 400 KB of output cannot fit in the pipe.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn a_key_with_merge_operands_reads_with_the_merge_operator_named() {
    let _serial = serial();
    let (_dir, db_path, db) = new_db();
    db.merge("fruits", "apple").unwrap();
    db.merge("fruits", "fig").unwrap();
    db.close().unwrap();
    let without = on_db("get", &db_path, &["fruits"]);
    assert!(error_line(&without).contains("merge"), "{without:?}");
    let with = on_db(
        "get",
        &db_path,
        &["fruits", "--merge-operator", "string-append"],
    );
    assert_eq!(with.stdout, "apple,fig\n", "{with:?}");
    let other = on_db("scan", &db_path, &["--merge-operator", "string-append=\\t"]);
    assert_eq!(other.stdout, "fruits\tapple\\tfig\n", "{other:?}");
    let bad = on_db("get", &db_path, &["fruits", "--merge-operator", "max"]);
    assert_eq!(bad.status, Some(2), "{bad:?}");
}

#[test]
fn a_table_dump_lists_the_range_tombstone_fragments() {
    use seer_core::{FragmentedTombstones, InternalKey, RangeTombstone, RealFileSystem, ValueKind};
    use seer_sstable::{TableBuilder, TableOptions};

    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000009.sst");
    let mut builder =
        TableBuilder::new(RealFileSystem::shared(), &path, TableOptions::default()).unwrap();
    let key = InternalKey::new(&b"b"[..], 3, ValueKind::Put);
    builder.add(&key.encode(), b"kept").unwrap();
    let tombstones = FragmentedTombstones::new([
        RangeTombstone::new(&b"a"[..], &b"c"[..], 5),
        RangeTombstone::new(&b"b"[..], &b"d"[..], 7),
    ]);
    builder.set_range_tombstones(tombstones).unwrap();
    builder.finish().unwrap();

    let run = seer(&["table", &path_arg(&path), "--verify"]);
    assert_ok(&run);
    let section: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("range tombstones"))
        .take(4)
        .collect();
    assert_eq!(
        section,
        [
            "range tombstones: 3 fragments",
            "  [a, b) seq 5",
            "  [b, c) seq 7,5",
            "  [c, d) seq 7",
        ],
        "{run:?}"
    );
    assert!(run.stdout.contains("  range tombstone block @"), "{run:?}");
}

#[test]
fn put_with_create_makes_a_new_database_and_refuses_a_foreign_directory() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh");
    let line = error_line(&seer(&["put", &path_arg(&fresh), "k", "v"])).to_owned();
    assert!(line.contains("no such file"), "{line}");
    assert!(!fresh.exists(), "put without --create created the database");

    assert_ok(&seer(&["put", "--create", &path_arg(&fresh), "k", "v"]));
    let got = on_db("get", &fresh, &["k"]);
    assert_ok(&got);
    assert_eq!(got.stdout, "v\n");
    assert_ok(&seer(&["put", "--create", &path_arg(&fresh), "k2", "v2"]));
    assert_eq!(on_db("count", &fresh, &[]).stdout, "2\n");

    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("photo.jpg"), "jpeg").unwrap();
    let line = error_line(&seer(&["put", "--create", &path_arg(&foreign), "k", "v"])).to_owned();
    assert!(line.contains("is not a seerdb database"), "{line}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
}

#[test]
fn checkpoint_and_backup_commands_copy_a_database_that_reopens_with_its_keys() {
    let _serial = serial();
    let (dir, db_path, db) = new_db();
    db.put("kept", "before the copies").unwrap();
    db.close().unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let run = on_db("checkpoint", &db_path, &[&path_arg(&checkpoint)]);
    assert_ok(&run);
    assert!(run.stdout.starts_with("checkpoint "), "{run:?}");
    let got = on_db("get", &checkpoint, &["kept"]);
    assert_eq!(got.stdout.trim_end(), "before the copies", "{got:?}");
    let again = on_db("checkpoint", &db_path, &[&path_arg(&checkpoint)]);
    assert!(error_line(&again).contains("already exists"), "{again:?}");

    let backups = path_arg(&dir.path().join("backups"));
    let created = seer(&["backup", "create", &backups, &path_arg(&db_path)]);
    assert_ok(&created);
    assert_eq!(created.stdout.trim_end(), "backup 1");
    let listed = seer(&["backup", "list", &backups]);
    assert_ok(&listed);
    assert!(listed.stdout.starts_with("1\t"), "{listed:?}");
    assert_ok(&seer(&["backup", "verify", &backups, "1"]));
    let restored = dir.path().join("restored");
    assert_ok(&seer(&[
        "backup",
        "restore",
        &backups,
        "1",
        &path_arg(&restored),
    ]));
    let got = on_db("get", &restored, &["kept"]);
    assert_eq!(got.stdout.trim_end(), "before the copies", "{got:?}");
    let table = files_ending(&dir.path().join("backups").join("shared"), ".sst")
        .pop()
        .unwrap();
    let mut bytes = std::fs::read(&table).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&table, bytes).unwrap();
    let damaged = seer(&["backup", "verify", &backups, "1"]);
    assert_eq!(damaged.status, Some(1), "{damaged:?}");
    assert!(damaged.stdout.starts_with("DAMAGED "), "{damaged:?}");
}

#[test]
fn ingest_adds_table_files_and_names_a_refused_one() {
    let _serial = serial();
    let (dir, db_path, db) = new_db();
    db.put("k1", "old").unwrap();
    db.close().unwrap();
    let file = dir.path().join("bulk.sst");
    let mut writer = seer_db::TableWriter::create(&file, &seer_db::DBOptions::default()).unwrap();
    writer.put("k1", "ingested").unwrap();
    writer.put("k2", "new").unwrap();
    writer.finish().unwrap();
    let bad = dir.path().join("bad.sst");
    std::fs::write(&bad, "not a table").unwrap();
    let refused = on_db("ingest", &db_path, &[&path_arg(&file), &path_arg(&bad)]);
    assert!(error_line(&refused).contains("bad.sst"), "{refused:?}");
    assert_eq!(on_db("get", &db_path, &["k1"]).stdout.trim_end(), "old");
    let run = on_db("ingest", &db_path, &[&path_arg(&file)]);
    assert_ok(&run);
    assert!(
        run.stdout.starts_with("ingested 1 files at seq "),
        "{run:?}"
    );
    assert_eq!(
        on_db("get", &db_path, &["k1"]).stdout.trim_end(),
        "ingested"
    );
    assert_eq!(on_db("get", &db_path, &["k2"]).stdout.trim_end(), "new");
}
