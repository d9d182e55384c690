//! [`VersionEdit`]: one change to the tree's shape, and its binary encoding
//! (the payload of one manifest frame; see `docs/FORMATS.md`, "Manifest").
//!
//! Encoding: `format_version: u8` (1, or 2 for an edit with a keyspace
//! field, tags 8 to 10, which code before keyspaces cannot read), then
//! fields until the end, each a tag byte and a body (all numbers varints):
//!
//! | tag | field | body |
//! |---|---|---|
//! | 1 | log number | `log_number` |
//! | 2 | next file number | `next_file_number` |
//! | 3 | last sequence | `last_seq` |
//! | 4 | policy | `T`, `K`, `Z` |
//! | 5 | merge operator | `len`, UTF-8 name |
//! | 6 | removed table | `level`, `file_number` |
//! | 7 | added table | `level`, `run_id`, `len`, table meta (seer-sstable encoding) |
//! | 8 | keyspace created | `id`, `len`, UTF-8 name |
//! | 9 | keyspace dropped | `id` |
//! | 10 | next keyspace id | `next_keyspace_id` |
//!
//! The keyspace fields are the registry of the database's named keyspaces,
//! recorded in the default keyspace's manifest only (each keyspace's own
//! tree has its own manifest, in its own directory).
//!
//! Applying an edit removes tables first and then adds, so one edit can move
//! a table between levels.

use std::sync::Arc;

use seer_core::varint::{get_varint64, put_varint64};
use seer_core::{DecodeError, SeqNo};

use crate::policy::PolicyParams;
use crate::TableMeta;

/// The version of the edit encoding written by this code for an edit
/// without keyspace fields (the only one code before keyspaces reads).
pub const EDIT_FORMAT_VERSION: u8 = 1;

/// The version of the edit encoding of an edit with a keyspace field.
pub const KEYSPACE_EDIT_FORMAT_VERSION: u8 = 2;

const TAG_LOG_NUMBER: u8 = 1;
const TAG_NEXT_FILE_NUMBER: u8 = 2;
const TAG_LAST_SEQ: u8 = 3;
const TAG_POLICY: u8 = 4;
const TAG_MERGE_OPERATOR: u8 = 5;
const TAG_REMOVED_TABLE: u8 = 6;
const TAG_ADDED_TABLE: u8 = 7;
const TAG_KEYSPACE_CREATED: u8 = 8;
const TAG_KEYSPACE_DROPPED: u8 = 9;
const TAG_NEXT_KEYSPACE_ID: u8 = 10;

/// A table added to a level's sorted run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedTable {
    /// The level (0 is the flush level).
    pub level: usize,
    /// The run it joins; runs of a level order by id, largest (newest) first.
    pub run_id: u64,
    /// The table.
    pub meta: Arc<TableMeta>,
}

/// A table removed from a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovedTable {
    /// The level it was on.
    pub level: usize,
    /// Its file number.
    pub file_number: u64,
}

/// One atomic change to the tree and the database's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionEdit {
    /// Tables removed (applied before the additions).
    pub removed_tables: Vec<RemovedTable>,
    /// Tables added.
    pub added_tables: Vec<AddedTable>,
    /// WAL segments numbered below this are no longer needed.
    pub log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The largest sequence number durable in tables.
    pub last_seq: Option<SeqNo>,
    /// The compaction policy in force.
    pub policy: Option<PolicyParams>,
    /// The merge operator's name, so the DB is not reopened with another.
    pub merge_operator_name: Option<String>,
    /// Keyspaces created, as `(id, name)` (applied before the drops).
    pub created_keyspaces: Vec<(u32, String)>,
    /// Ids of keyspaces dropped.
    pub dropped_keyspaces: Vec<u32>,
    /// The next unused keyspace id (ids are never reused, so no WAL record
    /// of a dropped keyspace is replayed into a new one).
    pub next_keyspace_id: Option<u32>,
}

impl VersionEdit {
    /// An empty edit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `meta` joins run `run_id` of `level`.
    pub fn add_table(&mut self, level: usize, run_id: u64, meta: Arc<TableMeta>) -> &mut Self {
        self.added_tables.push(AddedTable {
            level,
            run_id,
            meta,
        });
        self
    }

    /// Records that table `file_number` leaves `level`.
    pub fn remove_table(&mut self, level: usize, file_number: u64) -> &mut Self {
        self.removed_tables
            .push(RemovedTable { level, file_number });
        self
    }

    /// Whether the edit has a keyspace field (and so encodes as
    /// [`KEYSPACE_EDIT_FORMAT_VERSION`]).
    fn has_keyspace_fields(&self) -> bool {
        !self.created_keyspaces.is_empty()
            || !self.dropped_keyspaces.is_empty()
            || self.next_keyspace_id.is_some()
    }

    /// The encoding, starting with [`EDIT_FORMAT_VERSION`] (or
    /// [`KEYSPACE_EDIT_FORMAT_VERSION`] for an edit with a keyspace field).
    pub fn encode(&self) -> Vec<u8> {
        let version = if self.has_keyspace_fields() {
            KEYSPACE_EDIT_FORMAT_VERSION
        } else {
            EDIT_FORMAT_VERSION
        };
        let mut out = vec![version];
        let scalars = [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_NEXT_FILE_NUMBER, self.next_file_number),
            (TAG_LAST_SEQ, self.last_seq),
            (TAG_NEXT_KEYSPACE_ID, self.next_keyspace_id.map(u64::from)),
        ];
        for (tag, value) in scalars {
            if let Some(value) = value {
                out.push(tag);
                put_varint64(&mut out, value);
            }
        }
        if let Some(policy) = self.policy {
            out.push(TAG_POLICY);
            put_varint64(&mut out, u64::from(policy.size_ratio_t()));
            put_varint64(&mut out, u64::from(policy.runs_per_level_k()));
            put_varint64(&mut out, u64::from(policy.runs_at_largest_z()));
        }
        if let Some(name) = &self.merge_operator_name {
            out.push(TAG_MERGE_OPERATOR);
            put_varint64(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
        for removed in &self.removed_tables {
            out.push(TAG_REMOVED_TABLE);
            put_varint64(&mut out, removed.level as u64);
            put_varint64(&mut out, removed.file_number);
        }
        for added in &self.added_tables {
            out.push(TAG_ADDED_TABLE);
            put_varint64(&mut out, added.level as u64);
            put_varint64(&mut out, added.run_id);
            let meta = encode_meta(&added.meta);
            put_varint64(&mut out, meta.len() as u64);
            out.extend_from_slice(&meta);
        }
        for (id, name) in &self.created_keyspaces {
            out.push(TAG_KEYSPACE_CREATED);
            put_varint64(&mut out, u64::from(*id));
            put_varint64(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
        for id in &self.dropped_keyspaces {
            out.push(TAG_KEYSPACE_DROPPED);
            put_varint64(&mut out, u64::from(*id));
        }
        out
    }

    /// Decodes an encoded edit; any malformed or trailing byte is an error.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader { input, position: 0 };
        let version = reader.byte("edit format version")?;
        if version != EDIT_FORMAT_VERSION && version != KEYSPACE_EDIT_FORMAT_VERSION {
            return Err(invalid(
                "edit format version",
                format!("unknown version {version}"),
            ));
        }
        let mut edit = Self::new();
        while reader.position < input.len() {
            edit.decode_field(&mut reader)?;
        }
        Ok(edit)
    }

    fn decode_field(&mut self, reader: &mut Reader<'_>) -> Result<(), DecodeError> {
        match reader.byte("edit tag")? {
            TAG_LOG_NUMBER => self.log_number = Some(reader.varint()?),
            TAG_NEXT_FILE_NUMBER => self.next_file_number = Some(reader.varint()?),
            TAG_LAST_SEQ => self.last_seq = Some(reader.varint()?),
            TAG_POLICY => {
                let t = reader.varint32("policy T")?;
                let k = reader.varint32("policy K")?;
                let z = reader.varint32("policy Z")?;
                let policy = PolicyParams::new(t, k, z)
                    .map_err(|error| invalid("policy", error.to_string()))?;
                self.policy = Some(policy);
            }
            TAG_MERGE_OPERATOR => {
                let bytes = reader.length_prefixed("merge operator name")?;
                let name = std::str::from_utf8(bytes)
                    .map_err(|error| invalid("merge operator name", error.to_string()))?;
                self.merge_operator_name = Some(name.to_owned());
            }
            TAG_REMOVED_TABLE => {
                let level = reader.level()?;
                let file_number = reader.varint()?;
                self.remove_table(level, file_number);
            }
            TAG_ADDED_TABLE => {
                let level = reader.level()?;
                let run_id = reader.varint()?;
                let bytes = reader.length_prefixed("table meta")?;
                let (meta, used) = TableMeta::decode(bytes)?;
                if used != bytes.len() {
                    return Err(invalid("table meta", "trailing bytes".to_owned()));
                }
                self.add_table(level, run_id, Arc::new(meta));
            }
            TAG_KEYSPACE_CREATED => {
                let id = reader.varint32("keyspace id")?;
                let bytes = reader.length_prefixed("keyspace name")?;
                let name = std::str::from_utf8(bytes)
                    .map_err(|error| invalid("keyspace name", error.to_string()))?;
                self.created_keyspaces.push((id, name.to_owned()));
            }
            TAG_KEYSPACE_DROPPED => {
                let id = reader.varint32("keyspace id")?;
                self.dropped_keyspaces.push(id);
            }
            TAG_NEXT_KEYSPACE_ID => {
                self.next_keyspace_id = Some(reader.varint32("next keyspace id")?);
            }
            other => return Err(invalid("edit tag", format!("unknown tag {other}"))),
        }
        Ok(())
    }
}

fn encode_meta(meta: &TableMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    meta.encode_into(&mut out);
    out
}

fn invalid(what: &'static str, detail: String) -> DecodeError {
    DecodeError::Invalid { what, detail }
}

/// The most levels an edit may name.
pub const MAX_LEVELS: usize = 64;

struct Reader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.input[self.position..]
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let byte = *self.rest().first().ok_or(DecodeError::Truncated { what })?;
        self.position += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let (value, used) = get_varint64(self.rest())?;
        self.position += used;
        Ok(value)
    }

    fn varint32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let value = self.varint()?;
        u32::try_from(value).map_err(|_| invalid(what, format!("{value} does not fit 32 bits")))
    }

    fn level(&mut self) -> Result<usize, DecodeError> {
        let level = self.varint()?;
        if level >= MAX_LEVELS as u64 {
            return Err(invalid("level", format!("{level} >= {MAX_LEVELS}")));
        }
        Ok(level as usize)
    }

    fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let rest = self.rest();
        if len > rest.len() as u64 {
            return Err(DecodeError::Truncated { what });
        }
        let bytes = &rest[..len as usize];
        self.position += len as usize;
        Ok(bytes)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use seer_core::{InternalKey, ValueKind};

    /// A table of `file_number` spanning user keys `smallest..=largest`.
    pub(crate) fn table(
        file_number: u64,
        smallest: &str,
        largest: &str,
        size: u64,
    ) -> Arc<TableMeta> {
        Arc::new(TableMeta {
            file_number,
            file_size_bytes: size,
            smallest: InternalKey::new(
                Bytes::copy_from_slice(smallest.as_bytes()),
                9,
                ValueKind::Put,
            ),
            largest: InternalKey::new(
                Bytes::copy_from_slice(largest.as_bytes()),
                1,
                ValueKind::Put,
            ),
            smallest_seq: 1,
            largest_seq: 9,
            entry_count: size / 100,
            tombstone_count: 0,
            merge_count: 0,
            raw_key_bytes: size / 10,
            raw_value_bytes: size / 2,
            earliest_expiry_unix_ms: None,
        })
    }

    #[test]
    fn full_edit_round_trips() {
        let mut edit = VersionEdit {
            log_number: Some(7),
            next_file_number: Some(90),
            last_seq: Some(1 << 50),
            policy: Some(PolicyParams::lazy_leveling(8).unwrap()),
            merge_operator_name: Some("seerdb.u64_add".to_owned()),
            ..VersionEdit::default()
        };
        edit.remove_table(3, 12)
            .add_table(4, 80, table(81, "a", "m", 4096));
        let encoded = edit.encode();
        assert_eq!(encoded[0], EDIT_FORMAT_VERSION);
        assert_eq!(VersionEdit::decode(&encoded).unwrap(), edit);
        assert_eq!(VersionEdit::decode(&[1]).unwrap(), VersionEdit::new());
    }

    /// The keyspace registry's fields round-trip, and only an edit with
    /// one is written as format version 2 (so a database that never made a
    /// keyspace stays readable by code before keyspaces).
    #[test]
    fn keyspace_fields_round_trip_as_format_version_2() {
        let edit = VersionEdit {
            created_keyspaces: vec![(1, "raft-log".to_owned()), (300, "état".to_owned())],
            dropped_keyspaces: vec![1],
            next_keyspace_id: Some(301),
            ..VersionEdit::default()
        };
        let encoded = edit.encode();
        assert_eq!(encoded[0], KEYSPACE_EDIT_FORMAT_VERSION);
        assert_eq!(VersionEdit::decode(&encoded).unwrap(), edit);
        let plain = VersionEdit {
            log_number: Some(3),
            ..VersionEdit::default()
        };
        assert_eq!(plain.encode()[0], EDIT_FORMAT_VERSION);
        // A name cut short is an error, not a shorter name.
        let mut cut = VersionEdit {
            created_keyspaces: vec![(1, "raft-log".to_owned())],
            ..VersionEdit::default()
        }
        .encode();
        cut.pop();
        assert!(VersionEdit::decode(&cut).is_err());
    }

    #[test]
    fn malformed_edits_are_errors() {
        assert!(VersionEdit::decode(&[]).is_err());
        assert!(VersionEdit::decode(&[3]).is_err());
        assert!(VersionEdit::decode(&[1, 99]).is_err());
        assert!(VersionEdit::decode(&[1, TAG_POLICY, 10, 0, 1]).is_err());
        assert!(VersionEdit::decode(&[1, TAG_REMOVED_TABLE, 64, 1]).is_err());
        let mut edit = VersionEdit::new();
        edit.add_table(1, 2, table(3, "a", "b", 100));
        let encoded = edit.encode();
        for cut in 2..encoded.len() {
            assert!(
                VersionEdit::decode(&encoded[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = VersionEdit::decode(&bytes);
        }
    }
}
