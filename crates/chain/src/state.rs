//! Read access to state, change sets, an in-memory state and a copy-on-write overlay.
//!
//! The state machine reads a snapshot through [`StateRead`] and writes into a [`StateDelta`]; the
//! result is a [`ChangeSet`] the host persists atomically. Keys are bytes built in
//! `crate::state_key`; values are borsh.

use std::collections::BTreeMap;
use std::ops::Bound;

/// The storage under a [`StateRead`] failed (an I/O error, a damaged page). Never a
/// transaction's fault and never deterministic across nodes: a host that meets it while executing
/// a block must stop rather than commit, and restart from its last committed height.
///
/// The pure core cannot name the storage engine's error types, so the cause travels as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state storage failed: {0}")]
pub struct StorageError(pub String);

/// `(key, value)` pairs in ascending key order.
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

/// Read-only view of chain state (a committed snapshot, an in-memory map or an overlay). Reads
/// can fail only when the storage underneath fails ([`StorageError`]); a missing key is `Ok(None)`.
pub trait StateRead {
    /// The value stored at `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// All `(key, value)` pairs whose key starts with `prefix`, sorted by key ascending.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, StorageError>;
}

/// Writes to apply to state, in key order: `Some(value)` sets, `None` deletes.
pub type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The smallest key greater than every key starting with `prefix` (`None` if there is none).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn prefix_range(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let end = match prefix_end(prefix) {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), end)
}

/// An in-memory state: tests, devnets and genesis tooling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl MemState {
    /// An empty state.
    pub fn new() -> MemState {
        MemState::default()
    }

    /// Applies a change set (sets and deletes) in place.
    pub fn apply(&mut self, changes: &ChangeSet) {
        for (k, v) in changes {
            match v {
                Some(v) => {
                    self.0.insert(k.clone(), v.clone());
                }
                None => {
                    self.0.remove(k);
                }
            }
        }
    }
}

impl StateRead for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, StorageError> {
        Ok(self.0.range(prefix_range(prefix)).map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

impl<T: StateRead + ?Sized> StateRead for &T {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, StorageError> {
        (**self).scan_prefix(prefix)
    }
}

/// A copy-on-write overlay over a [`StateRead`]: reads see the overlay's own writes first, writes
/// stay in the overlay until [`StateDelta::into_changes`].
///
/// For all-or-nothing sub-steps (a transaction's messages) open a [`StateDelta::child`], work in
/// it, then either [`StateDelta::absorb`] its changes into the parent or drop it to revert.
pub struct StateDelta<'a> {
    base: &'a dyn StateRead,
    changes: ChangeSet,
}

impl std::fmt::Debug for StateDelta<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDelta").field("changes", &self.changes.len()).finish()
    }
}

impl<'a> StateDelta<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a dyn StateRead) -> StateDelta<'a> {
        StateDelta { base, changes: ChangeSet::new() }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }

    /// Deletes `key` (a no-op in the result if the base never had it, but still recorded).
    pub fn delete(&mut self, key: Vec<u8>) {
        self.changes.insert(key, None);
    }

    /// A child overlay reading through this one. Drop it to revert; pass
    /// [`StateDelta::into_changes`] of it to [`StateDelta::absorb`] to keep its writes.
    pub fn child(&self) -> StateDelta<'_> {
        StateDelta::new(self)
    }

    /// Takes over `changes` (typically a child's) as this overlay's own writes.
    pub fn absorb(&mut self, changes: ChangeSet) {
        self.changes.extend(changes);
    }

    /// The writes recorded so far, without consuming the overlay.
    pub fn changes(&self) -> &ChangeSet {
        &self.changes
    }

    /// The writes recorded, in key order.
    pub fn into_changes(self) -> ChangeSet {
        self.changes
    }
}

impl StateRead for StateDelta<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, StorageError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_prefix(prefix)?.into_iter().collect();
        for (k, v) in self.changes.range(prefix_range(prefix)) {
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        Ok(merged.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(pairs: &[(&[u8], &[u8])]) -> MemState {
        MemState(pairs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect())
    }

    #[test]
    fn mem_state_scan_prefix_is_sorted_and_bounded() {
        let s = mem(&[(b"a/1", b"x"), (b"a/0", b"y"), (b"b/0", b"z"), (b"a", b"w"), (b"a0", b"v")]);
        let got = s.scan_prefix(b"a/").unwrap();
        assert_eq!(got, vec![(b"a/0".to_vec(), b"y".to_vec()), (b"a/1".to_vec(), b"x".to_vec())]);
        assert_eq!(s.scan_prefix(b"").unwrap().len(), 5);
        let ff = mem(&[(&[0xff, 0xff], b"1"), (&[0xff], b"2"), (&[0xfe], b"3")]);
        assert_eq!(ff.scan_prefix(&[0xff]).unwrap().len(), 2);
    }

    #[test]
    fn delta_reads_its_own_writes_and_hides_deletes() {
        let base = mem(&[(b"k/1", b"a"), (b"k/2", b"b"), (b"z", b"c")]);
        let mut d = StateDelta::new(&base);
        d.put(b"k/3".to_vec(), b"n".to_vec());
        d.delete(b"k/1".to_vec());
        d.put(b"k/2".to_vec(), b"B".to_vec());
        assert_eq!(d.get(b"k/1").unwrap(), None);
        assert_eq!(d.get(b"k/2").unwrap(), Some(b"B".to_vec()));
        assert_eq!(d.get(b"z").unwrap(), Some(b"c".to_vec()));
        assert_eq!(
            d.scan_prefix(b"k/").unwrap(),
            vec![(b"k/2".to_vec(), b"B".to_vec()), (b"k/3".to_vec(), b"n".to_vec())]
        );
        let cs = d.into_changes();
        let mut applied = base.clone();
        applied.apply(&cs);
        assert_eq!(applied, mem(&[(b"k/2", b"B"), (b"k/3", b"n"), (b"z", b"c")]));
    }

    #[test]
    fn dropped_child_reverts_and_absorbed_child_commits() {
        let base = mem(&[(b"a", b"1")]);
        let mut d = StateDelta::new(&base);
        d.put(b"b".to_vec(), b"2".to_vec());
        {
            let mut c = d.child();
            c.put(b"a".to_vec(), b"X".to_vec());
            c.delete(b"b".to_vec());
            assert_eq!(c.get(b"b").unwrap(), None);
            // dropped: reverted
        }
        assert_eq!(d.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(d.get(b"b").unwrap(), Some(b"2".to_vec()));
        let cs = {
            let mut c = d.child();
            c.delete(b"a".to_vec());
            c.into_changes()
        };
        d.absorb(cs);
        assert_eq!(d.get(b"a").unwrap(), None);
        assert_eq!(d.scan_prefix(b"").unwrap(), vec![(b"b".to_vec(), b"2".to_vec())]);
    }
}
