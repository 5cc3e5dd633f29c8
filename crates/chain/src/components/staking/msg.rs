//! Staking messages (`Msg::Staking`): the stateless and stateful checks, the tokens a message
//! spends, and `execute`, which dispatches each `StakingMsg` variant to its handler
//! (`create_validator`, `edit_validator`, `delegate`, `undelegate`, `cancel_unbonding`,
//! `redelegate`, `withdraw_rewards`, `withdraw_commission`, `unjail`, `submit_evidence`).

use chorus_types::staking::{
    CommissionRates, Dec, Description, DoubleSignEvidence, StakingMsg, pop_bytes,
};
use chorus_types::{Address, Amount, ConsensusKeyBytes, Event, Height};

use super::NOT_BONDED_POOL;
use super::delegation::{Source, push_entry, shares_for, unbond};
use super::distribution::{initialize_delegation, pay_out};
use super::error::{StakingError, staking_err};
use super::helpers::{
    move_pool, pool_of, put_validator, staking_event, store_new_validator, validator_count,
};
use super::keys;
use super::query::{
    delegation, must_validator, redelegations_of, signing_info, staking_params, validator,
    validator_by_consensus_key, validator_rewards,
};
use super::slashing::handle_evidence;
use super::types::{BondStatus, Commission, RedelegationEntry, UnbondingEntry};
use crate::TxError;
use crate::codec::{read, write};
use crate::components::{TxContext, bank};
use crate::state::{StateDelta, StateRead};

pub(crate) fn check_stateless(msg: &StakingMsg) -> Result<(), TxError> {
    match msg {
        StakingMsg::CreateValidator {
            self_delegation,
            commission,
            description,
            min_self_delegation,
            ..
        } => {
            if *self_delegation == 0 {
                return Err(TxError::ZeroAmount);
            }
            if self_delegation < min_self_delegation {
                return Err(staking_err(StakingError::SelfDelegationTooLow {
                    min: *min_self_delegation,
                    have: *self_delegation,
                }));
            }
            check_rates(commission.rate, commission.max_rate, commission.max_change_rate)?;
            if !description.is_valid() {
                return Err(staking_err(StakingError::InvalidDescription));
            }
            Ok(())
        }
        StakingMsg::EditValidator { description, .. } => {
            if description.as_ref().is_some_and(|d| !d.is_valid()) {
                return Err(staking_err(StakingError::InvalidDescription));
            }
            Ok(())
        }
        StakingMsg::Delegate { amount, .. }
        | StakingMsg::Undelegate { amount, .. }
        | StakingMsg::CancelUnbonding { amount, .. }
        | StakingMsg::Redelegate { amount, .. } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            if let StakingMsg::Redelegate { src, dst, .. } = msg
                && src == dst
            {
                return Err(staking_err(StakingError::SelfRedelegation));
            }
            Ok(())
        }
        StakingMsg::WithdrawRewards { .. }
        | StakingMsg::WithdrawCommission
        | StakingMsg::Unjail
        | StakingMsg::SubmitEvidence { .. } => Ok(()),
    }
}

fn check_rates(rate: Dec, max_rate: Dec, max_change: Dec) -> Result<(), TxError> {
    if max_rate > Dec::ONE {
        return Err(staking_err(StakingError::InvalidCommission("max rate above 1")));
    }
    if rate > max_rate {
        return Err(staking_err(StakingError::InvalidCommission("rate above max rate")));
    }
    if max_change > max_rate {
        return Err(staking_err(StakingError::InvalidCommission("max change rate above max rate")));
    }
    Ok(())
}

pub(crate) fn spend(msg: &StakingMsg) -> Amount {
    match msg {
        StakingMsg::CreateValidator { self_delegation, .. } => *self_delegation,
        StakingMsg::Delegate { amount, .. } => *amount,
        _ => 0,
    }
}

/// A new validator must bring at least `min_self_delegation` (C1: a seat used to cost 1 unit)
/// and find a free place under `max_candidates` (bounds the validator-set update).
fn check_seat(state: &dyn StateRead, self_delegation: Amount) -> Result<(), TxError> {
    let sp = staking_params(state)?;
    if self_delegation < sp.min_self_delegation {
        return Err(staking_err(StakingError::SelfDelegationTooLow {
            min: sp.min_self_delegation,
            have: self_delegation,
        }));
    }
    if validator_count(state)? >= sp.max_candidates {
        return Err(staking_err(StakingError::TooManyValidators(sp.max_candidates)));
    }
    Ok(())
}

pub(crate) fn check_stateful(
    state: &dyn StateRead,
    ctx: &TxContext<'_>,
    msg: &StakingMsg,
) -> Result<(), TxError> {
    match msg {
        StakingMsg::CreateValidator { self_delegation, .. } => {
            if validator(state, &ctx.sender)?.is_some() {
                return Err(staking_err(StakingError::ValidatorExists(ctx.sender)));
            }
            check_seat(state, *self_delegation)
        }
        StakingMsg::Delegate { validator: v, .. } | StakingMsg::Undelegate { validator: v, .. } => {
            must_validator(state, v).map(|_| ())
        }
        StakingMsg::Redelegate { src, dst, .. } => {
            must_validator(state, src)?;
            must_validator(state, dst).map(|_| ())
        }
        _ => Ok(()),
    }
}

pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &StakingMsg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    match msg {
        StakingMsg::CreateValidator {
            consensus_key,
            pop,
            self_delegation,
            min_self_delegation,
            commission,
            description,
        } => create_validator(
            delta,
            ctx,
            consensus_key,
            pop,
            self_delegation,
            min_self_delegation,
            commission,
            description,
            events,
        ),
        StakingMsg::EditValidator { description, commission_rate, min_self_delegation } => {
            edit_validator(delta, ctx, description, commission_rate, min_self_delegation, events)
        }
        StakingMsg::Delegate { validator: val, amount } => {
            delegate(delta, ctx, val, amount, events)
        }
        StakingMsg::Undelegate { validator: val, amount } => {
            undelegate(delta, ctx, val, amount, events)
        }
        StakingMsg::CancelUnbonding { validator: val, amount, creation_height } => {
            cancel_unbonding(delta, ctx, val, amount, creation_height, events)
        }
        StakingMsg::Redelegate { src, dst, amount } => {
            redelegate(delta, ctx, src, dst, amount, events)
        }
        StakingMsg::WithdrawRewards { validator: val } => withdraw_rewards(delta, ctx, val, events),
        StakingMsg::WithdrawCommission => withdraw_commission(delta, ctx, events),
        StakingMsg::Unjail => unjail(delta, ctx, events),
        StakingMsg::SubmitEvidence { evidence } => submit_evidence(delta, ctx, evidence, events),
    }
}

/// `StakingMsg::CreateValidator`.
#[allow(clippy::too_many_arguments)]
fn create_validator(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    consensus_key: &ConsensusKeyBytes,
    pop: &[u8; 64],
    self_delegation: &Amount,
    min_self_delegation: &Amount,
    commission: &CommissionRates,
    description: &Description,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height, now) = (ctx.sender, ctx.block.height, ctx.block.time_ms);
    if validator(delta, &sender)?.is_some() {
        return Err(staking_err(StakingError::ValidatorExists(sender)));
    }
    if validator_by_consensus_key(delta, consensus_key)?.is_some() {
        return Err(staking_err(StakingError::ConsensusKeyInUse));
    }
    if !chorus_crypto::is_valid_consensus_key(consensus_key) {
        return Err(staking_err(StakingError::InvalidConsensusKey));
    }
    chorus_crypto::verify_consensus(consensus_key, &pop_bytes(&sender, ctx.block.chain_id), pop)
        .map_err(|_| staking_err(StakingError::BadProofOfPossession))?;
    check_rates(commission.rate, commission.max_rate, commission.max_change_rate)?;
    if commission.rate < staking_params(delta)?.min_commission_rate {
        return Err(staking_err(StakingError::InvalidCommission("rate below the minimum")));
    }
    if self_delegation < min_self_delegation {
        return Err(staking_err(StakingError::SelfDelegationTooLow {
            min: *min_self_delegation,
            have: *self_delegation,
        }));
    }
    check_seat(delta, *self_delegation)?;
    store_new_validator(
        delta,
        sender,
        *consensus_key,
        Commission {
            rate: commission.rate,
            max_rate: commission.max_rate,
            max_change_rate: commission.max_change_rate,
            update_time_ms: now,
        },
        *min_self_delegation,
        description.clone(),
    )?;
    super::delegation::delegate(
        delta,
        height,
        &sender,
        &sender,
        *self_delegation,
        Source::Account,
        events,
    )?;
    events.push(staking_event(
        "staking.create_validator",
        vec![
            ("validator", sender.to_string()),
            ("consensus_key", format!("0x{}", hex::encode(consensus_key))),
            ("self_delegation", self_delegation.to_string()),
            ("commission_rate", commission.rate.to_string()),
        ],
    ));
    Ok(())
}

/// `StakingMsg::EditValidator`.
fn edit_validator(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    description: &Option<Description>,
    commission_rate: &Option<Dec>,
    min_self_delegation: &Option<Amount>,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, now) = (ctx.sender, ctx.block.time_ms);
    let mut v = must_validator(delta, &sender)?;
    if let Some(d) = description {
        v.description = d.clone();
    }
    if let Some(rate) = commission_rate {
        let sp = staking_params(delta)?;
        let next = v.commission.update_time_ms.saturating_add(sp.commission_change_period_ms);
        if now < next {
            return Err(staking_err(StakingError::CommissionChangeTooSoon { next_ms: next }));
        }
        if *rate > v.commission.max_rate {
            return Err(staking_err(StakingError::InvalidCommission("rate above max rate")));
        }
        if *rate < sp.min_commission_rate {
            return Err(staking_err(StakingError::InvalidCommission("rate below the minimum")));
        }
        if rate.0.abs_diff(v.commission.rate.0) > v.commission.max_change_rate.0 {
            return Err(staking_err(StakingError::InvalidCommission(
                "change above max change rate",
            )));
        }
        v.commission.rate = *rate;
        v.commission.update_time_ms = now;
    }
    if let Some(m) = min_self_delegation {
        if *m <= v.min_self_delegation {
            return Err(staking_err(StakingError::InvalidMinSelfDelegation("may only increase")));
        }
        let own =
            delegation(delta, &sender, &sender)?.map_or(0, |d| v.tokens_from_shares(d.shares));
        if *m > own {
            return Err(staking_err(StakingError::InvalidMinSelfDelegation(
                "above current self-delegation",
            )));
        }
        v.min_self_delegation = *m;
    }
    put_validator(delta, &v)?;
    events.push(staking_event(
        "staking.edit_validator",
        vec![("validator", sender.to_string()), ("commission_rate", v.commission.rate.to_string())],
    ));
    Ok(())
}

/// `StakingMsg::Delegate`.
fn delegate(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    val: &Address,
    amount: &Amount,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height) = (ctx.sender, ctx.block.height);
    let shares =
        super::delegation::delegate(delta, height, &sender, val, *amount, Source::Account, events)?;
    events.push(staking_event(
        "staking.delegate",
        vec![
            ("delegator", sender.to_string()),
            ("validator", val.to_string()),
            ("amount", amount.to_string()),
            ("shares", shares.to_string()),
        ],
    ));
    Ok(())
}

/// `StakingMsg::Undelegate`.
fn undelegate(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    val: &Address,
    amount: &Amount,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height, now) = (ctx.sender, ctx.block.height, ctx.block.time_ms);
    let v = must_validator(delta, val)?;
    let d = delegation(delta, &sender, val)?
        .ok_or_else(|| staking_err(StakingError::NoDelegation(*val)))?;
    let shares = shares_for(&v, &d, *amount)?;
    let sp = staking_params(delta)?;
    let mut entries: Vec<UnbondingEntry> =
        read(delta, &keys::ubd(&sender, val))?.unwrap_or_default();
    if v.status != BondStatus::Unbonded && entries.len() >= sp.max_entries as usize {
        return Err(staking_err(StakingError::TooManyEntries(sp.max_entries)));
    }
    let tokens = unbond(delta, height, &sender, val, shares, events)?;
    let completion = now.saturating_add(sp.unbonding_time_ms);
    if v.status == BondStatus::Unbonded {
        if tokens > 0 {
            bank::move_from_module(delta, NOT_BONDED_POOL, &sender, tokens)?;
        }
    } else if tokens > 0 {
        move_pool(delta, pool_of(v.status), NOT_BONDED_POOL, tokens)?;
        push_entry(
            &mut entries,
            UnbondingEntry {
                creation_height: height,
                completion_time_ms: completion,
                initial_balance: tokens,
                balance: tokens,
            },
            sp.max_entries,
        )?;
        write(delta, keys::ubd(&sender, val), &entries);
        write(delta, keys::ubd_queue(completion, &sender, val), &());
    }
    events.push(staking_event(
        "staking.undelegate",
        vec![
            ("delegator", sender.to_string()),
            ("validator", val.to_string()),
            ("amount", tokens.to_string()),
            (
                "completion_time_ms",
                if v.status == BondStatus::Unbonded { now } else { completion }.to_string(),
            ),
        ],
    ));
    Ok(())
}

/// `StakingMsg::CancelUnbonding`.
fn cancel_unbonding(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    val: &Address,
    amount: &Amount,
    creation_height: &Height,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height, now) = (ctx.sender, ctx.block.height, ctx.block.time_ms);
    let v = must_validator(delta, val)?;
    if v.jailed {
        return Err(staking_err(StakingError::ValidatorJailed));
    }
    let mut entries: Vec<UnbondingEntry> =
        read(delta, &keys::ubd(&sender, val))?.unwrap_or_default();
    let i = entries
        .iter()
        .position(|e| e.creation_height == *creation_height && e.completion_time_ms > now)
        .ok_or_else(|| staking_err(StakingError::NoUnbondingEntry(*creation_height)))?;
    if *amount > entries[i].balance {
        return Err(staking_err(StakingError::InsufficientDelegation {
            asked: *amount,
            have: entries[i].balance,
        }));
    }
    entries[i].balance -= amount;
    entries[i].initial_balance = entries[i].initial_balance.saturating_sub(*amount);
    if entries[i].balance == 0 {
        entries.remove(i);
    }
    if entries.is_empty() {
        delta.delete(keys::ubd(&sender, val));
    } else {
        write(delta, keys::ubd(&sender, val), &entries);
    }
    super::delegation::delegate(
        delta,
        height,
        &sender,
        val,
        *amount,
        Source::Pool(NOT_BONDED_POOL),
        events,
    )?;
    events.push(staking_event(
        "staking.cancel_unbonding",
        vec![
            ("delegator", sender.to_string()),
            ("validator", val.to_string()),
            ("amount", amount.to_string()),
        ],
    ));
    Ok(())
}

/// `StakingMsg::Redelegate`.
fn redelegate(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    src: &Address,
    dst: &Address,
    amount: &Amount,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height, now) = (ctx.sender, ctx.block.height, ctx.block.time_ms);
    if src == dst {
        return Err(staking_err(StakingError::SelfRedelegation));
    }
    let sv = must_validator(delta, src)?;
    must_validator(delta, dst)?;
    // No hopping: stake redelegated INTO src cannot move on until that matures.
    if redelegations_of(delta, &sender)?
        .iter()
        .any(|(_, d, es)| d == src && es.iter().any(|e| e.completion_time_ms > now))
    {
        return Err(staking_err(StakingError::TransitiveRedelegation(*src)));
    }
    let sp = staking_params(delta)?;
    let mut entries: Vec<RedelegationEntry> =
        read(delta, &keys::red(&sender, src, dst))?.unwrap_or_default();
    if entries.len() >= sp.max_entries as usize {
        return Err(staking_err(StakingError::TooManyEntries(sp.max_entries)));
    }
    let d = delegation(delta, &sender, src)?
        .ok_or_else(|| staking_err(StakingError::NoDelegation(*src)))?;
    let shares = shares_for(&sv, &d, *amount)?;
    let tokens = unbond(delta, height, &sender, src, shares, events)?;
    if tokens == 0 {
        return Err(staking_err(StakingError::InsufficientDelegation { asked: *amount, have: 0 }));
    }
    let shares_dst = super::delegation::delegate(
        delta,
        height,
        &sender,
        dst,
        tokens,
        Source::Pool(pool_of(sv.status)),
        events,
    )?;
    let completion = now.saturating_add(sp.unbonding_time_ms);
    if sv.status != BondStatus::Unbonded {
        push_entry(
            &mut entries,
            RedelegationEntry {
                creation_height: height,
                completion_time_ms: completion,
                initial_balance: tokens,
                shares_dst,
            },
            sp.max_entries,
        )?;
        write(delta, keys::red(&sender, src, dst), &entries);
        write(delta, keys::red_queue(completion, &sender, src, dst), &());
    }
    events.push(staking_event(
        "staking.redelegate",
        vec![
            ("delegator", sender.to_string()),
            ("src", src.to_string()),
            ("dst", dst.to_string()),
            ("amount", tokens.to_string()),
            ("completion_time_ms", completion.to_string()),
        ],
    ));
    Ok(())
}

/// `StakingMsg::WithdrawRewards`.
fn withdraw_rewards(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    val: &Address,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height) = (ctx.sender, ctx.block.height);
    must_validator(delta, val)?;
    if delegation(delta, &sender, val)?.is_none() {
        return Err(staking_err(StakingError::NoDelegation(*val)));
    }
    super::distribution::withdraw_rewards(delta, &sender, val, events)?;
    initialize_delegation(delta, &sender, val, height)
}

/// `StakingMsg::WithdrawCommission`.
fn withdraw_commission(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let sender = ctx.sender;
    must_validator(delta, &sender)?;
    let mut vr = validator_rewards(delta, &sender)?;
    let c = vr.commission.min(vr.outstanding);
    vr.commission = 0;
    vr.outstanding -= c;
    write(delta, keys::dist_val(&sender), &vr);
    pay_out(delta, &sender, c)?;
    events.push(staking_event(
        "distribution.withdraw_commission",
        vec![("validator", sender.to_string()), ("amount", c.to_string())],
    ));
    Ok(())
}

/// `StakingMsg::Unjail`.
fn unjail(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, now) = (ctx.sender, ctx.block.time_ms);
    let mut v = must_validator(delta, &sender)?;
    let si = signing_info(delta, &sender)?.unwrap_or_default();
    if si.tombstoned {
        return Err(staking_err(StakingError::Tombstoned));
    }
    if !v.jailed {
        return Err(staking_err(StakingError::NotJailed));
    }
    if now < si.jailed_until_ms {
        return Err(staking_err(StakingError::StillJailed { until_ms: si.jailed_until_ms }));
    }
    let own = delegation(delta, &sender, &sender)?.map_or(0, |d| v.tokens_from_shares(d.shares));
    let min = v.min_self_delegation.max(staking_params(delta)?.min_self_delegation);
    if own == 0 || own < min {
        return Err(staking_err(StakingError::SelfDelegationTooLow { min, have: own }));
    }
    v.jailed = false;
    put_validator(delta, &v)?;
    events.push(staking_event("staking.unjail", vec![("validator", sender.to_string())]));
    Ok(())
}

/// `StakingMsg::SubmitEvidence`.
fn submit_evidence(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    evidence: &DoubleSignEvidence,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    handle_evidence(delta, ctx.block, evidence, events)?;
    Ok(())
}
