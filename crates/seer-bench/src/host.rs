//! What the harness measures from outside an engine: the process's peak
//! resident memory (in total, and sampled by kind) and bytes written (Linux
//! `/proc/self`), and directory sizes, copies and clean-ups.
//!
//! This is the one module that uses `std::fs` directly: it works on peer
//! engines' directories (with subdirectories), which seerdb's `FileSystem`
//! seam is not meant to model.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{BenchError, Result};

/// Peak resident set size of this process (`VmHWM`), if the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    parse_kib_field(&status, "VmHWM:")
}

/// Bytes this process has caused to be written to storage so far
/// (`write_bytes` of `/proc/self/io`: pages dirtied, including by fsync'd
/// writes), if the OS reports it.
pub fn process_write_bytes() -> Option<u64> {
    let io = fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|value| value.trim().parse().ok())
}

/// Parses a `Name:   1234 kB` line of a `/proc` status file into bytes.
pub fn parse_kib_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Total length of the files under `dir`, recursively. Entries that vanish
/// while it walks (an engine deleting a compacted file) count as empty, so a
/// running engine's directory can be measured.
pub fn dir_size_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir).map_err(|error| BenchError::io(dir, error))? {
        let entry = entry.map_err(|error| BenchError::io(dir, error))?;
        let path = entry.path();
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => return Err(BenchError::io(&path, error)),
        };
        total += if metadata.is_dir() {
            match dir_size_bytes(&path) {
                Err(BenchError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => 0,
                size => size?,
            }
        } else {
            metadata.len()
        };
    }
    Ok(total)
}

/// What a [`PeakSampler`] keeps of its samples: the largest, per component.
pub trait Peak: Copy + Default + Send + 'static {
    /// The larger of `self` and `other` (componentwise for a composite).
    fn peak(self, other: Self) -> Self;
}

impl Peak for u64 {
    fn peak(self, other: Self) -> Self {
        self.max(other)
    }
}

/// The resident memory of a process split by kind, from the `RssAnon` and
/// `RssFile` fields of `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResidentMemory {
    /// Anonymous pages: the heap, stacks, anonymous mappings.
    pub anon_bytes: u64,
    /// File-backed pages mapped into the process (memory-mapped tables and
    /// the executable): page cache the kernel may reclaim.
    pub file_bytes: u64,
}

impl ResidentMemory {
    /// Parses the text of a `/proc/<pid>/status` file; `None` when either
    /// field is missing (a kernel before 4.5, or not Linux).
    pub fn parse(status: &str) -> Option<Self> {
        Some(Self {
            anon_bytes: parse_kib_field(status, "RssAnon:")?,
            file_bytes: parse_kib_field(status, "RssFile:")?,
        })
    }

    /// This process's resident memory now, if the OS reports it.
    pub fn of_this_process() -> Option<Self> {
        Self::parse(&fs::read_to_string("/proc/self/status").ok()?)
    }
}

impl Peak for ResidentMemory {
    fn peak(self, other: Self) -> Self {
        Self {
            anon_bytes: self.anon_bytes.max(other.anon_bytes),
            file_bytes: self.file_bytes.max(other.file_bytes),
        }
    }
}

/// A thread that takes a sample now and then every `interval` and keeps the
/// [`Peak`] of the samples, while an engine works: the largest directory
/// size ([`PeakSampler::dir_size`]) or resident memory
/// ([`PeakSampler::resident_memory`]).
pub struct PeakSampler<T> {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<T>,
}

impl<T: Peak> PeakSampler<T> {
    /// Starts sampling with `sample` now and then every `interval`. A sample
    /// of `None` (the measure briefly unavailable) is skipped.
    pub fn start(
        interval: Duration,
        mut sample: impl FnMut() -> Option<T> + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = T::default();
            loop {
                if let Some(value) = sample() {
                    peak = peak.peak(value);
                }
                if stopped.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::park_timeout(interval);
            }
        });
        Self { stop, thread }
    }

    /// Takes a last sample, stops the thread and returns the peak.
    pub fn finish(self) -> T {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        self.thread.join().unwrap_or_default()
    }
}

impl PeakSampler<u64> {
    /// Samples the size of `dir` ([`dir_size_bytes`]); a failed walk (the
    /// directory briefly unreadable) skips one sample.
    pub fn dir_size(dir: PathBuf, interval: Duration) -> Self {
        Self::start(interval, move || dir_size_bytes(&dir).ok())
    }
}

impl PeakSampler<ResidentMemory> {
    /// Samples this process's resident memory by kind.
    pub fn resident_memory(interval: Duration) -> Self {
        Self::start(interval, ResidentMemory::of_this_process)
    }
}

/// The value of the first `key=value` line (spaces around either allowed)
/// in the files of `dir` whose names start with `file_prefix`, if any.
pub fn setting_in_files(dir: &Path, file_prefix: &str, key: &str) -> Option<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(file_prefix))
        })
        .collect();
    names.sort();
    names.iter().find_map(|path| {
        let text = fs::read_to_string(path).ok()?;
        text.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name.trim() == key).then(|| value.trim().to_owned())
        })
    })
}

/// Makes `dir` an empty directory, removing whatever was there.
pub fn reset_dir(dir: &Path) -> Result<()> {
    remove_dir(dir)?;
    fs::create_dir_all(dir).map_err(|error| BenchError::io(dir, error))
}

/// Removes `dir` and everything under it, if it exists.
pub fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(BenchError::io(dir, error))
        }
        _ => Ok(()),
    }
}

/// Replaces `to` with a recursive copy of `from`.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    reset_dir(to)?;
    copy_dir_contents(from, to)
}

fn copy_dir_contents(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).map_err(|error| BenchError::io(from, error))? {
        let entry = entry.map_err(|error| BenchError::io(from, error))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let file_type = entry
            .file_type()
            .map_err(|error| BenchError::io(&source, error))?;
        if file_type.is_dir() {
            fs::create_dir_all(&target).map_err(|error| BenchError::io(&target, error))?;
            copy_dir_contents(&source, &target)?;
        } else {
            fs::copy(&source, &target).map_err(|error| BenchError::io(&source, error))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kib_fields_parse_to_bytes() {
        let status = "Name:\tseer-bench\nVmPeak:\t  2000 kB\nVmHWM:\t    1234 kB\n";
        assert_eq!(parse_kib_field(status, "VmHWM:"), Some(1234 * 1024));
        assert_eq!(parse_kib_field(status, "VmRSS:"), None);
    }

    #[test]
    fn copies_and_sizes_nested_directories() {
        let root = tempfile::tempdir().unwrap();
        let from = root.path().join("from");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("a"), [1u8; 10]).unwrap();
        fs::write(from.join("sub/b"), [2u8; 5]).unwrap();
        let to = root.path().join("to");
        copy_dir(&from, &to).unwrap();
        assert_eq!(dir_size_bytes(&to).unwrap(), 15);
        assert_eq!(fs::read(to.join("sub/b")).unwrap(), vec![2u8; 5]);
        reset_dir(&to).unwrap();
        assert_eq!(dir_size_bytes(&to).unwrap(), 0);
    }

    #[test]
    fn settings_are_found_in_the_files_named_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("LOG"), "rocksdb_version=0.0.0\n").unwrap();
        fs::write(
            dir.path().join("OPTIONS-000007"),
            "[Version]\n  rocksdb_version=11.8.1\n  options_file_version=1.1\n",
        )
        .unwrap();
        assert_eq!(
            setting_in_files(dir.path(), "OPTIONS-", "rocksdb_version").as_deref(),
            Some("11.8.1")
        );
        assert_eq!(setting_in_files(dir.path(), "OPTIONS-", "nosuch"), None);
        assert_eq!(
            setting_in_files(dir.path(), "MANIFEST-", "rocksdb_version"),
            None
        );
    }

    #[test]
    fn the_sampler_takes_a_last_sample_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("table");
        fs::write(&file, [0u8; 10]).unwrap();
        // An hour's interval: only the first and the last sample are taken.
        let sampler = PeakSampler::dir_size(dir.path().to_path_buf(), Duration::from_secs(3600));
        fs::write(&file, [0u8; 1000]).unwrap();
        assert_eq!(sampler.finish(), 1000);
        let missing = PeakSampler::dir_size(dir.path().join("gone"), Duration::from_secs(3600));
        assert_eq!(missing.finish(), 0);
    }

    #[test]
    fn resident_memory_parses_anonymous_and_file_pages() {
        let status = "Name:\tseer-bench\nVmHWM:\t  9000 kB\nVmRSS:\t  8000 kB\n\
                      RssAnon:\t    5000 kB\nRssFile:\t    2990 kB\nRssShmem:\t  10 kB\n";
        assert_eq!(
            ResidentMemory::parse(status),
            Some(ResidentMemory {
                anon_bytes: 5000 * 1024,
                file_bytes: 2990 * 1024,
            })
        );
        assert_eq!(
            ResidentMemory::parse("VmRSS:\t 8000 kB\nRssAnon:\t 5000 kB\n"),
            None
        );
    }

    #[test]
    fn the_peak_of_resident_memory_is_taken_per_kind() {
        let early = ResidentMemory {
            anon_bytes: 10,
            file_bytes: 90,
        };
        let late = ResidentMemory {
            anon_bytes: 50,
            file_bytes: 20,
        };
        assert_eq!(
            early.peak(late),
            ResidentMemory {
                anon_bytes: 50,
                file_bytes: 90,
            }
        );
    }

    #[test]
    fn the_memory_sampler_sees_this_process() {
        if cfg!(target_os = "linux") {
            let sampler = PeakSampler::resident_memory(Duration::from_secs(3600));
            let peak = sampler.finish();
            assert!(peak.anon_bytes > 0 && peak.file_bytes > 0);
        }
    }

    #[test]
    fn this_process_reports_its_peak_memory() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 0);
        }
    }
}
