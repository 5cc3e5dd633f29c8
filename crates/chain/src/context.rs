//! The contexts handed to the state machine's hooks and handlers: [`BlockContext`] (what the host
//! says about the block being executed) and [`TxContext`] (what a message handler knows about
//! its transaction). `block`, `check` and every component depend on it; it depends on none of
//! them (only on `codec`, `state`, `state_key` and [`TxError`]).

use chorus_types::{Address, CommitInfo, Hash, Height};

use crate::codec::read;
use crate::state::StateRead;
use crate::{TxError, state_key};

/// What the host tells the state machine about the block being executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockContext {
    /// Chain id.
    pub chain_id: u64,
    /// Height of this block.
    pub height: Height,
    /// Block time from the header, ms since the Unix epoch.
    pub time_ms: u64,
    /// Consensus key of the proposer.
    pub proposer: [u8; 32],
    /// Block randomness: the previous block's hash.
    pub randomness: Hash,
    /// Who precommitted the previous block.
    pub last_commit: Option<CommitInfo>,
}

impl BlockContext {
    /// A context for the block after the last executed one (used by mempool checks): height + 1,
    /// the last block's time, no proposer, zero randomness.
    pub fn next_after(state: &dyn StateRead, chain_id: u64) -> Result<BlockContext, TxError> {
        let height = read::<u64>(state, state_key::LAST_HEIGHT)?.unwrap_or(0);
        let time_ms = read::<u64>(state, state_key::LAST_TIME_MS)?.unwrap_or(0);
        Ok(BlockContext {
            chain_id,
            height: height.saturating_add(1),
            time_ms,
            proposer: [0; 32],
            randomness: Hash::ZERO,
            last_commit: None,
        })
    }
}

/// What a message handler knows about the transaction it runs in.
#[derive(Debug, Clone, Copy)]
pub struct TxContext<'a> {
    /// The block being executed (for the mempool: a context for the next block).
    pub block: &'a BlockContext,
    /// The recovered sender.
    pub sender: Address,
    /// The transaction hash.
    pub tx_hash: Hash,
}
