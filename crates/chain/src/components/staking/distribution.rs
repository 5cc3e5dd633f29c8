//! F1 reward distribution (Cosmos x/distribution): per-validator periods and cumulative reward
//! ratios, a delegation's rewards replayed across slashes (`rewards_until`), withdrawing them,
//! and `allocate_rewards`, which mints the block reward, takes the collected fees and splits
//! both over the previous block's set (community tax, commission, delegators).

use chorus_types::staking::{Dec, mul_div};
use chorus_types::{Address, Amount, Event, Height, ValidatorInfo};

use super::DISTRIBUTION_POOL;
use super::helpers::{checked_add_amount, staking_event};
use super::keys;
use super::query::{
    community_pool, delegation, distribution_params, list, must_validator, reward_totals,
    validator, validator_rewards,
};
use super::types::{StartInfo, Validator};
use crate::TxError;
use crate::codec::{read, write};
use crate::components::bank;
use crate::state::{StateDelta, StateRead};

fn hist(state: &dyn StateRead, op: &Address, period: u64) -> Result<u128, TxError> {
    Ok(read(state, &keys::dist_hist(op, period))?.unwrap_or(0))
}

/// Ends the validator's current period: its current rewards become a ratio increment over its
/// tokens (or go to the community pool if it has none). Returns the period ended.
pub(super) fn increment_period(delta: &mut StateDelta<'_>, op: &Address) -> Result<u64, TxError> {
    let v = must_validator(delta, op)?;
    let mut vr = validator_rewards(delta, op)?;
    let inc = if v.tokens == 0 {
        if vr.current > 0 {
            let c = checked_add_amount(community_pool(delta)?, vr.current)?;
            write(delta, keys::DIST_COMMUNITY.to_vec(), &c);
            vr.outstanding = vr.outstanding.saturating_sub(vr.current);
        }
        0
    } else {
        mul_div(vr.current, Dec::SCALE, v.tokens).ok_or(TxError::Overflow)?
    };
    let prev = hist(delta, op, vr.period.saturating_sub(1))?;
    write(delta, keys::dist_hist(op, vr.period), &checked_add_amount(prev, inc)?);
    let ended = vr.period;
    vr.current = 0;
    vr.period += 1;
    write(delta, keys::dist_val(op), &vr);
    Ok(ended)
}

/// Rewards of `del` at `val` up to a period whose cumulative ratio is `end_ratio`, replaying
/// slashes in between.
fn rewards_until(
    state: &dyn StateRead,
    del: &Address,
    v: &Validator,
    end_period: u64,
    end_ratio: u128,
) -> Result<Amount, TxError> {
    let Some(start) = read::<StartInfo>(state, &keys::dist_start(del, &v.operator))? else {
        return Ok(0);
    };
    let seg = |from: u64, to_ratio: u128, stake: Amount| -> Result<Amount, TxError> {
        let r0 = hist(state, &v.operator, from)?;
        Ok(mul_div(to_ratio.saturating_sub(r0), stake, Dec::SCALE).unwrap_or(0))
    };
    let mut stake = start.stake;
    let mut from = start.previous_period;
    let mut total: Amount = 0;
    for (k, fraction) in list::<Dec>(state, &keys::k(keys::DIST_SLASH, &[&v.operator.0]))? {
        let p = k
            .get(k.len().saturating_sub(8)..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| TxError::corrupt(&k))?;
        if p <= from || p > end_period {
            continue;
        }
        total = checked_add_amount(total, seg(from, hist(state, &v.operator, p)?, stake)?)?;
        stake = fraction.one_minus().mul_floor(stake).unwrap_or(0);
        from = p;
    }
    if let Some(d) = delegation(state, del, &v.operator)? {
        stake = stake.min(v.tokens_from_shares(d.shares));
    }
    checked_add_amount(total, seg(from, end_ratio, stake)?)
}

/// Rewards `del` could withdraw from `val` now (read-only; the API's reward query).
pub fn pending_rewards(
    state: &dyn StateRead,
    del: &Address,
    val: &Address,
) -> Result<Amount, TxError> {
    let Some(v) = validator(state, val)? else { return Ok(0) };
    let vr = validator_rewards(state, val)?;
    let ended = vr.period.saturating_sub(1);
    let mut ratio = hist(state, val, ended)?;
    if v.tokens > 0 {
        ratio = checked_add_amount(ratio, mul_div(vr.current, Dec::SCALE, v.tokens).unwrap_or(0))?;
    }
    let r = rewards_until(state, del, &v, vr.period, ratio)?;
    Ok(r.min(vr.outstanding.saturating_sub(vr.commission)))
}

pub(super) fn pay_out(
    delta: &mut StateDelta<'_>,
    to: &Address,
    amount: Amount,
) -> Result<(), TxError> {
    if amount == 0 {
        return Ok(());
    }
    bank::move_from_module(delta, DISTRIBUTION_POOL, to, amount)?;
    let mut t = reward_totals(delta)?;
    t.paid = checked_add_amount(t.paid, amount)?;
    write(delta, keys::DIST_TOTALS.to_vec(), &t);
    Ok(())
}

/// Ends the period, pays `del`'s rewards from `val`, deletes its starting info.
pub(super) fn withdraw_rewards(
    delta: &mut StateDelta<'_>,
    del: &Address,
    val: &Address,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let ended = increment_period(delta, val)?;
    let v = must_validator(delta, val)?;
    let ratio = hist(delta, val, ended)?;
    let mut vr = validator_rewards(delta, val)?;
    let r = rewards_until(delta, del, &v, ended, ratio)?
        .min(vr.outstanding.saturating_sub(vr.commission));
    vr.outstanding -= r;
    write(delta, keys::dist_val(val), &vr);
    pay_out(delta, del, r)?;
    delta.delete(keys::dist_start(del, val));
    if r > 0 {
        events.push(staking_event(
            "distribution.withdraw_rewards",
            vec![
                ("delegator", del.to_string()),
                ("validator", val.to_string()),
                ("amount", r.to_string()),
            ],
        ));
    }
    Ok(r)
}

pub(super) fn initialize_delegation(
    delta: &mut StateDelta<'_>,
    del: &Address,
    val: &Address,
    height: Height,
) -> Result<(), TxError> {
    let v = must_validator(delta, val)?;
    let Some(d) = delegation(delta, del, val)? else { return Ok(()) };
    let vr = validator_rewards(delta, val)?;
    let info = StartInfo {
        previous_period: vr.period.saturating_sub(1),
        stake: v.tokens_from_shares(d.shares),
        height,
    };
    write(delta, keys::dist_start(del, val), &info);
    Ok(())
}

/// Mints the block reward, takes the fees collected since the last allocation, and allocates both
/// over `set` (the set that signed the previous block): the community tax first, the rest by
/// power (commission to the operator, the remainder to the delegators' F1 period); what is not
/// given (rounding, no set) goes to the community pool.
pub(super) fn allocate_rewards(
    delta: &mut StateDelta<'_>,
    set: &[ValidatorInfo],
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let p = distribution_params(delta)?;
    let fees = bank::module_balance(delta, bank::FEE_COLLECTOR)?;
    let total = checked_add_amount(p.block_reward, fees)?;
    if total == 0 {
        return Ok(());
    }
    if p.block_reward > 0 {
        bank::mint_to_module(delta, DISTRIBUTION_POOL, p.block_reward)?;
    }
    if fees > 0 {
        bank::move_between_modules(delta, bank::FEE_COLLECTOR, DISTRIBUTION_POOL, fees)?;
    }
    let mut totals = reward_totals(delta)?;
    totals.minted = checked_add_amount(totals.minted, p.block_reward)?;
    totals.fees = checked_add_amount(totals.fees, fees)?;
    write(delta, keys::DIST_TOTALS.to_vec(), &totals);
    let tax = p.community_tax.mul_ceil(total).unwrap_or(total).min(total);
    let to_validators = total - tax;
    let total_power: u128 = set.iter().map(|v| u128::from(v.power)).sum();
    let mut given: Amount = 0;
    if total_power > 0 {
        for vi in set {
            let Some(v) = validator(delta, &vi.operator)? else { continue };
            let r = mul_div(to_validators, u128::from(vi.power), total_power).unwrap_or(0);
            if r == 0 {
                continue;
            }
            let commission = v.commission.rate.mul_floor(r).unwrap_or(r).min(r);
            let mut vr = validator_rewards(delta, &vi.operator)?;
            vr.outstanding = checked_add_amount(vr.outstanding, r)?;
            vr.commission = checked_add_amount(vr.commission, commission)?;
            vr.current = checked_add_amount(vr.current, r - commission)?;
            write(delta, keys::dist_val(&vi.operator), &vr);
            given += r;
        }
    }
    let community = checked_add_amount(community_pool(delta)?, total - given)?;
    write(delta, keys::DIST_COMMUNITY.to_vec(), &community);
    events.push(staking_event(
        "distribution.rewards",
        vec![
            ("minted", p.block_reward.to_string()),
            ("fees", fees.to_string()),
            ("validators", given.to_string()),
            ("community", (total - given).to_string()),
        ],
    ));
    Ok(())
}
