//! Typed borsh reads and writes over raw state.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::TxError;
use crate::state::{StateDelta, StateRead};

/// Reads and decodes `key`; a value that does not decode is [`TxError::CorruptState`], a failed
/// read [`TxError::Storage`].
pub(crate) fn read<T: BorshDeserialize>(
    state: &dyn StateRead,
    key: &[u8],
) -> Result<Option<T>, TxError> {
    match state.get(key)? {
        None => Ok(None),
        Some(bytes) => borsh::from_slice(&bytes).map(Some).map_err(|_| TxError::corrupt(key)),
    }
}

/// Encodes and writes `value` at `key`.
pub(crate) fn write<T: BorshSerialize>(delta: &mut StateDelta<'_>, key: Vec<u8>, value: &T) {
    // borsh into a Vec cannot fail for the plain data types stored here.
    delta.put(key, borsh::to_vec(value).unwrap_or_default());
}
