//! Staking genesis: writes the staking / slashing / distribution / governance parameters,
//! creates every genesis validator with its stake as a self-delegation, and computes the first
//! active set.

use chorus_types::Genesis;
use chorus_types::staking::{Dec, Description};

use super::NOT_BONDED_POOL;
use super::delegation::{Source, delegate};
use super::helpers::store_new_validator;
use super::hooks::update_validator_set;
use super::keys;
use super::query::validator_set;
use super::types::Commission;
use crate::TxError;
use crate::codec::write;
use crate::components::bank;
use crate::state::StateDelta;

/// Genesis: writes the parameters, creates every genesis validator with its stake as a
/// self-delegation (commission 0, max 1, max change 0.01 per period; minted into the pools) and
/// computes the first active set.
pub(crate) fn init_genesis(delta: &mut StateDelta<'_>, genesis: &Genesis) -> Result<(), TxError> {
    let p = &genesis.params;
    write(delta, keys::PARAMS_STAKING.to_vec(), &p.staking);
    write(delta, keys::PARAMS_SLASHING.to_vec(), &p.slashing);
    write(delta, keys::PARAMS_DISTRIBUTION.to_vec(), &p.distribution);
    write(delta, keys::PARAMS_GOV.to_vec(), &p.gov);
    let mut events = Vec::new();
    for v in &genesis.validators {
        let commission = Commission {
            rate: Dec::ZERO,
            max_rate: Dec::ONE,
            max_change_rate: Dec(Dec::SCALE / 100),
            update_time_ms: genesis.genesis_time_ms,
        };
        store_new_validator(
            delta,
            v.operator,
            v.consensus_key,
            commission,
            0,
            Description::default(),
        )?;
        bank::mint_to_module(delta, NOT_BONDED_POOL, v.stake)?;
        delegate(
            delta,
            0,
            &v.operator,
            &v.operator,
            v.stake,
            Source::Pool(NOT_BONDED_POOL),
            &mut events,
        )?;
    }
    update_validator_set(delta, 0, genesis.genesis_time_ms, &mut events)?;
    let set = validator_set(delta)?;
    write(delta, keys::SET_PREV.to_vec(), &set);
    Ok(())
}
