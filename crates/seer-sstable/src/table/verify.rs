//! [`Table::verify_checksums`]: a whole-file checksum check of an open
//! table that decodes no entry and decompresses no block.

use super::Table;
use crate::error::{Error, Result};
use crate::footer::Footer;
use crate::format::{BlockHandle, RawBlock};

impl Table {
    /// Checks the checksum of every block of the table: each data block in
    /// file order, then the footer, then the filter, properties and index
    /// blocks. Entries are not decoded and compressed blocks are not
    /// decompressed (the checksum covers the stored bytes). `open` checks
    /// the footer and the meta blocks already; checking them again catches
    /// damage to the file since. Does not use or fill the block cache.
    ///
    /// The error is [`Error::Corruption`] naming the file and the offset of
    /// the first damaged block (its first byte), or of the footer.
    pub fn verify_checksums(&self) -> Result<()> {
        for block_index in 0..self.index.len() {
            let handle = self.index.handle(block_index).unwrap_or_default();
            self.verify_block(handle, "data block")?;
        }
        let footer = self.decode_footer()?;
        for (what, handle) in footer.meta_blocks() {
            self.verify_block(handle, what)?;
        }
        Ok(())
    }

    pub(super) fn decode_footer(&self) -> Result<Footer> {
        Footer::decode_at_end(&self.file)
            .map(|(footer, _)| footer)
            .map_err(|e| Error::corruption(&self.path, self.footer_start, e.reason))
    }

    fn verify_block(&self, handle: BlockHandle, what: &'static str) -> Result<()> {
        RawBlock::slice(&self.file, handle)
            .and_then(|raw| raw.verify(what))
            .map_err(|e| Error::corruption(&self.path, handle.offset, e.reason))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use bytes::Bytes;
    use seer_core::{InternalKey, RealFileSystem, ValueKind};

    use super::*;
    use crate::error::CorruptionReason;
    use crate::{Compression, TableBuilder, TableOptions};

    /// A table of a few dozen 1 KiB blocks, opened from its bytes.
    fn build(compression: Compression) -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000001.sst");
        let options = TableOptions {
            compression,
            block_size_bytes: 1024,
            ..TableOptions::default()
        };
        let mut builder = TableBuilder::new(RealFileSystem::shared(), &path, options).unwrap();
        for i in 0..400u32 {
            let key = InternalKey::new(format!("key{i:05}").into_bytes(), 1000, ValueKind::Put);
            let value = format!("value number {i} ").repeat(3);
            builder.add(&key.encode(), value.as_bytes()).unwrap();
        }
        builder.finish().unwrap();
        let table = Table::open(&RealFileSystem, &path, 1, None).unwrap();
        (dir, table)
    }

    /// Every block as (what, first byte, end with trailer), in file order,
    /// and the footer.
    fn regions(table: &Table) -> Vec<(&'static str, usize, usize)> {
        let span = |h: BlockHandle| (h.offset as usize, h.end_with_trailer() as usize);
        let mut regions: Vec<_> = (0..table.index.len())
            .map(|i| {
                let (start, end) = span(table.index.handle(i).unwrap());
                ("data block", start, end)
            })
            .collect();
        let footer = table.decode_footer().unwrap();
        for (what, handle) in footer.meta_blocks() {
            let (start, end) = span(handle);
            regions.push((what, start, end));
        }
        let footer_start = table.footer_start as usize;
        regions.push(("footer", footer_start, table.file.len()));
        regions
    }

    /// `table` reading `bytes` instead of its file, as if the file had been
    /// damaged after open.
    fn with_bytes(table: &mut Table, original: &Bytes, flips: &[usize]) {
        let mut bytes = original.to_vec();
        for &at in flips {
            bytes[at] ^= 0x10;
        }
        table.file = Bytes::from(bytes);
    }

    fn check_every_region(compression: Compression) {
        let (_dir, mut table) = build(compression);
        table.verify_checksums().unwrap();
        let original = table.file.clone();
        let path: PathBuf = table.path.clone();
        let regions = regions(&table);
        assert!(regions.len() > 10, "too few blocks: {regions:?}");
        for &(what, start, end) in &regions {
            for at in [start, start + (end - start) / 2, end - 1] {
                with_bytes(&mut table, &original, &[at]);
                match table.verify_checksums() {
                    Err(Error::Corruption {
                        file,
                        offset,
                        reason,
                    }) => {
                        assert_eq!((file, offset), (path.clone(), start as u64), "{what} {at}");
                        if what != "footer" {
                            assert!(
                                matches!(reason, CorruptionReason::BadChecksum { what: w, .. } if w == what),
                                "{what} at {at}: {reason}"
                            );
                        }
                    }
                    other => panic!("{what} flip at {at} not caught: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_flip_in_every_region_names_its_block_uncompressed() {
        check_every_region(Compression::None);
    }

    #[test]
    fn a_flip_in_every_region_names_its_block_zstd() {
        check_every_region(Compression::Zstd { level: 3 });
    }

    #[test]
    fn the_first_damaged_data_block_is_named() {
        let (_dir, mut table) = build(Compression::None);
        let original = table.file.clone();
        let regions = regions(&table);
        let (second, third) = (regions[1], regions[2]);
        with_bytes(&mut table, &original, &[third.1 + 3, second.2 - 1]);
        let error = table.verify_checksums().unwrap_err();
        assert!(
            matches!(error, Error::Corruption { offset, .. } if offset == second.1 as u64),
            "{error}"
        );
    }
}
