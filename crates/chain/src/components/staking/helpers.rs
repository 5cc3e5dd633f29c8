//! Small helpers shared by the staking modules: storing a validator (new or updated; this keeps
//! the power index and the validator count), the pool a
//! validator's tokens sit in, moving tokens between module pools, overflow-checked addition of
//! amounts, and building `staking.*` / `distribution.*` events.

use chorus_types::staking::Description;
use chorus_types::{Address, Amount, ConsensusKeyBytes, Event, ValidatorParams};

use super::keys;
use super::power::{power_of, power_params};
use super::query::validator;
use super::types::{BondStatus, Commission, Validator, ValidatorRewards};
use super::{BONDED_POOL, NOT_BONDED_POOL};
use crate::TxError;
use crate::codec::{read, write};
use crate::components::bank;
use crate::state::{StateDelta, StateRead};

pub(super) fn pool_of(status: BondStatus) -> &'static str {
    if status == BondStatus::Bonded { BONDED_POOL } else { NOT_BONDED_POOL }
}

/// The power-index key of `v` if it may enter the active set (not jailed, power > 0).
pub(super) fn power_key(v: &Validator, pr: &ValidatorParams) -> Option<Vec<u8>> {
    let power = power_of(v.tokens, pr);
    (!v.jailed && power > 0).then(|| keys::power(power, &v.consensus_key, &v.operator))
}

/// Stores `v` and keeps the power index (`staking/pow/…`) in step with it: every write of a
/// validator record goes through here (or `store_new_validator`, which calls it).
pub(super) fn put_validator(delta: &mut StateDelta<'_>, v: &Validator) -> Result<(), TxError> {
    let pr = power_params(delta)?;
    let old = validator(delta, &v.operator)?.and_then(|o| power_key(&o, &pr));
    let new = power_key(v, &pr);
    if old != new {
        if let Some(k) = old {
            delta.delete(k);
        }
        if let Some(k) = new {
            write(delta, k, &());
        }
    }
    write(delta, keys::validator(&v.operator), v);
    Ok(())
}

/// Number of stored validators (bounded by `max_candidates`).
pub(super) fn validator_count(state: &dyn StateRead) -> Result<u32, TxError> {
    Ok(read(state, keys::VAL_COUNT)?.unwrap_or(0))
}

pub(super) fn set_validator_count(delta: &mut StateDelta<'_>, n: u32) {
    write(delta, keys::VAL_COUNT.to_vec(), &n);
}

pub(super) fn checked_add_amount(a: Amount, b: Amount) -> Result<Amount, TxError> {
    a.checked_add(b).ok_or(TxError::Overflow)
}

pub(super) fn move_pool(
    delta: &mut StateDelta<'_>,
    from: &str,
    to: &str,
    amount: Amount,
) -> Result<(), TxError> {
    if amount == 0 || from == to {
        return Ok(());
    }
    bank::move_between_modules(delta, from, to, amount)
}

pub(super) fn staking_event(kind: &str, attrs: Vec<(&str, String)>) -> Event {
    Event::new(kind, attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

pub(super) fn store_new_validator(
    delta: &mut StateDelta<'_>,
    op: Address,
    consensus_key: ConsensusKeyBytes,
    commission: Commission,
    min_self_delegation: Amount,
    description: Description,
) -> Result<(), TxError> {
    let v = Validator {
        operator: op,
        consensus_key,
        status: BondStatus::Unbonded,
        jailed: false,
        tokens: 0,
        shares: 0,
        commission,
        min_self_delegation,
        description,
        unbonding_height: 0,
        unbonding_time_ms: 0,
    };
    put_validator(delta, &v)?;
    set_validator_count(delta, validator_count(delta)?.saturating_add(1));
    write(delta, keys::cons(&consensus_key), &op);
    write(delta, keys::dist_hist(&op, 0), &0u128);
    write(delta, keys::dist_val(&op), &ValidatorRewards { period: 1, ..Default::default() });
    Ok(())
}
