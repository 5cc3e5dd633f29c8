//! Read-only access to staking state: the parameters, validators, delegations, unbonding and
//! redelegation entries, signing info, distribution records and the active / previous validator
//! sets. Used by the other staking modules, governance, the node's API and tests; nothing here
//! writes.

use borsh::BorshDeserialize;
use chorus_types::staking::{DistributionParams, SlashingParams, StakingParams};
use chorus_types::{Address, Amount, ConsensusKeyBytes, ValidatorInfo};

use super::error::{StakingError, staking_err};
use super::keys;
use super::types::{
    Delegation, RedelegationEntry, RedelegationRow, RewardTotals, SigningInfo, UnbondingEntry,
    Validator, ValidatorRewards,
};
use crate::TxError;
use crate::codec::read;
use crate::state::StateRead;

pub(super) fn list<T: BorshDeserialize>(
    state: &dyn StateRead,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, T)>, TxError> {
    state
        .scan_prefix(prefix)?
        .into_iter()
        .map(|(k, v)| {
            borsh::from_slice(&v).map(|t| (k.clone(), t)).map_err(|_| TxError::corrupt(&k))
        })
        .collect()
}

/// Staking parameters.
pub fn staking_params(state: &dyn StateRead) -> Result<StakingParams, TxError> {
    Ok(read(state, keys::PARAMS_STAKING)?.unwrap_or_default())
}

/// Slashing parameters.
pub fn slashing_params(state: &dyn StateRead) -> Result<SlashingParams, TxError> {
    Ok(read(state, keys::PARAMS_SLASHING)?.unwrap_or_default())
}

/// Distribution parameters.
pub fn distribution_params(state: &dyn StateRead) -> Result<DistributionParams, TxError> {
    Ok(read(state, keys::PARAMS_DISTRIBUTION)?.unwrap_or_default())
}

/// The validator operated by `op`.
pub fn validator(state: &dyn StateRead, op: &Address) -> Result<Option<Validator>, TxError> {
    read(state, &keys::validator(op))
}

pub(super) fn must_validator(state: &dyn StateRead, op: &Address) -> Result<Validator, TxError> {
    validator(state, op)?.ok_or_else(|| staking_err(StakingError::UnknownValidator(*op)))
}

/// Every validator, by operator.
pub fn validators(state: &dyn StateRead) -> Result<Vec<Validator>, TxError> {
    Ok(list(state, keys::VALIDATOR)?.into_iter().map(|(_, v)| v).collect())
}

/// The operator of a consensus key.
pub fn validator_by_consensus_key(
    state: &dyn StateRead,
    key: &ConsensusKeyBytes,
) -> Result<Option<Address>, TxError> {
    read(state, &keys::cons(key))
}

/// A delegation.
pub fn delegation(
    state: &dyn StateRead,
    del: &Address,
    val: &Address,
) -> Result<Option<Delegation>, TxError> {
    read(state, &keys::delegation(del, val))
}

/// Every delegation of `del`: `(validator, shares)`.
pub fn delegations_of(
    state: &dyn StateRead,
    del: &Address,
) -> Result<Vec<(Address, Delegation)>, TxError> {
    let prefix = keys::k(keys::DELEGATION, &[&del.0]);
    Ok(list::<Delegation>(state, &prefix)?
        .into_iter()
        .filter_map(|(k, d)| keys::addrs(&k, keys::DELEGATION, 20).first().map(|v| (*v, d)))
        .collect())
}

/// Every delegation: `(delegator, validator, delegation)`.
pub fn all_delegations(
    state: &dyn StateRead,
) -> Result<Vec<(Address, Address, Delegation)>, TxError> {
    Ok(list::<Delegation>(state, keys::DELEGATION)?
        .into_iter()
        .filter_map(|(k, d)| match keys::addrs(&k, keys::DELEGATION, 0)[..] {
            [a, b] => Some((a, b, d)),
            _ => None,
        })
        .collect())
}

/// Unbonding entries of `del` by validator.
pub fn unbondings_of(
    state: &dyn StateRead,
    del: &Address,
) -> Result<Vec<(Address, Vec<UnbondingEntry>)>, TxError> {
    let prefix = keys::k(keys::UBD, &[&del.0]);
    Ok(list::<Vec<UnbondingEntry>>(state, &prefix)?
        .into_iter()
        .filter_map(|(k, e)| keys::addrs(&k, keys::UBD, 20).first().map(|v| (*v, e)))
        .collect())
}

pub(super) fn all_unbondings(
    state: &dyn StateRead,
) -> Result<Vec<(Address, Address, Vec<UnbondingEntry>)>, TxError> {
    Ok(list::<Vec<UnbondingEntry>>(state, keys::UBD)?
        .into_iter()
        .filter_map(|(k, e)| match keys::addrs(&k, keys::UBD, 0)[..] {
            [a, b] => Some((a, b, e)),
            _ => None,
        })
        .collect())
}

/// Redelegations of `del`: `(src, dst, entries)`.
pub fn redelegations_of(
    state: &dyn StateRead,
    del: &Address,
) -> Result<Vec<(Address, Address, Vec<RedelegationEntry>)>, TxError> {
    let prefix = keys::k(keys::RED, &[&del.0]);
    Ok(list::<Vec<RedelegationEntry>>(state, &prefix)?
        .into_iter()
        .filter_map(|(k, e)| match keys::addrs(&k, keys::RED, 20)[..] {
            [a, b] => Some((a, b, e)),
            _ => None,
        })
        .collect())
}

pub(super) fn all_redelegations(state: &dyn StateRead) -> Result<Vec<RedelegationRow>, TxError> {
    Ok(list::<Vec<RedelegationEntry>>(state, keys::RED)?
        .into_iter()
        .filter_map(|(k, e)| match keys::addrs(&k, keys::RED, 0)[..] {
            [a, b, c] => Some((a, b, c, e)),
            _ => None,
        })
        .collect())
}

/// Liveness info of a validator.
pub fn signing_info(state: &dyn StateRead, op: &Address) -> Result<Option<SigningInfo>, TxError> {
    read(state, &keys::signing(op))
}

/// Distribution state of a validator.
pub fn validator_rewards(state: &dyn StateRead, op: &Address) -> Result<ValidatorRewards, TxError> {
    Ok(read(state, &keys::dist_val(op))?.unwrap_or_default())
}

/// The community pool.
pub fn community_pool(state: &dyn StateRead) -> Result<Amount, TxError> {
    Ok(read(state, keys::DIST_COMMUNITY)?.unwrap_or(0))
}

/// Reward counters.
pub fn reward_totals(state: &dyn StateRead) -> Result<RewardTotals, TxError> {
    Ok(read(state, keys::DIST_TOTALS)?.unwrap_or_default())
}

/// The active validator set written by the last `end_block` (power desc, consensus key asc).
pub fn validator_set(state: &dyn StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    Ok(read(state, keys::SET)?.unwrap_or_default())
}

/// The set that was active at the last committed height — the one whose precommits make up that
/// block's commit certificate, carried as `last_commit` by the next block. It differs from
/// [`validator_set`] right after a set change (jailing, tombstoning, new validators).
pub fn previous_validator_set(state: &dyn StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    Ok(read(state, keys::SET_PREV)?.unwrap_or_default())
}
