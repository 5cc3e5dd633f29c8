//! Staking's block hooks. `begin_block` allocates rewards over the previous block's set and
//! tracks liveness; `end_block` pays out matured unbonding entries, drops matured redelegation
//! entries, and recomputes the active validator set (`update_validator_set`: pool moves for
//! validators entering or leaving it, status changes, removal of empty unbonded validators).
//! Nothing here scans every validator: the unbonding, redelegation and validator queues are
//! keyed by completion time and read only up to the block time, and the set comes from the
//! power index (bounded by `max_candidates`).

use std::collections::BTreeSet;

use chorus_types::{Address, Amount, Event, Height, ValidatorInfo};

use super::distribution::{allocate_rewards, pay_out};
use super::helpers::{
    checked_add_amount, move_pool, power_key, put_validator, set_validator_count, staking_event,
    validator_count,
};
use super::keys;
use super::power::{MAX_TOTAL_POWER, power_of, power_params};
use super::query::{
    community_pool, delegation, signing_info, staking_params, validator, validator_rewards,
};
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
    for (k, _) in delta.scan_prefix(keys::UBD_QUEUE)? {
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
    for (k, _) in delta.scan_prefix(keys::RED_QUEUE)? {
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

/// The operator of a power-index or validator-queue key (its last 20 bytes).
fn key_operator(key: &[u8]) -> Option<Address> {
    let tail = key.get(key.len().checked_sub(20)?..)?;
    <[u8; 20]>::try_from(tail).ok().map(Address)
}

fn status_event(op: &Address, from: BondStatus, to: BondStatus) -> Event {
    staking_event(
        "staking.status",
        vec![
            ("validator", op.to_string()),
            ("from", from.as_str().into()),
            ("to", to.as_str().into()),
        ],
    )
}

/// Recomputes the active set and applies its consequences, touching only what can change:
/// - the set = the first `max_validators` entries of the power index (`staking/pow/`: not
///   jailed, power > 0; power desc, consensus key asc) whose operator's self-delegation is at
///   least `min_self_delegation` (C1), within [`MAX_TOTAL_POWER`]. The index holds at most
///   `max_candidates` entries, so the walk is bounded;
/// - validators entering it bond (not_bonded → bonded pool, liveness restarts); members of the
///   previous set (exactly the Bonded validators) that left start unbonding and join the
///   validator queue (`staking/valq/`, by completion time);
/// - due queue entries become Unbonded; empty Unbonded validators (matured with no shares, or
///   marked in `staking/empty/` when their last share was unbonded) are removed;
/// - the set is stored (`staking/set`, previous in `staking/set_prev`).
pub(super) fn update_validator_set(
    delta: &mut StateDelta<'_>,
    height: Height,
    time_ms: u64,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let sp = staking_params(delta)?;
    let pr = power_params(delta)?;
    let mut set: Vec<ValidatorInfo> = Vec::new();
    let mut total: u64 = 0;
    for (k, _) in delta.scan_prefix(keys::POWER)? {
        if set.len() >= sp.max_validators as usize {
            break;
        }
        let Some(op) = key_operator(&k) else { continue };
        let Some(v) = validator(delta, &op)? else { continue };
        let own = delegation(delta, &op, &op)?.map_or(0, |d| v.tokens_from_shares(d.shares));
        if own < sp.min_self_delegation {
            continue;
        }
        let power = power_of(v.tokens, &pr);
        match total.checked_add(power).filter(|t| *t <= MAX_TOTAL_POWER) {
            Some(t) => total = t,
            None => break,
        }
        set.push(ValidatorInfo { consensus_key: v.consensus_key, power, operator: op });
    }
    let current: Vec<ValidatorInfo> = read(delta, keys::SET)?.unwrap_or_default();
    let in_new: BTreeSet<Address> = set.iter().map(|s| s.operator).collect();
    // Members of the previous set that left it: Bonded → Unbonding.
    for old in &current {
        if in_new.contains(&old.operator) {
            continue;
        }
        let Some(mut v) = validator(delta, &old.operator)? else { continue };
        if v.status != BondStatus::Bonded {
            continue;
        }
        move_pool(delta, BONDED_POOL, NOT_BONDED_POOL, v.tokens)?;
        v.status = BondStatus::Unbonding;
        v.unbonding_height = height;
        v.unbonding_time_ms = time_ms.saturating_add(sp.unbonding_time_ms);
        write(delta, keys::val_queue(v.unbonding_time_ms, &v.operator), &());
        events.push(status_event(&v.operator, BondStatus::Bonded, v.status));
        put_validator(delta, &v)?;
    }
    // Newcomers: → Bonded.
    for s in &set {
        let Some(mut v) = validator(delta, &s.operator)? else { continue };
        if v.status == BondStatus::Bonded {
            continue;
        }
        let before = v.status;
        if before == BondStatus::Unbonding {
            delta.delete(keys::val_queue(v.unbonding_time_ms, &v.operator));
        }
        move_pool(delta, NOT_BONDED_POOL, BONDED_POOL, v.tokens)?;
        v.status = BondStatus::Bonded;
        let mut si = signing_info(delta, &v.operator)?.unwrap_or_default();
        si.start_height = height;
        write(delta, keys::signing(&v.operator), &si);
        events.push(status_event(&v.operator, before, v.status));
        put_validator(delta, &v)?;
    }
    // Unbonding validators whose time has come: → Unbonded (removed if empty).
    for (k, _) in delta.scan_prefix(keys::VAL_QUEUE)? {
        if queue_time(&k, keys::VAL_QUEUE) > time_ms {
            break;
        }
        delta.delete(k.clone());
        let Some(op) = key_operator(&k) else { continue };
        let Some(mut v) = validator(delta, &op)? else { continue };
        if v.status != BondStatus::Unbonding || v.unbonding_time_ms > time_ms {
            continue;
        }
        v.status = BondStatus::Unbonded;
        events.push(status_event(&op, BondStatus::Unbonding, v.status));
        if v.shares == 0 {
            remove_validator(delta, &v, events)?;
        } else {
            put_validator(delta, &v)?;
        }
    }
    // Validators whose last share was unbonded in this block.
    for (k, _) in delta.scan_prefix(keys::EMPTY)? {
        delta.delete(k.clone());
        let Some(op) = key_operator(&k) else { continue };
        let Some(v) = validator(delta, &op)? else { continue };
        if v.status == BondStatus::Unbonded && v.shares == 0 {
            remove_validator(delta, &v, events)?;
        }
    }
    // Only real changes are written, so an idle block changes nothing here.
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
        for (k, _) in delta.scan_prefix(&keys::k(prefix, &[&op.0]))? {
            delta.delete(k);
        }
    }
    let pr = power_params(delta)?;
    if let Some(k) = power_key(v, &pr) {
        delta.delete(k);
    }
    delta.delete(keys::val_queue(v.unbonding_time_ms, &op));
    delta.delete(keys::empty(&op));
    delta.delete(keys::validator(&op));
    set_validator_count(delta, validator_count(delta)?.saturating_sub(1));
    let tomb = signing_info(delta, &op)?.is_some_and(|s| s.tombstoned);
    if !tomb {
        delta.delete(keys::cons(&v.consensus_key));
        delta.delete(keys::signing(&op));
    }
    events.push(staking_event("staking.remove_validator", vec![("validator", op.to_string())]));
    Ok(())
}
