//! Field-by-field varint encoding shared by the properties block and the
//! [`crate::TableMeta`] record: unsigned varints, length-prefixed byte
//! strings and internal keys (`len: varint | encoded key`).

use bytes::Bytes;
use seer_core::varint::{get_varint64, put_varint64};
use seer_core::{DecodeError, InternalKey};

/// Appends a length-prefixed byte string.
pub(crate) fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a length-prefixed encoded internal key.
pub(crate) fn put_internal_key(out: &mut Vec<u8>, key: &InternalKey) {
    put_varint64(out, key.encoded_len() as u64);
    key.encode_into(out);
}

/// Reads fields from the front of a byte string.
#[derive(Debug)]
pub(crate) struct FieldReader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> FieldReader<'a> {
    /// A reader at the start of `input`.
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, position: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    /// Whether every byte was consumed.
    pub(crate) fn is_at_end(&self) -> bool {
        self.position == self.input.len()
    }

    /// The next varint.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let (value, used) = get_varint64(&self.input[self.position..])?;
        self.position += used;
        Ok(value)
    }

    /// The next varint, which must fit a `u32`.
    pub(crate) fn varint_u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let value = self.varint()?;
        u32::try_from(value).map_err(|_| DecodeError::Invalid {
            what,
            detail: format!("{value} does not fit 32 bits"),
        })
    }

    /// The next length-prefixed byte string.
    pub(crate) fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let rest = &self.input[self.position..];
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= rest.len())
            .ok_or(DecodeError::Truncated { what })?;
        self.position += len;
        Ok(&rest[..len])
    }

    /// The next length-prefixed internal key.
    pub(crate) fn internal_key(&mut self, what: &'static str) -> Result<InternalKey, DecodeError> {
        let encoded = self.length_prefixed(what)?;
        InternalKey::decode(&Bytes::copy_from_slice(encoded))
    }
}
