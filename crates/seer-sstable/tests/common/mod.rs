//! Helpers shared by the integration tests: building a table from a list
//! of entries and the model answer of a point lookup.
#![allow(dead_code, clippy::unwrap_used)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{
    FileSystem, Lookup, MergeBase, ParsedInternalKey, RealFileSystem, SeqNo, ValueKind,
    WritableFile,
};
use seer_sstable::{TableBuilder, TableMeta, TableOptions};
use seer_testkit::ForwardingFs;

/// An entry: encoded internal key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Builds table number 1 in `dir` from sorted `entries`.
pub fn build_table(dir: &Path, entries: &[Entry], options: TableOptions) -> (PathBuf, TableMeta) {
    let path = dir.join("00000000000000000001.sst");
    let mut builder = TableBuilder::new(RealFileSystem::shared(), &path, options).unwrap();
    for (key, value) in entries {
        builder.add(key, value).unwrap();
    }
    (path, builder.finish().unwrap())
}

/// What a table holding the sorted `entries` must answer for `user_key` at
/// `snapshot_seq`.
pub fn expected_lookup(entries: &[Entry], user_key: &[u8], snapshot_seq: SeqNo) -> Lookup {
    let mut visible = entries
        .iter()
        .map(|(key, value)| (ParsedInternalKey::parse(key).unwrap(), value))
        .filter(|(key, _)| key.user_key == user_key && key.seq <= snapshot_seq);
    let value = |v: &Vec<u8>| Bytes::copy_from_slice(v);
    let Some((first, first_value)) = visible.next() else {
        return Lookup::NotFound;
    };
    let mut operands = match first.kind {
        ValueKind::Put => return Lookup::Value(value(first_value)),
        ValueKind::ExpiringPut => return Lookup::Expiring(value(first_value)),
        ValueKind::Delete => return Lookup::Deleted,
        ValueKind::Merge => vec![value(first_value)],
    };
    for (key, v) in visible {
        let base = match key.kind {
            ValueKind::Merge => {
                operands.push(value(v));
                continue;
            }
            ValueKind::Put => MergeBase::Value(value(v)),
            ValueKind::ExpiringPut => MergeBase::Expiring(value(v)),
            ValueKind::Delete => MergeBase::Deleted,
        };
        return Lookup::Merge {
            operands,
            base: Some(base),
        };
    }
    Lookup::Merge {
        operands,
        base: None,
    }
}

/// Every entry of `iter` from its current position forward.
pub fn drain_forward<I: seer_core::InternalIterator>(iter: &mut I) -> Vec<Entry>
where
    I::Error: std::fmt::Debug,
{
    let mut out = Vec::new();
    while iter.valid() {
        out.push((iter.key().to_vec(), iter.value().to_vec()));
        iter.next().unwrap();
    }
    out
}

/// The bytes of `path`, through the file-system seam.
pub fn read_file(path: &Path) -> Vec<u8> {
    RealFileSystem.read(path).unwrap()
}

/// Replaces `path` with `bytes`, through the file-system seam.
pub fn write_file(path: &Path, bytes: &[u8]) {
    let mut file = RealFileSystem.create(path).unwrap();
    file.append(bytes).unwrap();
    file.sync_data().unwrap();
}

/// The real file system, counting the syncs of the files it creates.
pub fn sync_counting_fs(sync_count: &Arc<AtomicUsize>) -> ForwardingFs {
    let sync_count = Arc::clone(sync_count);
    ForwardingFs::new(RealFileSystem::shared()).on_create(move |path, inner| {
        Ok(Box::new(SyncCountingFile {
            inner: inner.create(path)?,
            sync_count: Arc::clone(&sync_count),
        }))
    })
}

#[derive(Debug)]
struct SyncCountingFile {
    inner: Box<dyn WritableFile>,
    sync_count: Arc<AtomicUsize>,
}

impl WritableFile for SyncCountingFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.append(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.sync_count.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_count.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_all()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}
