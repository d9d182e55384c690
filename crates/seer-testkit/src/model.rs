//! The model of the database's contents: a `BTreeMap` from key to value
//! that applies puts, deletes and merges as seer-db does with a
//! `StringAppendOperator` joining operands with [`MERGE_DELIMITER`], and
//! the same writes as a seer-db [`Batch`].

use std::collections::BTreeMap;

use seer_db::Batch;

/// The delimiter of the string-append merge operator the model assumes.
pub const MERGE_DELIMITER: &[u8] = b",";

/// Expected contents: key -> value.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One user-level write, as the model applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets the key's value.
    Put(Vec<u8>, Vec<u8>),
    /// Removes the key.
    Delete(Vec<u8>),
    /// Appends the operand to the key's value, after [`MERGE_DELIMITER`]
    /// when the key has a value.
    Merge(Vec<u8>, Vec<u8>),
    /// Removes every key in `start..end` (nothing when `start >= end`).
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Applies `op` to `model` as seer-db with a `StringAppendOperator(",")`
/// would.
pub fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Put(key, value) => {
            model.insert(key.clone(), value.clone());
        }
        Op::Delete(key) => {
            model.remove(key);
        }
        Op::Merge(key, operand) => {
            let merged = match model.remove(key) {
                Some(mut base) => {
                    base.extend_from_slice(MERGE_DELIMITER);
                    base.extend_from_slice(operand);
                    base
                }
                None => operand.clone(),
            };
            model.insert(key.clone(), merged);
        }
        Op::DeleteRange(start, end) => {
            model.retain(|key, _| !(start <= key && key < end));
        }
    }
}

/// Applies `ops` to `model` in order.
pub fn apply_all(model: &mut Model, ops: &[Op]) {
    for op in ops {
        apply(model, op);
    }
}

/// A batch of `ops`, in order.
pub fn batch_of(ops: &[Op]) -> Batch {
    let mut batch = Batch::new();
    for op in ops {
        match op {
            Op::Put(key, value) => batch.put(key, value),
            Op::Delete(key) => batch.delete(key),
            Op::Merge(key, operand) => batch.merge(key, operand),
            Op::DeleteRange(start, end) => batch.delete_range(start.as_slice()..end.as_slice()),
        };
    }
    batch
}

/// `model` with keys and values shown as (lossy) UTF-8, for failure
/// messages.
pub fn describe(model: &Model) -> String {
    let entries: Vec<String> = model
        .iter()
        .map(|(key, value)| {
            format!(
                "{:?}: {:?}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(value)
            )
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_append_after_the_delimiter_and_restart_after_a_delete() {
        let mut model = Model::new();
        apply_all(
            &mut model,
            &[
                Op::Merge(b"k".to_vec(), b"a".to_vec()),
                Op::Merge(b"k".to_vec(), b"b".to_vec()),
                Op::Put(b"j".to_vec(), b"x".to_vec()),
                Op::Delete(b"j".to_vec()),
            ],
        );
        assert_eq!(model.get(b"k".as_slice()), Some(&b"a,b".to_vec()));
        assert_eq!(model.get(b"j".as_slice()), None);
        apply(&mut model, &Op::Delete(b"k".to_vec()));
        apply(&mut model, &Op::Merge(b"k".to_vec(), b"c".to_vec()));
        assert_eq!(model.get(b"k".as_slice()), Some(&b"c".to_vec()));
    }
}
