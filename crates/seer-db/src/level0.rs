//! The one step that turns a memtable into tables: a new level-0 run
//! written by seer-compaction's [`flush`](seer_compaction::flush) (Monkey's
//! bloom bits for the run, shadowed versions no live snapshot sees dropped,
//! merge operands collapsed, tables cut at the target file size and synced
//! with their directory), and the executor context it and compactions run
//! with. Used by the background flush and by recovery's WAL replay; owned
//! by neither: it installs nothing (each caller logs the edit its own way).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::{CompactionResult, ExecutorContext, TableMeta, Version};
use seer_core::{SeqNo, SharedFileSystem};
use seer_memtable::Memtable;
use seer_sstable::{BlockCache, TableOptions};

use crate::error::Result;
use crate::options::DBOptions;

/// Writes `memtable` as one new level-0 run of `version` with the layer's
/// flush (tables cut at the target file size and at `split_keys`, the
/// picker's [`flush_split_keys`](seer_compaction::Picker::flush_split_keys),
/// synced with their directory, holding the memtable's range tombstones);
/// an empty memtable gives an empty edit.
pub(crate) fn write_level0(
    memtable: &Arc<Memtable>,
    version: &Version,
    context: &ExecutorContext,
    options: &DBOptions,
    split_keys: Vec<Bytes>,
    new_file_number: &dyn Fn() -> u64,
) -> Result<CompactionResult> {
    let input = seer_compaction::FlushInput {
        entries: &mut memtable.iter(),
        entries_count: memtable.entry_count(),
        range_tombstones: &memtable.range_tombstones().fragments(),
    };
    let flushed = seer_compaction::flush(
        input,
        version,
        context,
        options.target_file_size_bytes,
        split_keys,
        new_file_number,
    )?;
    let stats = flushed.stats;
    tracing::info!(
        tables = flushed.outputs.len(),
        entries_read = stats.input_entries,
        entries_written = stats.output_entries,
        bytes = stats.output_bytes,
        "memtable written to level 0"
    );
    Ok(flushed)
}

/// The largest sequence number of `tables`, if any.
pub(crate) fn largest_seq(tables: &[Arc<TableMeta>]) -> Option<SeqNo> {
    tables.iter().map(|t| t.largest_seq).max()
}

/// What the layer's executor needs for flushes and compactions: the
/// database's files and table options, the merge operator and the live
/// snapshots' sequence numbers (ascending).
pub(crate) fn executor_context(
    options: &DBOptions,
    fs: &SharedFileSystem,
    dir: &Path,
    block_cache: Option<Arc<BlockCache>>,
    snapshots: Vec<SeqNo>,
) -> ExecutorContext {
    ExecutorContext {
        fs: Arc::clone(fs),
        dir: dir.to_owned(),
        table_options: TableOptions {
            block_size_bytes: options.block_size_bytes,
            compression: options.compression,
            bloom_bits_per_key: options.bloom_bits_per_key,
            ..TableOptions::default()
        },
        filter_bits_per_entry: f64::from(options.bloom_bits_per_key),
        snapshots,
        merge_operator: options.merge_operator.clone(),
        compaction_filter: options.compaction_filter.clone(),
        newest_reader_seq: None,
        clock: Some(Arc::clone(&options.clock)),
        block_cache,
        open_inputs: HashMap::new(),
        cancel: None,
    }
}
