//! A consistent read view of the latest committed state.

pub use chorus_chain::state::KeyValues;
use chorus_chain::state::{StateRead, StorageError};
use redb::{ReadOnlyTable, ReadTransaction};

use crate::db::EMPTY_ROOT;
use crate::error::Error;
use crate::tables::STATE;

/// Read view of the state as of one committed height (a redb read transaction). Returned by
/// [`crate::Db::snapshot`]; later commits do not change what it sees.
///
/// Its [`StateRead`] implementation reports a failing storage engine (I/O error, corruption) as
/// a [`StorageError`]: block execution then stops instead of committing, and the host halts.
/// [`Snapshot::try_get`] / [`Snapshot::try_scan_prefix`] keep the engine's typed error.
pub struct Snapshot {
    state: ReadOnlyTable<&'static [u8], &'static [u8]>,
    latest: Option<(u64, [u8; 32])>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("latest", &self.latest).finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(crate) fn new(
        rtx: &ReadTransaction,
        latest: Option<(u64, [u8; 32])>,
    ) -> Result<Snapshot, Error> {
        Ok(Snapshot { state: rtx.open_table(STATE)?, latest })
    }

    /// The height this snapshot shows (`None`: empty database).
    pub fn height(&self) -> Option<u64> {
        self.latest.map(|(h, _)| h)
    }

    /// The state root of that height ([`EMPTY_ROOT`] on an empty database).
    pub fn state_root(&self) -> [u8; 32] {
        self.latest.map_or(EMPTY_ROOT, |(_, r)| r)
    }

    /// The value at `key`.
    pub fn try_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.state.get(key)?.map(|v| v.value().to_vec()))
    }

    /// All pairs whose key starts with `prefix`, ascending by key.
    pub fn try_scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, Error> {
        let mut out = Vec::new();
        for entry in self.state.range(prefix..)? {
            let (k, v) = entry?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

impl StateRead for Snapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.try_get(key).map_err(|e| StorageError(e.to_string()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, StorageError> {
        self.try_scan_prefix(prefix).map_err(|e| StorageError(e.to_string()))
    }
}
