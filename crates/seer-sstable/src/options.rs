//! How a table is built: block size, restart interval, compression, bloom
//! bits per key, and the creating level and policy recorded in the
//! properties block.

use crate::error::{Error, Result};

/// The largest block size a builder accepts.
pub const MAX_BLOCK_SIZE_BYTES: usize = 64 << 20;

/// How data blocks are compressed. Meta blocks (filter, properties, index)
/// are always stored uncompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored as built and read zero-copy from the map.
    #[default]
    None,
    /// Blocks are zstd-compressed at `level` when that saves at least an
    /// eighth; they are decompressed once into the block cache.
    Zstd {
        /// The zstd level (1 to 22, or negative for the fast levels).
        level: i32,
    },
}

/// Options of a [`crate::TableBuilder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// A data block is closed once its contents reach this size (before
    /// compression). Default 4 KiB.
    pub block_size_bytes: usize,
    /// Entries between restart points of a data block. Default 16.
    pub restart_interval: usize,
    /// Compression of data blocks. Default none.
    pub compression: Compression,
    /// Bloom filter bits per distinct user key; 0 writes no filter.
    /// Default 10 (about 0.8% false positives).
    pub bloom_bits_per_key: u32,
    /// The LSM level the table is written for, recorded in its properties.
    pub creation_level: Option<u32>,
    /// The policy that wrote the table (e.g. "flush", "leveled"), recorded
    /// in its properties; empty when unknown.
    pub creation_policy: String,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            block_size_bytes: 4096,
            restart_interval: 16,
            compression: Compression::None,
            bloom_bits_per_key: 10,
            creation_level: None,
            creation_policy: String::new(),
        }
    }
}

impl TableOptions {
    /// Checks that the options can build a table.
    pub fn validate(&self) -> Result<()> {
        let reason = if self.block_size_bytes == 0 || self.block_size_bytes > MAX_BLOCK_SIZE_BYTES {
            "block_size_bytes must be in 1..=64 MiB"
        } else if self.restart_interval == 0 || self.restart_interval > u16::MAX as usize {
            "restart_interval must be in 1..=65535"
        } else if self.bloom_bits_per_key > 64 {
            "bloom_bits_per_key must be at most 64"
        } else {
            return Ok(());
        };
        Err(Error::InvalidOptions { reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        TableOptions::default().validate().unwrap();
        let bad = [
            TableOptions {
                block_size_bytes: 0,
                ..TableOptions::default()
            },
            TableOptions {
                restart_interval: 0,
                ..TableOptions::default()
            },
            TableOptions {
                bloom_bits_per_key: 65,
                ..TableOptions::default()
            },
        ];
        for options in bad {
            assert!(options.validate().is_err());
        }
    }
}
