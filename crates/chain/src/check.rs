//! Phases 1 and 2 of transaction handling (DESIGN §2): stateless checks on bytes, then stateful
//! checks on a snapshot. Phase 3 is [`crate::execute_block`].

use chorus_types::{Address, Amount, DecodeError, Hash, MAX_TX_BYTES, SignedTx, Tx};

use crate::codec::read;
use crate::components::{self, TxContext, bank};
use crate::context::BlockContext;
use crate::state::StateRead;
use crate::{TxError, state_key};

/// A transaction that passed [`check_stateless`]: canonical, within size, for this chain, with a
/// valid low-s signature and a recovered sender. Only [`check_stateless`] makes one, so holding
/// one proves those checks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    signed: SignedTx,
    sender: Address,
    hash: Hash,
    size: usize,
}

impl VerifiedTx {
    /// The transaction.
    pub fn tx(&self) -> &Tx {
        &self.signed.tx
    }

    /// The signed transaction.
    pub fn signed(&self) -> &SignedTx {
        &self.signed
    }

    /// The recovered sender.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The transaction hash (keccak256 of the canonical signed encoding).
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Encoded size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The canonical encoding (what was checked).
    pub fn encode(&self) -> Vec<u8> {
        self.signed.encode()
    }
}

/// Phase 1: checks that need no state. In order: size, decoding (canonical borsh, known message
/// types), chain id, non-empty messages, signature (`v ∈ {27, 28}`, low `s`, recovers), and each
/// message's stateless checks (e.g. non-zero amounts).
pub fn check_stateless(tx_bytes: &[u8], chain_id: u64) -> Result<VerifiedTx, TxError> {
    if tx_bytes.len() > MAX_TX_BYTES {
        return Err(TxError::Oversized { size: tx_bytes.len(), max: MAX_TX_BYTES });
    }
    let signed = SignedTx::decode(tx_bytes).map_err(|e| match e {
        DecodeError::Malformed(m) => TxError::Malformed(m),
        DecodeError::UnknownMessage { position, variant } => {
            TxError::UnknownMessage { position, variant }
        }
    })?;
    if signed.tx.chain_id != chain_id {
        return Err(TxError::WrongChainId { expected: chain_id, got: signed.tx.chain_id });
    }
    if signed.tx.msgs.is_empty() {
        return Err(TxError::NoMessages);
    }
    let sender = chorus_crypto::recover_tx_sender(&signed).map_err(|e| match e {
        chorus_crypto::Error::HighS => TxError::HighS,
        _ => TxError::BadSignature,
    })?;
    for msg in &signed.tx.msgs {
        components::check_stateless(msg)?;
    }
    let hash = Hash::keccak(tx_bytes);
    Ok(VerifiedTx { signed, sender, hash, size: tx_bytes.len() })
}

/// The sender's next expected nonce.
pub fn account_nonce(state: &dyn StateRead, addr: &Address) -> Result<u64, TxError> {
    Ok(read::<u64>(state, &state_key::nonce(addr))?.unwrap_or(0))
}

/// The checks that decide whether a transaction can pay: nonce, minimum fee, balance ≥ fee.
/// A transaction failing these inside a block gets a failed receipt and changes nothing.
pub(crate) fn check_payable(state: &dyn StateRead, tx: &VerifiedTx) -> Result<(), TxError> {
    let expected = account_nonce(state, &tx.sender)?;
    let got = tx.tx().nonce;
    if got < expected {
        return Err(TxError::NonceTooLow { expected, got });
    }
    if got > expected {
        return Err(TxError::NonceGap { expected, got });
    }
    let min = bank::params(state)?.min_fee;
    let fee = tx.tx().fee;
    if fee < min {
        return Err(TxError::InsufficientFee { min, got: fee });
    }
    let have = bank::balance(state, &tx.sender)?;
    if have < fee {
        return Err(TxError::InsufficientBalance { need: fee, have });
    }
    Ok(())
}

/// Phase 2 (the mempool's check, on a snapshot): the payability rules (nonce equals the
/// expected one, fee ≥ the minimum, balance ≥ fee), then balance ≥ fee + Σ tokens the messages
/// spend, then each message's stateful preconditions. Messages are not executed.
pub fn check_stateful(state: &dyn StateRead, tx: &VerifiedTx) -> Result<(), TxError> {
    check_payable(state, tx)?;
    let mut need: Amount = tx.tx().fee;
    for msg in &tx.tx().msgs {
        need = need.checked_add(components::spend(msg)).ok_or(TxError::Overflow)?;
    }
    let have = bank::balance(state, &tx.sender)?;
    if have < need {
        return Err(TxError::InsufficientBalance { need, have });
    }
    let block = BlockContext::next_after(state, tx.tx().chain_id)?;
    let ctx = TxContext { block: &block, sender: tx.sender, tx_hash: tx.hash };
    for msg in &tx.tx().msgs {
        components::check_stateful(state, &ctx, msg)?;
    }
    Ok(())
}

/// The most a transaction can take from its sender's balance: its fee plus every token its
/// messages spend (transfers, bonds, escrows, deposits).
pub fn max_spend(tx: &VerifiedTx) -> Result<Amount, TxError> {
    tx.tx().msgs.iter().try_fold(tx.tx().fee, |need, msg| {
        need.checked_add(components::spend(msg)).ok_or(TxError::Overflow)
    })
}

/// The payability rules (nonce, minimum fee, balance) for a transaction queued behind the sender's pending ones: its nonce may be
/// ahead of the committed one (the caller keeps the run contiguous), and the balance must cover
/// `queued` — what those pending transactions may spend ([`max_spend`] each) — plus this
/// transaction's own [`max_spend`]. A mempool evicts a pending transaction that fails this.
pub fn check_payable_queued(
    state: &dyn StateRead,
    tx: &VerifiedTx,
    queued: Amount,
) -> Result<(), TxError> {
    let expected = account_nonce(state, &tx.sender)?;
    let got = tx.tx().nonce;
    if got < expected {
        return Err(TxError::NonceTooLow { expected, got });
    }
    let min = bank::params(state)?.min_fee;
    let fee = tx.tx().fee;
    if fee < min {
        return Err(TxError::InsufficientFee { min, got: fee });
    }
    let need = queued.checked_add(max_spend(tx)?).ok_or(TxError::Overflow)?;
    let have = bank::balance(state, &tx.sender)?;
    if have < need {
        return Err(TxError::InsufficientBalance { need, have });
    }
    Ok(())
}

/// Phase 2 for a transaction queued behind the sender's pending ones (the mempool's admission
/// check): [`check_payable_queued`], then each message's stateful preconditions against the
/// committed state. With `queued = 0` and the committed nonce this is [`check_stateful`].
pub fn check_stateful_queued(
    state: &dyn StateRead,
    tx: &VerifiedTx,
    queued: Amount,
) -> Result<(), TxError> {
    check_payable_queued(state, tx, queued)?;
    let block = BlockContext::next_after(state, tx.tx().chain_id)?;
    let ctx = TxContext { block: &block, sender: tx.sender, tx_hash: tx.hash };
    for msg in &tx.tx().msgs {
        components::check_stateful(state, &ctx, msg)?;
    }
    Ok(())
}
