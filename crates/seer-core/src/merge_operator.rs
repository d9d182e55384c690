//! The merge operator: read-modify-write without a read.
//!
//! A merge writes an *operand*; readers and compactions combine the operands
//! of a key with its base value (the newest put below them, or none when a
//! tombstone or nothing lies below) by calling [`MergeOperator::full_merge`].
//! Compactions that do not reach a base may collapse adjacent operands with
//! [`MergeOperator::partial_merge`].

use bytes::Bytes;

/// A merge operator failed: the operands or base are not what it expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("merge operator {operator} failed: {reason}")]
pub struct MergeError {
    /// The operator's name.
    pub operator: String,
    /// Why it failed.
    pub reason: String,
}

/// Combines merge operands with a base value.
///
/// Implementations must be deterministic and associative in the sense that
/// `full_merge(base, a ++ b) == full_merge(full_merge(base, a), b)`, and, where
/// `partial_merge` returns a value, `full_merge(base, [partial(ops)])` equals
/// `full_merge(base, ops)`.
///
/// An operator of one's own:
///
/// ```
/// use bytes::Bytes;
/// use seer_core::{MergeError, MergeOperator};
///
/// /// Keeps the largest value (compared as bytes).
/// struct Max;
///
/// impl MergeOperator for Max {
///     fn name(&self) -> &str {
///         "example.max"
///     }
///
///     fn full_merge(
///         &self,
///         _key: &[u8],
///         base: Option<&[u8]>,
///         operands: &[Bytes],
///     ) -> Result<Vec<u8>, MergeError> {
///         let values = base.into_iter().chain(operands.iter().map(|o| &o[..]));
///         Ok(values.max().unwrap_or_default().to_vec())
///     }
/// }
///
/// let operands = [Bytes::from_static(b"c"), Bytes::from_static(b"a")];
/// assert_eq!(Max.full_merge(b"k", Some(b"b"), &operands).unwrap(), b"c");
/// ```
pub trait MergeOperator: Send + Sync + 'static {
    /// A stable name, recorded so that a database is not reopened with a
    /// different operator by mistake.
    fn name(&self) -> &str;

    /// The value that results from applying `operands` (oldest first) to
    /// `base` (`None` when the key has no value below the operands).
    fn full_merge(
        &self,
        key: &[u8],
        base: Option<&[u8]>,
        operands: &[Bytes],
    ) -> Result<Vec<u8>, MergeError>;

    /// Collapses `operands` (oldest first, at least two) into one operand, or
    /// `None` when the operator cannot do that without a base.
    fn partial_merge(&self, _key: &[u8], _operands: &[Bytes]) -> Option<Vec<u8>> {
        None
    }
}

/// The built-in operators combine a base exactly like one more (the oldest)
/// operand, so that a partial merge is the full merge of the operands alone:
/// each says only how a run of values combines.
trait Combine: Send + Sync + 'static {
    /// The operator's [`MergeOperator::name`].
    fn name(&self) -> &str;

    /// The values `parts` (oldest first) combined into one.
    fn combine<'a>(&self, parts: impl Iterator<Item = &'a [u8]>) -> Result<Vec<u8>, MergeError>;
}

impl<T: Combine> MergeOperator for T {
    fn name(&self) -> &str {
        Combine::name(self)
    }

    fn full_merge(
        &self,
        _key: &[u8],
        base: Option<&[u8]>,
        operands: &[Bytes],
    ) -> Result<Vec<u8>, MergeError> {
        self.combine(base.into_iter().chain(operands.iter().map(|o| &o[..])))
    }

    fn partial_merge(&self, _key: &[u8], operands: &[Bytes]) -> Option<Vec<u8>> {
        self.combine(operands.iter().map(|o| &o[..])).ok()
    }
}

/// Treats values and operands as little-endian `u64` counters and adds them
/// (wrapping). A missing base counts as zero; an operand or base that is not
/// exactly eight bytes is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct U64AddOperator;

impl U64AddOperator {
    const NAME: &'static str = "seerdb.u64_add";

    fn decode(bytes: &[u8]) -> Result<u64, MergeError> {
        let array: [u8; 8] = bytes.try_into().map_err(|_| MergeError {
            operator: Self::NAME.to_owned(),
            reason: format!("expected 8 bytes, got {}", bytes.len()),
        })?;
        Ok(u64::from_le_bytes(array))
    }
}

impl Combine for U64AddOperator {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn combine<'a>(
        &self,
        mut parts: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Vec<u8>, MergeError> {
        let total = parts.try_fold(0u64, |total, part| {
            Ok::<_, MergeError>(total.wrapping_add(Self::decode(part)?))
        })?;
        Ok(total.to_le_bytes().to_vec())
    }
}

/// Appends operands to the base value, separated by a delimiter.
#[derive(Debug, Clone, Default)]
pub struct StringAppendOperator {
    delimiter: Vec<u8>,
}

impl StringAppendOperator {
    /// An operator joining with `delimiter` (for example `b","`).
    pub fn new(delimiter: impl Into<Vec<u8>>) -> Self {
        Self {
            delimiter: delimiter.into(),
        }
    }
}

impl Combine for StringAppendOperator {
    fn name(&self) -> &str {
        "seerdb.string_append"
    }

    fn combine<'a>(&self, parts: impl Iterator<Item = &'a [u8]>) -> Result<Vec<u8>, MergeError> {
        let mut out = Vec::new();
        for (i, part) in parts.enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            out.extend_from_slice(part);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: u64) -> Bytes {
        Bytes::copy_from_slice(&value.to_le_bytes())
    }

    #[test]
    fn u64_add_sums_and_rejects_bad_lengths() {
        let op = U64AddOperator;
        let merged = op.full_merge(b"k", None, &[n(1), n(2)]).unwrap();
        assert_eq!(merged, 3u64.to_le_bytes());
        let merged = op.full_merge(b"k", Some(&n(10)), &[n(5)]).unwrap();
        assert_eq!(merged, 15u64.to_le_bytes());
        assert!(op.full_merge(b"k", Some(b"abc"), &[n(1)]).is_err());
        assert!(op
            .full_merge(b"k", None, &[Bytes::from_static(b"x")])
            .is_err());
        let partial = op.partial_merge(b"k", &[n(1), n(2)]).unwrap();
        assert_eq!(
            op.full_merge(b"k", Some(&n(4)), &[Bytes::from(partial)])
                .unwrap(),
            7u64.to_le_bytes()
        );
    }

    #[test]
    fn string_append_is_associative_with_partial_merge() {
        let op = StringAppendOperator::new(",");
        let ops = [Bytes::from_static(b"b"), Bytes::from_static(b"c")];
        assert_eq!(op.full_merge(b"k", Some(b"a"), &ops).unwrap(), b"a,b,c");
        assert_eq!(op.full_merge(b"k", None, &ops).unwrap(), b"b,c");
        let partial = Bytes::from(op.partial_merge(b"k", &ops).unwrap());
        assert_eq!(
            op.full_merge(b"k", Some(b"a"), &[partial]).unwrap(),
            b"a,b,c"
        );
    }
}
