//! The `FileSystem` seam: every file operation of every seerdb layer goes
//! through these traits, so tests can swap in a fault-injecting or
//! power-loss-simulating implementation.
//!
//! [`RealFileSystem`] is the production implementation on `std::fs`.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

/// A file opened for appending.
///
/// Writes are unbuffered at this level: callers batch their own bytes and
/// hand over whole records or blocks.
pub trait WritableFile: Send + Debug {
    /// Appends all of `bytes`.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes the file's data and metadata durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
    /// Reserves disk space so the file is at least `len_bytes` long (the
    /// reserved bytes past the appended ones read as zero), without moving
    /// where the next append lands; durable with the next sync. A later
    /// `sync_data` then need not commit a size change for appends inside
    /// the reservation. Does nothing when the file is already that long;
    /// the default reserves nothing (a wrapper may leave it so).
    fn preallocate(&mut self, len_bytes: u64) -> io::Result<()> {
        let _ = len_bytes;
        Ok(())
    }
    /// The file's length, counting bytes appended so far (not the space
    /// reserved past them by [`Self::preallocate`]).
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file opened for positional reads.
pub trait RandomAccessFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; a read past the end is `UnexpectedEof`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's length.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An exclusive lock on a file, released when dropped.
pub trait FileLock: Send + Sync + Debug {}

/// All file I/O of seerdb.
pub trait FileSystem: Send + Sync + Debug + 'static {
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates (or truncates) `path` for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens an existing `path` to append to it, after its last byte
    /// (reserved zeros included).
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens `path` for positional reads.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>>;
    /// The whole, immutable content of `path`; the real implementation maps
    /// it into memory. The file must not change while the bytes live.
    fn map(&self, path: &Path) -> io::Result<Bytes>;
    /// Reads the whole of `path` into memory.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames `from` to `to`, replacing `to`; durable after [`Self::sync_dir`].
    /// `from` may also be a directory, renamed with its entries to a `to`
    /// that does not exist (durable after syncing `to`'s parent).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes `new` a second name of the existing file `existing` (a hard
    /// link: same content, no bytes copied); the name is durable after
    /// [`Self::sync_dir`] of its directory. Fails with
    /// [`io::ErrorKind::CrossesDevices`] when the two are on different file
    /// systems, and by default (a file system that cannot link) with
    /// [`io::ErrorKind::Unsupported`]: the caller copies instead.
    fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        let _ = (existing, new);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system cannot hard-link files",
        ))
    }
    /// Removes the empty directory `dir`; durable after syncing its parent.
    /// By default (a file system without directory removal) fails with
    /// [`io::ErrorKind::Unsupported`].
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let _ = dir;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system cannot remove directories",
        ))
    }
    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Cuts `path` to `len` bytes and syncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// The names of the entries of `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// The length of `path`.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing) without
    /// waiting; `WouldBlock` when another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
    /// Bytes available to this process on the file system holding `dir`.
    fn available_space(&self, dir: &Path) -> io::Result<u64>;
}

/// A shared handle to a file system.
pub type SharedFileSystem = Arc<dyn FileSystem>;

/// The production file system, on `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFileSystem;

impl RealFileSystem {
    /// A shared handle to the real file system.
    pub fn shared() -> SharedFileSystem {
        Arc::new(Self)
    }
}

#[derive(Debug)]
struct RealWritableFile {
    file: File,
    len: u64,
}

impl WritableFile for RealWritableFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn preallocate(&mut self, len_bytes: u64) -> io::Result<()> {
        // `fallocate` (mode 0): allocates the blocks and extends the size,
        // never moving the write position of this non-append handle.
        if self.file.metadata()?.len() >= len_bytes {
            return Ok(());
        }
        fs4::fs_std::FileExt::allocate(&self.file, len_bytes)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

#[derive(Debug)]
struct RealRandomAccessFile {
    file: File,
    len: u64,
}

impl RandomAccessFile for RealRandomAccessFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

#[derive(Debug)]
struct RealFileLock {
    // Held for its lock; unlocked when the file is closed on drop.
    _file: File,
}

impl FileLock for RealFileLock {}

impl FileSystem for RealFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(RealWritableFile { file, len: 0 }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(RealWritableFile { file, len }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(RealRandomAccessFile { file, len }))
    }

    fn map(&self, path: &Path) -> io::Result<Bytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: seerdb maps only immutable files (finished tables, sealed
        // logs) that no one writes or truncates while they are mapped; the
        // map is read-only and kept alive by the returned `Bytes`.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::from_owner(map))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        std::fs::hard_link(existing, new)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir(dir)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(RealFileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", path.display()),
            )),
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    }

    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        fs4::available_space(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_map_rename_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFileSystem;
        let path = dir.path().join("a");
        let mut file = fs.create(&path).unwrap();
        file.append(b"hello ").unwrap();
        file.append(b"world").unwrap();
        file.sync_data().unwrap();
        assert_eq!(file.len(), 11);
        drop(file);
        let mut file = fs.open_append(&path).unwrap();
        assert_eq!(file.len(), 11);
        file.append(b"!").unwrap();
        drop(file);
        assert_eq!(&fs.map(&path).unwrap()[..], b"hello world!");
        let reader = fs.open_read(&path).unwrap();
        let mut buf = [0u8; 5];
        reader.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        assert!(reader.read_exact_at(&mut buf, 10).is_err());
        fs.truncate(&path, 5).unwrap();
        assert_eq!(fs.read(&path).unwrap(), b"hello");
        let mut file = fs.create(&path).unwrap();
        file.preallocate(4096).unwrap();
        file.append(b"abc").unwrap();
        assert_eq!(file.len(), 3);
        let mut expected = b"abc".to_vec();
        expected.resize(4096, 0);
        assert_eq!(fs.read(&path).unwrap(), expected);
        fs.truncate(&path, 5).unwrap();
        let moved = dir.path().join("b");
        fs.rename(&path, &moved).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert_eq!(fs.list_dir(dir.path()).unwrap(), vec!["b".to_owned()]);
        assert_eq!(fs.file_size(&moved).unwrap(), 5);
        let linked = dir.path().join("c");
        fs.hard_link(&moved, &linked).unwrap();
        fs.remove_file(&moved).unwrap();
        assert!(!fs.exists(&moved).unwrap());
        assert_eq!(fs.read(&linked).unwrap(), b"abc\0\0");
        let sub = dir.path().join("sub");
        fs.create_dir_all(&sub).unwrap();
        fs.rename(&sub, &dir.path().join("sub2")).unwrap();
        fs.remove_dir(&dir.path().join("sub2")).unwrap();
        assert!(!fs.exists(&sub).unwrap());
        assert!(fs.available_space(dir.path()).unwrap() > 0);
    }

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFileSystem;
        let path = dir.path().join("LOCK");
        let held = fs.lock(&path).unwrap();
        let err = fs.lock(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        fs.lock(&path).unwrap();
    }
}
