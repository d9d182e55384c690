//! LEB128 varints: seven bits per byte, low bits first, high bit set on every
//! byte but the last. A `u64` takes at most [`MAX_VARINT64_BYTES`] bytes.

use crate::DecodeError;

/// The longest encoding of a `u64`.
pub const MAX_VARINT64_BYTES: usize = 10;

/// How many bytes [`put_varint64`] writes for `value`.
#[inline]
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the varint encoding of `value` to `out`.
#[inline]
pub fn put_varint64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes a varint from the front of `input`, returning the value and the
/// number of bytes it used. Overlong encodings beyond ten bytes and values
/// that overflow a `u64` are errors.
#[inline]
pub fn get_varint64(input: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(MAX_VARINT64_BYTES) {
        let low = u64::from(byte & 0x7f);
        if i == MAX_VARINT64_BYTES - 1 && low > 1 {
            return Err(DecodeError::Invalid {
                what: "varint",
                detail: "overflows u64".to_owned(),
            });
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() >= MAX_VARINT64_BYTES {
        Err(DecodeError::Invalid {
            what: "varint",
            detail: "longer than ten bytes".to_owned(),
        })
    } else {
        Err(DecodeError::Truncated { what: "varint" })
    }
}

/// Decodes a varint that must fit a `u32` (lengths, counts).
#[inline]
pub fn get_varint32(input: &[u8]) -> Result<(u32, usize), DecodeError> {
    let (value, used) = get_varint64(input)?;
    let value = u32::try_from(value).map_err(|_| DecodeError::Invalid {
        what: "varint32",
        detail: format!("{value} does not fit 32 bits"),
    })?;
    Ok((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        put_varint64(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(get_varint64(&out), Ok((300, 2)));
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            get_varint64(&[]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            get_varint64(&[0x80, 0x80]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(get_varint64(&[0xff; 11]).is_err());
        assert!(
            get_varint64(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err()
        );
        let mut out = Vec::new();
        put_varint64(&mut out, u64::from(u32::MAX) + 1);
        assert!(get_varint32(&out).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(value: u64, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            put_varint64(&mut out, value);
            prop_assert_eq!(out.len(), varint_len(value));
            out.extend_from_slice(&tail);
            prop_assert_eq!(get_varint64(&out), Ok((value, varint_len(value))));
        }
    }
}
