//! The JSON encoding of the adapter's stored records (log entries, vote,
//! log ids, membership, snapshot metadata), with [`Error`] naming the record
//! that failed.

use seer_db::Keyspace;

use crate::error::Error;

/// `value` as JSON.
pub(crate) fn encode<T: serde::Serialize>(
    record: &'static str,
    value: &T,
) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Encode { record, source })
}

/// The `T` encoded in `bytes` by [`encode`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    record: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode { record, source })
}

/// The JSON record under `key` of `keyspace`, if any.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    keyspace: &Keyspace,
    key: &[u8],
    record: &'static str,
) -> Result<Option<T>, Error> {
    keyspace
        .get(key)?
        .map(|bytes| decode(record, &bytes))
        .transpose()
}
