//! The block header's `last_commit` rule: who precommitted the previous block, proven.
//!
//! Liveness accounting (downtime jailing and slashing) trusts `last_commit`'s signer list, and
//! the proposer writes that list. So every node checks it before executing a block: the
//! signers are validators of the set that signed the previous block, sorted and unique, each
//! with a valid ed25519 signature over its precommit for the previous block's hash, together
//! holding more than 2/3 of that set's power. A proposer can therefore neither drop honest
//! signers (their signatures are what makes the list) nor add absent ones (it cannot forge their
//! signatures) — it can only leave out signers beyond the 2/3 it needs, which the host's
//! consensus certificate makes rare and which is why the jailing threshold is a window.

use chorus_types::staking::{Vote, VoteType};
use chorus_types::{CommitInfo, ConsensusKeyBytes, Hash, Height, ValidatorInfo};

use crate::TxError;
use crate::state::StateRead;

/// Why a block's `last_commit` is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// Blocks after the first must carry `last_commit`; the first must not.
    #[error("last_commit is {0}")]
    Presence(&'static str),
    /// It names another height than the parent's.
    #[error("last_commit names height {got}, expected {expected}")]
    WrongHeight {
        /// The parent's height.
        expected: Height,
        /// What it names.
        got: Height,
    },
    /// Signers must be sorted ascending without duplicates.
    #[error("last_commit signers not sorted or duplicated")]
    NotSorted,
    /// One signature per signer.
    #[error("last_commit has {signers} signers but {signatures} signatures")]
    SignatureCount {
        /// Signers listed.
        signers: usize,
        /// Signatures listed.
        signatures: usize,
    },
    /// A signer is not in the set that signed the parent.
    #[error("last_commit signer 0x{} is not a validator of the parent", hex::encode(.0))]
    UnknownSigner(ConsensusKeyBytes),
    /// A signature does not verify.
    #[error("last_commit signature of 0x{} does not verify", hex::encode(.0))]
    BadSignature(ConsensusKeyBytes),
    /// The signers hold at most 2/3 of the parent set's power.
    #[error("last_commit signers hold {signed} of {total} power (need more than 2/3)")]
    InsufficientPower {
        /// Power of the signers.
        signed: u128,
        /// Power of the set.
        total: u128,
    },
    /// The validator set could not be read.
    #[error("reading the validator set: {0}")]
    State(TxError),
}

/// Checks `last_commit` of the block at `height` on chain `chain_id`, whose parent hash is
/// `parent_hash`, against the set that signed the parent (`previous_validator_set` in `state`,
/// the state after the parent).
pub fn verify_last_commit(
    state: &dyn StateRead,
    chain_id: u64,
    height: Height,
    parent_hash: &Hash,
    last_commit: Option<&CommitInfo>,
) -> Result<(), CommitError> {
    let Some(lc) = last_commit else {
        return if height <= 1 { Ok(()) } else { Err(CommitError::Presence("missing")) };
    };
    if height <= 1 {
        return Err(CommitError::Presence("present in the first block"));
    }
    let expected = height - 1;
    if lc.height != expected {
        return Err(CommitError::WrongHeight { expected, got: lc.height });
    }
    let vals =
        crate::components::staking::previous_validator_set(state).map_err(CommitError::State)?;
    verify_commit(&vals, chain_id, parent_hash, lc)
}

/// Checks that `commit` certifies the block whose hash is `block_hash` (at `commit.height`,
/// decided in `commit.round`) on chain `chain_id`: signers sorted and unique, each a member of
/// `vals` (the set that signed that block) with a valid ed25519 signature over its precommit
/// for `block_hash`, together holding more than 2/3 of the power of `vals`.
///
/// Pure: light clients check headers with it against a validator set they proved themselves.
pub fn verify_commit(
    vals: &[ValidatorInfo],
    chain_id: u64,
    block_hash: &Hash,
    commit: &CommitInfo,
) -> Result<(), CommitError> {
    let lc = commit;
    if lc.signers.len() != lc.signatures.len() {
        return Err(CommitError::SignatureCount {
            signers: lc.signers.len(),
            signatures: lc.signatures.len(),
        });
    }
    if lc.signers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(CommitError::NotSorted);
    }
    let total: u128 = vals.iter().map(|v| u128::from(v.power)).sum();
    let mut signed: u128 = 0;
    for (key, sig) in lc.signers.iter().zip(&lc.signatures) {
        let v: &ValidatorInfo = vals
            .iter()
            .find(|v| v.consensus_key == *key)
            .ok_or(CommitError::UnknownSigner(*key))?;
        let vote = Vote {
            height: lc.height,
            round: lc.round,
            vote_type: VoteType::Precommit,
            value_id: Some(*block_hash),
            validator: *key,
        };
        chorus_crypto::verify_consensus(key, &vote.sign_bytes(chain_id), sig)
            .map_err(|_| CommitError::BadSignature(*key))?;
        signed += u128::from(v.power);
    }
    if !chorus_types::exceeds_two_thirds(signed, total) {
        return Err(CommitError::InsufficientPower { signed, total });
    }
    Ok(())
}
