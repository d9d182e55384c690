//! The data commands, on an open database: `get`, `put`, `delete`, `scan`
//! and `count`. Keys and values are parsed and printed in the chosen
//! [`ByteFormat`]s; with `--json` every printed line is a JSON object.

use std::io::Write;
use std::ops::Bound;

use bytes::Bytes;
use seer_db::DB;

use crate::error::{CliError, Outcome};
use crate::format::{json_string, ByteFormat};

/// How keys and values are read and printed.
#[derive(Debug, Clone, Copy)]
pub struct DataFormats {
    /// Keys, on the command line and in the output.
    pub key: ByteFormat,
    /// Values, on the command line and in the output.
    pub value: ByteFormat,
    /// Print JSON lines instead of text.
    pub json: bool,
}

impl DataFormats {
    /// The key argument `name` given as `text`.
    pub fn parse_key(&self, name: &str, text: &str) -> Result<Vec<u8>, CliError> {
        self.key
            .parse(text)
            .map_err(|problem| CliError::argument(name, &problem))
    }

    fn parse_value(&self, text: &str) -> Result<Vec<u8>, CliError> {
        self.value
            .parse(text)
            .map_err(|problem| CliError::argument("VALUE", &problem))
    }

    /// One `key value` line (tab-separated), or `{"key":..,"value":..}`.
    fn pair(&self, key: &[u8], value: Option<&[u8]>) -> String {
        let key_text = self.key.render(key);
        if !self.json {
            return match value {
                Some(value) => format!("{key_text}\t{}", self.value.render(value)),
                None => key_text,
            };
        }
        let value_json = value.map_or_else(
            || "null".to_owned(),
            |value| json_string(&self.value.render(value)),
        );
        format!(
            "{{\"key\":{},\"value\":{value_json}}}",
            json_string(&key_text)
        )
    }
}

/// Which keys `scan` and `count` visit.
#[derive(Debug, Clone, Default)]
pub struct KeySelection {
    /// The first key (inclusive).
    pub from: Option<Vec<u8>>,
    /// The key to stop before (exclusive).
    pub to: Option<Vec<u8>>,
    /// Only keys that start with these bytes.
    pub prefix: Option<Vec<u8>>,
}

impl KeySelection {
    /// The `(key, value)` pairs selected, in key order (descending when
    /// `reverse`).
    fn pairs<'a>(
        &'a self,
        db: &DB,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = seer_db::Result<(Bytes, Bytes)>> + 'a> {
        let iter = match (&self.prefix, &self.from, &self.to) {
            (Some(prefix), None, None) => db.prefix(prefix),
            _ => {
                // A prefix's keys are contiguous: with bounds too, the range
                // from the later start is read and cut to the prefix.
                let start = match (&self.from, &self.prefix) {
                    (Some(from), Some(prefix)) => Some(from.max(prefix)),
                    (from, prefix) => from.as_ref().or(prefix.as_ref()),
                };
                let start = start.map_or(Bound::Unbounded, |key| Bound::Included(key.clone()));
                let end = self.to.clone().map_or(Bound::Unbounded, Bound::Excluded);
                db.range((start, end))
            }
        };
        let iter: Box<dyn Iterator<Item = _>> = if reverse {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        let Some(prefix) = &self.prefix else {
            return iter;
        };
        let in_prefix = move |item: &seer_db::Result<(Bytes, Bytes)>| {
            item.as_ref()
                .map_or(true, |(key, _)| key.starts_with(prefix))
        };
        Box::new(
            iter.skip_while(move |item| !in_prefix(item))
                .take_while(in_prefix),
        )
    }
}

/// `seer get DB KEY`: the value, or [`Outcome::Negative`] when absent.
pub fn get(
    db: &DB,
    key: &[u8],
    formats: DataFormats,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let value = db.get(key).map_err(|e| CliError::from_db(db.path(), &e))?;
    if formats.json {
        writeln!(out, "{}", formats.pair(key, value.as_deref()))?;
    } else if let Some(value) = &value {
        writeln!(out, "{}", formats.value.render(value))?;
    } else {
        // Standard error, so a script reading the value reads nothing.
        let _ = writeln!(
            std::io::stderr(),
            "seer: key {} has no value",
            formats.key.render(key)
        );
    }
    Ok(match value {
        Some(_) => Outcome::Ok,
        None => Outcome::Negative,
    })
}

/// `seer put DB KEY VALUE`.
pub fn put(
    db: &DB,
    key: &[u8],
    value_text: &str,
    formats: DataFormats,
) -> Result<Outcome, CliError> {
    let value = formats.parse_value(value_text)?;
    db.put(key, value)
        .map_err(|e| CliError::from_db(db.path(), &e))?;
    Ok(Outcome::Ok)
}

/// `seer delete DB KEY`.
pub fn delete(db: &DB, key: &[u8]) -> Result<Outcome, CliError> {
    db.delete(key)
        .map_err(|e| CliError::from_db(db.path(), &e))?;
    Ok(Outcome::Ok)
}

/// `seer scan DB`: up to `limit` selected pairs, one a line.
pub fn scan(
    db: &DB,
    selection: &KeySelection,
    reverse: bool,
    limit: Option<u64>,
    formats: DataFormats,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let limit = limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    for item in selection.pairs(db, reverse).take(limit) {
        let (key, value) = item.map_err(|e| CliError::from_db(db.path(), &e))?;
        writeln!(out, "{}", formats.pair(&key, Some(&value)))?;
    }
    Ok(Outcome::Ok)
}

/// `seer count DB`: how many keys are selected.
pub fn count(
    db: &DB,
    selection: &KeySelection,
    formats: DataFormats,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let mut count = 0u64;
    for item in selection.pairs(db, false) {
        item.map_err(|e| CliError::from_db(db.path(), &e))?;
        count += 1;
    }
    if formats.json {
        writeln!(out, "{{\"count\":{count}}}")?;
    } else {
        writeln!(out, "{count}")?;
    }
    Ok(Outcome::Ok)
}
