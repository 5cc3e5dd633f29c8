//! The Chorus state machine: a pure, deterministic function from (state snapshot, block context,
//! transactions) to (state changes, receipts, events, next validator set).
//!
//! Transactions go through three phases (`docs/ledger.md`): [`check_stateless`] on bytes,
//! [`check_stateful`] on a snapshot (the mempool), and [`execute_block`]. A block is first held
//! to [`check_header`] and [`verify_last_commit`]. State is organised in
//! [`components`] (bank, genesis, staking, gov, registry, learning; new ones slot in the same
//! way), with every key in [`state_key`].
//!
//! This crate must not do I/O, read clocks, draw entropy, use floats in state, or iterate hash maps
//! (enforced in part by `clippy.toml`). Storage is reached only through [`state::StateRead`];
//! persisting a [`state::ChangeSet`] is the host's job (`chorus-db`).
#![forbid(unsafe_code)]

mod block;
mod check;
mod codec;
mod commit;
pub mod components;
mod context;
mod error;
mod header;
pub mod invariants;
pub mod state;
pub mod state_key;
pub mod views;

pub use block::{BlockError, BlockOutcome, execute_block};
pub use check::{
    VerifiedTx, account_nonce, check_payable_queued, check_stateful, check_stateful_queued,
    check_stateless, max_spend,
};
pub use chorus_types::ValidatorInfo;
pub use commit::{CommitError, verify_commit, verify_last_commit};
pub use components::genesis::init_genesis;
pub use context::BlockContext;
pub use error::{GenesisError, TxError};
pub use header::{HeaderError, HeaderExpectations, check_header};

/// The active validator set stored in `state` (see [`components::staking::validator_set`]).
pub fn validator_set(state: &dyn state::StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    components::staking::validator_set(state)
}
