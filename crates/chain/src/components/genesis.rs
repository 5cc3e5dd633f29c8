//! Genesis: turns a [`Genesis`] document into the initial state.

use std::collections::BTreeSet;

use chorus_types::Genesis;

use crate::codec::write;
use crate::components::bank;
use crate::components::staking::{self, MAX_TOTAL_POWER};
use crate::error::GenesisError;
use crate::state::{ChangeSet, MemState, StateDelta};
use crate::state_key;

/// Validates `genesis` and returns the initial state as a change set over an empty state.
///
/// Balances are minted; each validator's stake is minted as its self-delegation (into the
/// `bonded` pool once it is in the active set; it is not taken from `accounts`). The supply is the
/// sum of both.
pub fn init_genesis(genesis: &Genesis) -> Result<ChangeSet, GenesisError> {
    if genesis.chain_id == 0 {
        return Err(GenesisError::ZeroChainId);
    }
    if genesis.params.validators.power_reduction == 0 {
        return Err(GenesisError::InvalidParams("validators.power_reduction must be positive"));
    }
    staking::validate_params(&genesis.params).map_err(GenesisError::InvalidParams)?;
    let mut seen = BTreeSet::new();
    for (addr, _) in &genesis.accounts {
        if !seen.insert(*addr) {
            return Err(GenesisError::DuplicateAccount(*addr));
        }
    }
    if genesis.validators.is_empty() {
        return Err(GenesisError::NoValidators);
    }
    if genesis.validators.len() > genesis.params.staking.max_candidates as usize {
        return Err(GenesisError::TooManyValidators);
    }
    let mut operators = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut total_power: u64 = 0;
    for v in &genesis.validators {
        if !operators.insert(v.operator) {
            return Err(GenesisError::DuplicateValidator(v.operator));
        }
        if !keys.insert(v.consensus_key) {
            return Err(GenesisError::DuplicateConsensusKey(v.operator));
        }
        if !chorus_crypto::is_valid_consensus_key(&v.consensus_key) {
            return Err(GenesisError::InvalidConsensusKey(v.operator));
        }
        let power = staking::power_of(v.stake, &genesis.params.validators);
        if power == 0 {
            return Err(GenesisError::ZeroPower(v.operator));
        }
        if v.stake < genesis.params.staking.min_self_delegation {
            return Err(GenesisError::StakeBelowMinimum(v.operator));
        }
        total_power = total_power
            .checked_add(power)
            .filter(|p| *p <= MAX_TOTAL_POWER)
            .ok_or(GenesisError::Overflow("voting power"))?;
    }

    let empty = MemState::new();
    let mut delta = StateDelta::new(&empty);
    write(&mut delta, state_key::CHAIN_ID.to_vec(), &genesis.chain_id);
    write(&mut delta, state_key::GENESIS_TIME_MS.to_vec(), &genesis.genesis_time_ms);
    write(&mut delta, state_key::LAST_HEIGHT.to_vec(), &0u64);
    write(&mut delta, state_key::LAST_TIME_MS.to_vec(), &genesis.genesis_time_ms);
    write(&mut delta, state_key::PARAMS_VALIDATORS.to_vec(), &genesis.params.validators);
    write(&mut delta, state_key::PARAMS_REGISTRY.to_vec(), &genesis.params.registry);
    write(&mut delta, state_key::SUPPLY.to_vec(), &0u128);
    bank::init_genesis(&mut delta, genesis).map_err(overflow)?;
    // Validators become bonded validators with their stake as self-delegation.
    staking::init_genesis(&mut delta, genesis).map_err(overflow)?;
    Ok(delta.into_changes())
}

fn overflow(e: crate::TxError) -> GenesisError {
    match e {
        crate::TxError::Overflow => GenesisError::Overflow("supply"),
        other => GenesisError::Tx(other),
    }
}
