//! A failing storage engine under the state: the state machine reports it as a value, never a
//! panic and never a receipt (security review / code review: failures are values at I/O seams).

use std::cell::Cell;

use chorus_chain::state::{KeyValues, MemState, StateRead, StorageError};
use chorus_chain::{BlockError, TxError, check_stateful, execute_block};

use crate::support::*;

/// Genesis state whose reads start failing after `ok_reads` successful ones.
struct FailingState {
    inner: MemState,
    ok_reads: Cell<usize>,
}

impl FailingState {
    fn new(ok_reads: usize) -> FailingState {
        FailingState { inner: genesis_state(), ok_reads: Cell::new(ok_reads) }
    }

    fn take(&self) -> Result<(), StorageError> {
        match self.ok_reads.get() {
            0 => Err(StorageError("simulated I/O error".into())),
            n => {
                self.ok_reads.set(n - 1);
                Ok(())
            }
        }
    }
}

impl StateRead for FailingState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.take()?;
        self.inner.get(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<KeyValues, StorageError> {
        self.take()?;
        self.inner.scan_prefix(prefix)
    }
}

#[test]
fn a_failing_read_during_admission_is_a_storage_error_not_a_verdict_on_the_sender() {
    let tx = verified("alice", 0, 10, vec![transfer("bob", 100)]);
    let err = check_stateful(&FailingState::new(0), &tx).unwrap_err();
    assert!(matches!(err, TxError::Storage(_)), "{err:?}");
    assert_eq!(err.code(), 101);
    check_stateful(&genesis_state(), &tx).unwrap();
}

#[test]
fn a_failing_read_at_any_point_of_a_block_stops_execution_instead_of_writing_a_receipt() {
    let txs = vec![
        verified("alice", 0, 10, vec![transfer("bob", 100)]),
        verified("bob", 0, 10, vec![transfer("alice", 5)]),
    ];
    // How many reads a clean run of this block makes.
    let counting = FailingState::new(usize::MAX);
    execute_block(&counting, &ctx(1), &txs).unwrap();
    let reads = usize::MAX - counting.ok_reads.get();
    assert!(reads > 10, "the block reads state ({reads} reads)");
    // Failing at every one of those reads in turn: always a storage error, never a panic,
    // never an outcome with a failed receipt.
    for ok_reads in 0..reads {
        match execute_block(&FailingState::new(ok_reads), &ctx(1), &txs) {
            Err(BlockError::Storage(e)) => assert!(e.to_string().contains("simulated")),
            other => panic!("read {ok_reads} of {reads} failing gave {other:?}"),
        }
    }
    // With every read answered the block executes as on the plain state.
    let full = execute_block(&FailingState::new(reads), &ctx(1), &txs).unwrap();
    assert_eq!(full, execute_block(&genesis_state(), &ctx(1), &txs).unwrap());
}
