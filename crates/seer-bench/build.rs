//! Notes whether the `rocksdb` engine links a system RocksDB
//! (`ROCKSDB_LIB_DIR` set) instead of compiling the bundled one, so the
//! engine can say which it measures and fill the one gap of older libraries.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(rocksdb_system_lib)");
    println!("cargo:rerun-if-env-changed=ROCKSDB_LIB_DIR");
    let rocksdb = std::env::var_os("CARGO_FEATURE_ROCKSDB").is_some();
    if let (true, Some(dir)) = (rocksdb, std::env::var_os("ROCKSDB_LIB_DIR")) {
        println!("cargo:rustc-cfg=rocksdb_system_lib");
        println!(
            "cargo:rustc-env=SEER_BENCH_ROCKSDB_LIB_DIR={}",
            dir.to_string_lossy()
        );
    }
}
