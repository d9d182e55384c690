//! Read-only views of an open table's structure for tools (`seer table`):
//! the meta blocks' places ([`TableLayout`]), every index entry
//! ([`IndexEntry`]) and the bloom filter's size ([`FilterInfo`]). The
//! entries themselves are read with [`Table::iter`]; the properties with
//! [`Table::properties`].

use super::Table;
use crate::error::Result;
use crate::format::BlockHandle;

/// Where a table's meta blocks are, as its footer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLayout {
    /// The range tombstone block (`None` in a format version 1 table).
    pub range_tombstones: Option<BlockHandle>,
    /// The bloom filter block.
    pub filter: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
}

/// One entry of a table's index: a data block and its separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry<'a> {
    /// The separator: an encoded internal key `>=` every key of the block
    /// and `<` every key of the next one.
    pub separator: &'a [u8],
    /// The data block.
    pub handle: BlockHandle,
}

/// The size of a table's bloom filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterInfo {
    /// Bytes of the filter's bit array (0 when the table has no filter).
    pub bits_bytes: u64,
    /// Probes per key (0 when the table has no filter).
    pub probes_count: u8,
}

impl Table {
    /// The places of the meta blocks, read from the footer (checked at
    /// open; an error names the footer's offset if the file changed since).
    pub fn layout(&self) -> Result<TableLayout> {
        let footer = self.decode_footer()?;
        Ok(TableLayout {
            range_tombstones: footer.range_del,
            filter: footer.filter,
            properties: footer.properties,
            index: footer.index,
        })
    }

    /// Every index entry, in key order: one per data block.
    pub fn index_entries(&self) -> impl Iterator<Item = IndexEntry<'_>> + '_ {
        (0..self.index.len()).filter_map(|block_index| {
            let handle = self.index.handle(block_index)?;
            Some(IndexEntry {
                separator: self.index.separator(block_index),
                handle,
            })
        })
    }

    /// The bloom filter's size.
    pub fn filter_info(&self) -> FilterInfo {
        FilterInfo {
            bits_bytes: self.filter.bits_bytes(),
            probes_count: self.filter.probes_count(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use seer_core::{InternalKey, ParsedInternalKey, RealFileSystem, ValueKind};

    use super::*;
    use crate::{TableBuilder, TableOptions};

    #[test]
    fn the_index_entries_cover_the_data_blocks_in_order_before_the_meta_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000003.sst");
        let options = TableOptions {
            block_size_bytes: 256,
            ..TableOptions::default()
        };
        let mut builder = TableBuilder::new(RealFileSystem::shared(), &path, options).unwrap();
        for i in 0..100u32 {
            let key = InternalKey::new(format!("key{i:03}").into_bytes(), 7, ValueKind::Put);
            builder.add(&key.encode(), b"some value bytes").unwrap();
        }
        builder.finish().unwrap();
        let table = Table::open(&RealFileSystem, &path, 3, None).unwrap();

        let entries: Vec<IndexEntry<'_>> = table.index_entries().collect();
        assert_eq!(entries.len(), table.data_block_count());
        assert!(entries.len() > 5, "{} blocks", entries.len());
        let mut next_offset = 0;
        for entry in &entries {
            assert_eq!(entry.handle.offset, next_offset);
            next_offset = entry.handle.end_with_trailer();
            ParsedInternalKey::parse(entry.separator).unwrap();
        }
        let layout = table.layout().unwrap();
        let range_tombstones = layout.range_tombstones.unwrap();
        assert_eq!(range_tombstones.offset, next_offset);
        assert_eq!(layout.filter.offset, range_tombstones.end_with_trailer());
        assert!(layout.properties.offset > layout.filter.offset);
        assert!(layout.index.offset > layout.properties.offset);

        let filter = table.filter_info();
        assert!(filter.bits_bytes >= 100 * 10 / 8, "{filter:?}");
        assert!(filter.probes_count > 0);
    }
}
