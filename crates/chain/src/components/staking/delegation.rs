//! The delegation core: `delegate` (tokens in, shares out, from an account or a pool), `unbond`
//! (shares burnt, tokens returned to the caller, jailing a validator whose self-delegation falls
//! below its minimum), share arithmetic for a token amount (`shares_for`), and the entry limit
//! for unbonding / redelegation queues. The message handlers in `msg.rs` build on these.

use chorus_types::staking::mul_div;
use chorus_types::{Address, Amount, Event, Height};

use super::distribution::{initialize_delegation, withdraw_rewards};
use super::error::{StakingError, staking_err};
use super::helpers::{checked_add_amount, move_pool, pool_of, put_validator, staking_event};
use super::keys;
use super::query::{delegation, must_validator};
use super::types::{Delegation, Validator};
use crate::TxError;
use crate::codec::write;
use crate::components::bank;
use crate::state::StateDelta;

/// Where delegated tokens come from.
pub(super) enum Source<'a> {
    Account,
    Pool(&'a str),
}

pub(super) fn delegate(
    delta: &mut StateDelta<'_>,
    height: Height,
    del: &Address,
    val: &Address,
    amount: Amount,
    source: Source<'_>,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    let mut v = must_validator(delta, val)?;
    if v.tokens == 0 && v.shares > 0 {
        return Err(staking_err(StakingError::InvalidExchangeRate));
    }
    let existing = delegation(delta, del, val)?;
    if existing.is_some() {
        withdraw_rewards(delta, del, val, events)?;
        v = must_validator(delta, val)?;
    }
    match source {
        Source::Account => bank::move_to_module(delta, del, pool_of(v.status), amount)?,
        Source::Pool(p) => move_pool(delta, p, pool_of(v.status), amount)?,
    }
    let shares = if v.shares == 0 {
        amount
    } else {
        mul_div(amount, v.shares, v.tokens).ok_or(TxError::Overflow)?
    };
    if shares == 0 {
        return Err(staking_err(StakingError::InvalidExchangeRate));
    }
    v.tokens = checked_add_amount(v.tokens, amount)?;
    v.shares = checked_add_amount(v.shares, shares)?;
    put_validator(delta, &v)?;
    let d = Delegation { shares: checked_add_amount(existing.map_or(0, |d| d.shares), shares)? };
    write(delta, keys::delegation(del, val), &d);
    initialize_delegation(delta, del, val, height)?;
    Ok(shares)
}

/// Shares worth `amount` tokens of `del`'s delegation (rounded up, capped at the delegation;
/// the rest of a delegation worth nothing is included so no dust delegation remains).
pub(super) fn shares_for(v: &Validator, d: &Delegation, amount: Amount) -> Result<Amount, TxError> {
    if v.tokens == 0 {
        return Err(staking_err(StakingError::InvalidExchangeRate));
    }
    let have = v.tokens_from_shares(d.shares);
    if amount > have {
        return Err(staking_err(StakingError::InsufficientDelegation { asked: amount, have }));
    }
    let mut s = ceil_shares(v, amount)?.min(d.shares);
    let rest = d.shares - s;
    if rest > 0 && v.tokens_from_shares(rest) == 0 {
        s = d.shares;
    }
    Ok(s)
}

fn ceil_shares(v: &Validator, amount: Amount) -> Result<Amount, TxError> {
    chorus_types::staking::mul_div_ceil(amount, v.shares, v.tokens).ok_or(TxError::Overflow)
}

/// Burns `shares` of `del` at `val`; returns the tokens (still in the validator's pool).
pub(super) fn unbond(
    delta: &mut StateDelta<'_>,
    height: Height,
    del: &Address,
    val: &Address,
    shares: Amount,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let d = delegation(delta, del, val)?
        .ok_or_else(|| staking_err(StakingError::NoDelegation(*val)))?;
    withdraw_rewards(delta, del, val, events)?;
    let mut v = must_validator(delta, val)?;
    let shares = shares.min(d.shares);
    let tokens = v.tokens_from_shares(shares);
    v.shares -= shares;
    v.tokens -= tokens;
    if v.shares == 0 {
        // An empty validator may have to be removed; `end_block` checks the ones marked here
        // instead of scanning every validator.
        write(delta, keys::empty(val), &());
    }
    let left = d.shares - shares;
    if left == 0 {
        delta.delete(keys::delegation(del, val));
    } else {
        write(delta, keys::delegation(del, val), &Delegation { shares: left });
    }
    // Self-delegation below the minimum jails the validator.
    if del == val && !v.jailed && v.tokens_from_shares(left) < v.min_self_delegation.max(1) {
        v.jailed = true;
        events.push(staking_event(
            "staking.jail",
            vec![("validator", val.to_string()), ("reason", "self_delegation".into())],
        ));
    }
    put_validator(delta, &v)?;
    if left > 0 {
        initialize_delegation(delta, del, val, height)?;
    }
    Ok(tokens)
}

pub(super) fn push_entry<T>(list: &mut Vec<T>, e: T, max: u32) -> Result<(), TxError> {
    if list.len() >= max as usize {
        return Err(staking_err(StakingError::TooManyEntries(max)));
    }
    list.push(e);
    Ok(())
}
