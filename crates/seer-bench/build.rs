//! Gives the crate the versions of the engines it is built with (read from
//! the workspace's Cargo.lock, so the settings line names what was measured)
//! and notes whether the `rocksdb` engine links a system RocksDB
//! (`ROCKSDB_LIB_DIR` set) instead of compiling the bundled one.

use std::path::Path;

/// Lock-file packages whose versions the reports name, and the environment
/// variable each is passed in.
const VERSIONS: [(&str, &str); 5] = [
    ("seer-db", "SEER_BENCH_SEER_DB_VERSION"),
    ("fjall", "SEER_BENCH_FJALL_VERSION"),
    ("lsm-tree", "SEER_BENCH_LSM_TREE_VERSION"),
    ("rocksdb", "SEER_BENCH_ROCKSDB_CRATE_VERSION"),
    ("librocksdb-sys", "SEER_BENCH_LIBROCKSDB_SYS_VERSION"),
];

fn main() {
    println!("cargo:rustc-check-cfg=cfg(rocksdb_system_lib)");
    println!("cargo:rerun-if-env-changed=ROCKSDB_LIB_DIR");
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock_path = Path::new(&manifest_dir).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    for (package, variable) in VERSIONS {
        let version = locked_version(&lock, package).unwrap_or("unknown");
        println!("cargo:rustc-env={variable}={version}");
    }
    let rocksdb = std::env::var_os("CARGO_FEATURE_ROCKSDB").is_some();
    if let (true, Some(dir)) = (rocksdb, std::env::var_os("ROCKSDB_LIB_DIR")) {
        println!("cargo:rustc-cfg=rocksdb_system_lib");
        println!(
            "cargo:rustc-env=SEER_BENCH_ROCKSDB_LIB_DIR={}",
            dir.to_string_lossy()
        );
    }
}

/// The version of the first `[[package]]` named `package` in a Cargo.lock.
fn locked_version<'a>(lock: &'a str, package: &str) -> Option<&'a str> {
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    lines.find(|line| line.trim() == name_line)?;
    lines
        .next()?
        .trim()
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}
