//! redb table definitions and the byte layout of composite keys and values.
//!
//! All multi-byte integers inside keys are big-endian so that byte order equals numeric order.

use redb::TableDefinition;

use crate::error::Error;

/// Latest state, flat: key → value. Deleted keys are removed.
pub(crate) const STATE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("state");
/// JMT nodes: version (u64 BE) ‖ borsh(NibblePath) → borsh(Node). Version first, so one block's
/// nodes are adjacent and inserts append at the right edge of the B-tree.
pub(crate) const JMT_NODES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// JMT values by version: key_hash (32) ‖ version (u64 BE) → 0x00 (deleted) | 0x01 ‖ value.
pub(crate) const JMT_VALUES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("jmt_values");
/// Stale JMT nodes: stale_since_version (u64 BE) ‖ node key as in [`JMT_NODES`] → empty.
pub(crate) const JMT_STALE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("jmt_stale");
/// State root per committed height: height → root (32 bytes).
pub(crate) const ROOTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("roots");
/// Blocks: height → borsh(BlockRow).
pub(crate) const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
/// Block hash (32) → height.
pub(crate) const BLOCK_HASHES: TableDefinition<'_, &[u8], u64> =
    TableDefinition::new("block_hashes");
/// Transaction hash (32) → borsh(TxRow).
pub(crate) const TXS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("txs");
/// Metadata: name → bytes (see the `META_*` constants).
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// `latest`: height (u64 BE) ‖ root (32). Absent on a fresh database.
pub(crate) const META_LATEST: &str = "latest";
/// `history_min`: u64 BE, the oldest height whose tree is intact. Absent = 0.
pub(crate) const META_HISTORY_MIN: &str = "history_min";
/// `schema`: u32 BE.
pub(crate) const META_SCHEMA: &str = "schema";
/// The schema version this build reads and writes.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A row of [`BLOCKS`].
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
pub(crate) struct BlockRow {
    pub(crate) hash: [u8; 32],
    pub(crate) block_bytes: Vec<u8>,
    pub(crate) certificate_bytes: Vec<u8>,
}

/// A row of [`TXS`].
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
pub(crate) struct TxRow {
    pub(crate) height: u64,
    pub(crate) index: u32,
    pub(crate) receipt_bytes: Vec<u8>,
}

/// The [`JMT_NODES`] key of `node_key`, appended to `buf`.
pub(crate) fn push_node_key(
    buf: &mut Vec<u8>,
    node_key: &jmt::storage::NodeKey,
) -> Result<(), Error> {
    buf.extend_from_slice(&node_key.version().to_be_bytes());
    borsh::to_writer(buf, node_key.nibble_path()).map_err(|e| corrupt("jmt_nodes", e.to_string()))
}

/// `key_hash ‖ version BE` written into `buf` (cleared first).
pub(crate) fn value_key(buf: &mut Vec<u8>, key_hash: &[u8; 32], version: u64) {
    buf.clear();
    buf.extend_from_slice(key_hash);
    buf.extend_from_slice(&version.to_be_bytes());
}

/// Parses the version back out of a [`JMT_VALUES`] key.
pub(crate) fn value_key_version(key: &[u8]) -> Result<u64, Error> {
    let tail: [u8; 8] = key
        .get(32..40)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt("jmt_values", "key is not 40 bytes"))?;
    Ok(u64::from_be_bytes(tail))
}

/// Encodes an optional value of [`JMT_VALUES`] into `buf` (cleared first).
pub(crate) fn encode_opt_value(buf: &mut Vec<u8>, value: Option<&[u8]>) {
    buf.clear();
    match value {
        None => buf.push(0),
        Some(v) => {
            buf.reserve(v.len() + 1);
            buf.push(1);
            buf.extend_from_slice(v);
        }
    }
}

/// Decodes a [`JMT_VALUES`] value.
pub(crate) fn decode_opt_value(bytes: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, v)) => Ok(Some(v.to_vec())),
        _ => Err(corrupt("jmt_values", "bad value tag")),
    }
}

/// Encodes the `latest` meta record.
pub(crate) fn encode_latest(height: u64, root: &[u8; 32]) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&height.to_be_bytes());
    out[8..].copy_from_slice(root);
    out
}

/// Decodes the `latest` meta record.
pub(crate) fn decode_latest(bytes: &[u8]) -> Result<(u64, [u8; 32]), Error> {
    if bytes.len() != 40 {
        return Err(corrupt("meta", "latest is not 40 bytes"));
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&bytes[..8]);
    let mut root = [0u8; 32];
    root.copy_from_slice(&bytes[8..]);
    Ok((u64::from_be_bytes(h), root))
}

/// Decodes a u64 BE meta value.
pub(crate) fn decode_u64(table: &'static str, bytes: &[u8]) -> Result<u64, Error> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| corrupt(table, "expected 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

/// Decodes a 32-byte hash.
pub(crate) fn decode_hash(table: &'static str, bytes: &[u8]) -> Result<[u8; 32], Error> {
    bytes.try_into().map_err(|_| corrupt(table, "expected 32 bytes"))
}

/// A [`Error::Corrupt`].
pub(crate) fn corrupt(table: &'static str, reason: impl Into<String>) -> Error {
    Error::Corrupt { table, reason: reason.into() }
}

/// borsh-decodes a row, mapping failures to [`Error::Corrupt`].
pub(crate) fn decode_row<T: borsh::BorshDeserialize>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    borsh::from_slice(bytes).map_err(|e| corrupt(table, e.to_string()))
}
