//! A consistent read view of the latest committed state.

use chorus_chain::state::StateRead;
use redb::{ReadOnlyTable, ReadTransaction};

use crate::db::EMPTY_ROOT;
use crate::error::Error;
use crate::tables::STATE;

/// `(key, value)` pairs in key order, as returned by prefix scans.
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

/// Read view of the state as of one committed height (a redb read transaction). Returned by
/// [`crate::Db::snapshot`]; later commits do not change what it sees.
///
/// Its [`StateRead`] implementation panics if the storage engine fails mid-read (I/O error or
/// corruption): the state machine cannot continue deterministically past such a failure, and
/// the trait has no error channel. Use [`Snapshot::try_get`] / [`Snapshot::try_scan_prefix`]
/// where an error can be handled.
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
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.try_get(key) {
            Ok(v) => v,
            Err(e) => panic!("chorus-db: state read failed, cannot continue: {e}"),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self.try_scan_prefix(prefix) {
            Ok(v) => v,
            Err(e) => panic!("chorus-db: state scan failed, cannot continue: {e}"),
        }
    }
}
