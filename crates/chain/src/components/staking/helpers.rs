//! Small helpers shared by the staking modules: storing a validator (new or updated), the pool a
//! validator's tokens sit in, moving tokens between module pools, overflow-checked addition of
//! amounts, and building `staking.*` / `distribution.*` events.

use chorus_types::staking::Description;
use chorus_types::{Address, Amount, ConsensusKeyBytes, Event};

use super::keys;
use super::types::{BondStatus, Commission, Validator, ValidatorRewards};
use super::{BONDED_POOL, NOT_BONDED_POOL};
use crate::TxError;
use crate::codec::write;
use crate::components::bank;
use crate::state::StateDelta;

pub(super) fn pool_of(status: BondStatus) -> &'static str {
    if status == BondStatus::Bonded { BONDED_POOL } else { NOT_BONDED_POOL }
}

pub(super) fn put_validator(delta: &mut StateDelta<'_>, v: &Validator) {
    write(delta, keys::validator(&v.operator), v);
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
) {
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
    put_validator(delta, &v);
    write(delta, keys::cons(&consensus_key), &op);
    write(delta, keys::dist_hist(&op, 0), &0u128);
    write(delta, keys::dist_val(&op), &ValidatorRewards { period: 1, ..Default::default() });
}
