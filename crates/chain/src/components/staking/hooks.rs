//! Staking's block hooks. `begin_block` allocates rewards over the previous block's set and
//! tracks liveness; `end_block` pays out matured unbonding entries, drops matured redelegation
//! entries, and recomputes the active validator set (`update_validator_set`: pool moves for
//! validators entering or leaving it, status changes, removal of empty unbonded validators).

use chorus_types::{Address, Amount, ConsensusKeyBytes, Event, Height, ValidatorInfo};

use super::distribution::{allocate_rewards, pay_out};
use super::helpers::{checked_add_amount, move_pool, put_validator, staking_event};
use super::keys;
use super::power::{MAX_TOTAL_POWER, power_of, power_params};
use super::query::{community_pool, signing_info, staking_params, validator_rewards, validators};
use super::slashing::track_liveness;
use super::types::{BondStatus, RedelegationEntry, UnbondingEntry, Validator};
use super::{BONDED_POOL, NOT_BONDED_POOL};
use crate::TxError;
use crate::codec::{read, write};
use crate::components::bank;
use crate::context::BlockContext;
use crate::state::{StateDelta, StateRead};

pub(crate) fn begin_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let prev: Vec<ValidatorInfo> = read(delta, keys::SET_PREV)?.unwrap_or_default();
    allocate_rewards(delta, &prev, events)?;
    track_liveness(delta, ctx, events)
}

pub(crate) fn end_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    complete_unbondings(delta, ctx, events)?;
    complete_redelegations(delta, ctx)?;
    update_validator_set(delta, ctx.height, ctx.time_ms, events)
}

fn queue_time(key: &[u8], prefix: &[u8]) -> u64 {
    key.get(prefix.len()..prefix.len() + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(u64::MAX, u64::from_be_bytes)
}

fn complete_unbondings(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    for (k, _) in delta.scan_prefix(keys::UBD_QUEUE) {
        if queue_time(&k, keys::UBD_QUEUE) > ctx.time_ms {
            break;
        }
        delta.delete(k.clone());
        let [del, val] = keys::addrs(&k, keys::UBD_QUEUE, 8)[..] else { continue };
        let entries: Vec<UnbondingEntry> = read(delta, &keys::ubd(&del, &val))?.unwrap_or_default();
        let (done, keep): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|e| e.completion_time_ms <= ctx.time_ms);
        let paid: Amount = done.iter().map(|e| e.balance).sum();
        if paid > 0 {
            bank::move_from_module(delta, NOT_BONDED_POOL, &del, paid)?;
        }
        if keep.is_empty() {
            delta.delete(keys::ubd(&del, &val));
        } else {
            write(delta, keys::ubd(&del, &val), &keep);
        }
        if !done.is_empty() {
            events.push(staking_event(
                "staking.unbonding_complete",
                vec![
                    ("delegator", del.to_string()),
                    ("validator", val.to_string()),
                    ("amount", paid.to_string()),
                ],
            ));
        }
    }
    Ok(())
}

fn complete_redelegations(delta: &mut StateDelta<'_>, ctx: &BlockContext) -> Result<(), TxError> {
    for (k, _) in delta.scan_prefix(keys::RED_QUEUE) {
        if queue_time(&k, keys::RED_QUEUE) > ctx.time_ms {
            break;
        }
        delta.delete(k.clone());
        let [del, src, dst] = keys::addrs(&k, keys::RED_QUEUE, 8)[..] else { continue };
        let mut entries: Vec<RedelegationEntry> =
            read(delta, &keys::red(&del, &src, &dst))?.unwrap_or_default();
        entries.retain(|e| e.completion_time_ms > ctx.time_ms);
        if entries.is_empty() {
            delta.delete(keys::red(&del, &src, &dst));
        } else {
            write(delta, keys::red(&del, &src, &dst), &entries);
        }
    }
    Ok(())
}

/// Recomputes the active set (top `max_validators` by power, not jailed), moves tokens between
/// the pools for validators entering or leaving it, matures unbonding validators, removes empty
/// unbonded ones, and stores the set (`staking/set`, previous in `staking/set_prev`).
pub(super) fn update_validator_set(
    delta: &mut StateDelta<'_>,
    height: Height,
    time_ms: u64,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let sp = staking_params(delta)?;
    let pr = power_params(delta)?;
    let all = validators(delta)?;
    let mut cands: Vec<(u64, ConsensusKeyBytes, Address)> = all
        .iter()
        .filter(|v| !v.jailed)
        .map(|v| (power_of(v.tokens, &pr), v.consensus_key, v.operator))
        .filter(|c| c.0 > 0)
        .collect();
    cands.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut set = Vec::new();
    let mut total: u64 = 0;
    for (power, key, op) in cands.into_iter().take(sp.max_validators as usize) {
        match total.checked_add(power).filter(|t| *t <= MAX_TOTAL_POWER) {
            Some(t) => total = t,
            None => break,
        }
        set.push(ValidatorInfo { consensus_key: key, power, operator: op });
    }
    for mut v in all {
        let in_set = set.iter().any(|s| s.operator == v.operator);
        let before = v.status;
        let orig = v.clone();
        if in_set && v.status != BondStatus::Bonded {
            move_pool(delta, NOT_BONDED_POOL, BONDED_POOL, v.tokens)?;
            v.status = BondStatus::Bonded;
            let mut si = signing_info(delta, &v.operator)?.unwrap_or_default();
            si.start_height = height;
            write(delta, keys::signing(&v.operator), &si);
        } else if !in_set && v.status == BondStatus::Bonded {
            move_pool(delta, BONDED_POOL, NOT_BONDED_POOL, v.tokens)?;
            v.status = BondStatus::Unbonding;
            v.unbonding_height = height;
            v.unbonding_time_ms = time_ms.saturating_add(sp.unbonding_time_ms);
        } else if v.status == BondStatus::Unbonding && v.unbonding_time_ms <= time_ms {
            v.status = BondStatus::Unbonded;
        }
        if v.status != before {
            events.push(staking_event(
                "staking.status",
                vec![
                    ("validator", v.operator.to_string()),
                    ("from", before.as_str().into()),
                    ("to", v.status.as_str().into()),
                ],
            ));
        }
        if v.status == BondStatus::Unbonded && v.shares == 0 {
            remove_validator(delta, &v, events)?;
        } else if v != orig {
            put_validator(delta, &v);
        }
    }
    // Only real changes are written, so an idle block changes nothing here.
    let current: Vec<ValidatorInfo> = read(delta, keys::SET)?.unwrap_or_default();
    let prev: Option<Vec<ValidatorInfo>> = read(delta, keys::SET_PREV)?;
    if prev.as_ref() != Some(&current) {
        write(delta, keys::SET_PREV.to_vec(), &current);
    }
    if current != set || prev.is_none() {
        write(delta, keys::SET.to_vec(), &set);
    }
    Ok(())
}

fn remove_validator(
    delta: &mut StateDelta<'_>,
    v: &Validator,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let op = v.operator;
    let vr = validator_rewards(delta, &op)?;
    pay_out(delta, &op, vr.commission.min(vr.outstanding))?;
    let rest = vr.outstanding.saturating_sub(vr.commission);
    let c = checked_add_amount(community_pool(delta)?, rest)?;
    write(delta, keys::DIST_COMMUNITY.to_vec(), &c);
    if v.tokens > 0 {
        // Unreachable with zero shares except for rounding dust: burn it.
        bank::burn_from_module(delta, NOT_BONDED_POOL, v.tokens)?;
    }
    delta.delete(keys::dist_val(&op));
    for prefix in [keys::DIST_HIST, keys::DIST_SLASH] {
        for (k, _) in delta.scan_prefix(&keys::k(prefix, &[&op.0])) {
            delta.delete(k);
        }
    }
    delta.delete(keys::validator(&op));
    let tomb = signing_info(delta, &op)?.is_some_and(|s| s.tombstoned);
    if !tomb {
        delta.delete(keys::cons(&v.consensus_key));
        delta.delete(keys::signing(&op));
    }
    events.push(staking_event("staking.remove_validator", vec![("validator", op.to_string())]));
    Ok(())
}
