//! Phase 3: executing a block of verified transactions.

use chorus_types::{Event, Receipt, ValidatorInfo};

use crate::check::{VerifiedTx, check_payable};
use crate::codec::write;
use crate::components::{self, TxContext, bank, staking};
use crate::context::BlockContext;
use crate::state::{ChangeSet, StateDelta, StateRead};
use crate::{TxError, state_key};

/// Everything a block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// State writes to persist atomically with the block.
    pub changes: ChangeSet,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// Block-level events from `begin_block` / `end_block` hooks (transaction events are in the
    /// receipts).
    pub events: Vec<Event>,
    /// The validator set after this block (for the next height).
    pub validator_set: Vec<ValidatorInfo>,
    /// Indices of the transactions that could not pay (wrong chain, nonce, fee below the
    /// minimum, balance below the fee): they changed nothing and paid nothing, so a block
    /// carrying any is invalid (the host's rule; a proposer leaves such transactions out).
    pub unpayable: Vec<u32>,
}

/// Why a block could not be executed at all (as opposed to a transaction failing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A `begin_block` / `end_block` hook or the validator-set computation failed: a bug or
    /// corrupt state; the host must halt rather than commit.
    #[error("block hook failed: {0}")]
    Hook(TxError),
    /// The storage under the state failed while executing the block: no outcome exists, and
    /// the host must stop rather than commit (restart resumes from the last committed height).
    #[error(transparent)]
    Storage(#[from] crate::state::StorageError),
}

impl BlockError {
    fn from_hook(e: TxError) -> BlockError {
        match e {
            TxError::Storage(s) => BlockError::Storage(s),
            other => BlockError::Hook(other),
        }
    }
}

/// A storage failure inside a transaction is the node's, not the sender's: it stops the block
/// instead of becoming a receipt that other nodes would not write.
fn storage_failure(e: &TxError) -> Option<BlockError> {
    match e {
        TxError::Storage(s) => Some(BlockError::Storage(s.clone())),
        _ => None,
    }
}

fn execute_tx(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    index: u32,
) -> Result<(Receipt, bool), BlockError> {
    let mut receipt = Receipt {
        tx_hash: tx.hash(),
        height: ctx.height,
        index,
        result: Ok(()),
        fee_paid: 0,
        events: Vec::new(),
    };
    // Transactions that cannot pay change nothing (no fee, no nonce bump).
    let payable = if tx.tx().chain_id != ctx.chain_id {
        Err(TxError::WrongChainId { expected: ctx.chain_id, got: tx.tx().chain_id })
    } else {
        check_payable(delta, tx)
    };
    if let Err(e) = payable {
        if let Some(stop) = storage_failure(&e) {
            return Err(stop);
        }
        receipt.result = Err(e.to_failure());
        return Ok((receipt, false));
    }
    let sender = tx.sender();
    let fee = tx.tx().fee;
    let mut events = Vec::new();
    let charged: Result<(), TxError> = (|| {
        bank::charge_fee(delta, &sender, fee, &mut events)?;
        let nonce = tx.tx().nonce.checked_add(1).ok_or(TxError::Overflow)?;
        write(delta, state_key::nonce(&sender), &nonce);
        Ok(())
    })();
    if let Err(e) = charged {
        if let Some(stop) = storage_failure(&e) {
            return Err(stop);
        }
        // Unreachable after check_payable unless state is corrupt; nothing was kept.
        receipt.result = Err(e.to_failure());
        return Ok((receipt, false));
    }
    receipt.fee_paid = fee;

    // Messages run in a child overlay: all of them apply, or none.
    let tctx = TxContext { block: ctx, sender, tx_hash: tx.hash() };
    let mut msg_events = Vec::new();
    let outcome = {
        let mut child = delta.child();
        let r = tx
            .tx()
            .msgs
            .iter()
            .try_for_each(|m| components::execute(&mut child, &tctx, m, &mut msg_events));
        r.map(|()| child.into_changes())
    };
    match outcome {
        Ok(changes) => {
            delta.absorb(changes);
            events.extend(msg_events);
        }
        Err(e) => {
            if let Some(stop) = storage_failure(&e) {
                return Err(stop);
            }
            receipt.result = Err(e.to_failure());
        }
    }
    receipt.events = events;
    Ok((receipt, true))
}

/// Phase 3: executes `txs` in order on top of `state` and returns the changes, receipts, events
/// and the next validator set. Deterministic: the same inputs give the same outcome.
///
/// Per transaction: if it cannot pay (wrong chain, nonce ≠ expected, fee < minimum, balance <
/// fee) it gets a failed receipt and changes nothing; otherwise the fee is collected and the nonce
/// bumped, then the messages run all-or-nothing — a failing message reverts all message effects
/// but not the fee and nonce.
pub fn execute_block(
    state: &dyn StateRead,
    ctx: &BlockContext,
    txs: &[VerifiedTx],
) -> Result<BlockOutcome, BlockError> {
    let mut delta = StateDelta::new(state);
    let mut events = Vec::new();
    write(&mut delta, state_key::LAST_HEIGHT.to_vec(), &ctx.height);
    write(&mut delta, state_key::LAST_TIME_MS.to_vec(), &ctx.time_ms);
    components::begin_block(&mut delta, ctx, &mut events).map_err(BlockError::from_hook)?;
    let mut receipts = Vec::with_capacity(txs.len());
    let mut unpayable = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let (receipt, paid) = execute_tx(&mut delta, ctx, tx, index)?;
        if !paid {
            unpayable.push(index);
        }
        receipts.push(receipt);
    }
    components::end_block(&mut delta, ctx, &mut events).map_err(BlockError::from_hook)?;
    let validator_set = staking::validator_set(&delta).map_err(BlockError::from_hook)?;
    Ok(BlockOutcome { changes: delta.into_changes(), receipts, events, validator_set, unpayable })
}
