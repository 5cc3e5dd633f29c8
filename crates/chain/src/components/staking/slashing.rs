//! Slashing (Cosmos x/slashing): [`slash`] (unbonding and redelegation entries first, then the
//! validator's tokens, recorded for F1's replay), jailing, double-sign evidence
//! ([`handle_evidence`]: slash, jail forever, tombstone), objective faults reported by other
//! components ([`handle_fault`]), and liveness tracking over a sliding window of the previous
//! block's commit (`track_liveness`).

use chorus_types::staking::{Dec, DoubleSignEvidence};
use chorus_types::{Address, Amount, Event, Height, ValidatorInfo};

use super::delegation::unbond;
use super::distribution::increment_period;
use super::error::{StakingError, staking_err};
use super::helpers::{pool_of, put_validator, staking_event};
use super::keys;
use super::power::{power_of, power_params};
use super::query::{
    all_redelegations, all_unbondings, delegation, must_validator, signing_info, slashing_params,
    validator, validator_by_consensus_key,
};
use super::types::SigningInfo;
use super::{JAILED_FOREVER, NOT_BONDED_POOL};
use crate::TxError;
use crate::codec::{read, write};
use crate::components::bank;
use crate::context::BlockContext;
use crate::state::StateDelta;

/// Slashes `fraction` of the stake `power` represented at `infraction_height`: unbonding and
/// redelegation entries from `op` created at or after that height first, then the validator's
/// tokens. Burns the tokens; emits `staking.slash` with `reason`. Returns the amount burnt.
#[allow(clippy::too_many_arguments)]
pub fn slash(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    op: &Address,
    infraction_height: Height,
    power: u64,
    fraction: Dec,
    reason: &str,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let Some(v0) = validator(delta, op)? else { return Ok(0) };
    let pr = power_params(delta)?;
    let target = fraction
        .mul_floor(u128::from(power).saturating_mul(pr.power_reduction))
        .unwrap_or(u128::MAX);
    let mut remaining = target;
    let mut burnt: Amount = 0;
    if infraction_height < ctx.height {
        for (del, val, mut entries) in all_unbondings(delta)? {
            if val != *op {
                continue;
            }
            for e in entries.iter_mut() {
                if e.creation_height < infraction_height || e.completion_time_ms <= ctx.time_ms {
                    continue;
                }
                let s = fraction.mul_floor(e.initial_balance).unwrap_or(0).min(e.balance);
                if s == 0 {
                    continue;
                }
                e.balance -= s;
                remaining = remaining.saturating_sub(s);
                bank::burn_from_module(delta, NOT_BONDED_POOL, s)?;
                burnt += s;
            }
            write(delta, keys::ubd(&del, &val), &entries);
        }
        for (del, src, dst, entries) in all_redelegations(delta)? {
            if src != *op {
                continue;
            }
            for e in &entries {
                if e.creation_height < infraction_height || e.completion_time_ms <= ctx.time_ms {
                    continue;
                }
                let want = fraction.mul_floor(e.initial_balance).unwrap_or(0);
                remaining = remaining.saturating_sub(want);
                let Some(d) = delegation(delta, &del, &dst)? else { continue };
                let shares = fraction.mul_floor(e.shares_dst).unwrap_or(0).min(d.shares);
                if shares == 0 {
                    continue;
                }
                let dv = must_validator(delta, &dst)?;
                let tokens = unbond(delta, ctx.height, &del, &dst, shares, events)?;
                if tokens > 0 {
                    bank::burn_from_module(delta, pool_of(dv.status), tokens)?;
                    burnt += tokens;
                }
            }
        }
    }
    let v = must_validator(delta, op)?;
    let from_tokens = remaining.min(v.tokens);
    if from_tokens > 0 {
        // The effective fraction of the validator's tokens, for F1's slash replay.
        let eff = Dec::ratio(from_tokens, v.tokens).unwrap_or(Dec::ONE).min(Dec::ONE);
        let ended = increment_period(delta, op)?;
        write(delta, keys::dist_slash(op, ended), &eff);
        let mut v = must_validator(delta, op)?;
        v.tokens -= from_tokens;
        put_validator(delta, &v)?;
        bank::burn_from_module(delta, pool_of(v.status), from_tokens)?;
        burnt += from_tokens;
    }
    events.push(staking_event(
        "staking.slash",
        vec![
            ("validator", op.to_string()),
            ("reason", reason.to_string()),
            ("fraction", fraction.to_string()),
            ("infraction_height", infraction_height.to_string()),
            ("amount", burnt.to_string()),
            ("tokens_before", v0.tokens.to_string()),
        ],
    ));
    Ok(burnt)
}

fn jail(
    delta: &mut StateDelta<'_>,
    op: &Address,
    until_ms: u64,
    reason: &str,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let mut v = must_validator(delta, op)?;
    v.jailed = true;
    put_validator(delta, &v)?;
    let mut si = signing_info(delta, op)?.unwrap_or_default();
    si.jailed_until_ms = si.jailed_until_ms.max(until_ms);
    write(delta, keys::signing(op), &si);
    events.push(staking_event(
        "staking.jail",
        vec![
            ("validator", op.to_string()),
            ("reason", reason.into()),
            ("until_ms", until_ms.to_string()),
        ],
    ));
    Ok(())
}

/// Verifies double-sign evidence, then slashes `slash_fraction_double_sign`, jails forever and
/// tombstones the validator. The entry point for evidence (from a `SubmitEvidence` transaction,
/// which the node builds from Malachite's misbehaviour evidence).
pub fn handle_evidence(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    evidence: &DoubleSignEvidence,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let (a, b) = (&evidence.a.vote, &evidence.b.vote);
    let bad = |m| staking_err(StakingError::InvalidEvidence(m));
    if a.height != b.height || a.round != b.round || a.vote_type != b.vote_type {
        return Err(bad("votes are not for the same height, round and type"));
    }
    if a.validator != b.validator {
        return Err(bad("votes are by different keys"));
    }
    if a.value_id == b.value_id {
        return Err(bad("votes are for the same value"));
    }
    for sv in [&evidence.a, &evidence.b] {
        chorus_crypto::verify_consensus(
            &sv.vote.validator,
            &sv.vote.sign_bytes(ctx.chain_id),
            &sv.signature,
        )
        .map_err(|_| bad("signature does not verify"))?;
    }
    if a.height >= ctx.height {
        return Err(bad("infraction height not in the past"));
    }
    let p = slashing_params(delta)?;
    if a.height.saturating_add(p.max_evidence_age_blocks) < ctx.height {
        return Err(staking_err(StakingError::EvidenceTooOld { height: a.height }));
    }
    let op =
        validator_by_consensus_key(delta, &a.validator)?.ok_or_else(|| bad("unknown validator"))?;
    let v = must_validator(delta, &op)?;
    let mut si = signing_info(delta, &op)?.unwrap_or_default();
    if si.tombstoned {
        return Err(staking_err(StakingError::Tombstoned));
    }
    let pr = power_params(delta)?;
    let burnt = slash(
        delta,
        ctx,
        &op,
        a.height,
        power_of(v.tokens, &pr),
        p.slash_fraction_double_sign,
        "double_sign",
        events,
    )?;
    jail(delta, &op, JAILED_FOREVER, "double_sign", events)?;
    si = signing_info(delta, &op)?.unwrap_or_default();
    si.tombstoned = true;
    si.jailed_until_ms = JAILED_FOREVER;
    write(delta, keys::signing(&op), &si);
    events.push(staking_event(
        "staking.tombstone",
        vec![("validator", op.to_string()), ("height", a.height.to_string())],
    ));
    Ok(burnt)
}

/// The objective-fault hook (failed reveal, wrong aggregate, failed Freivalds, …): slashes
/// `slash_fraction_fault` of `operator`'s tokens, reason in the `staking.slash` event. Does not
/// jail (a single validator would halt the chain). No-op for an unknown validator.
pub fn handle_fault(
    delta: &mut StateDelta<'_>,
    height: Height,
    operator: &Address,
    reason: &str,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let Some(v) = validator(delta, operator)? else { return Ok(0) };
    let p = slashing_params(delta)?;
    let pr = power_params(delta)?;
    let time_ms: u64 = read(delta, crate::state_key::LAST_TIME_MS)?.unwrap_or(0);
    let ctx = BlockContext {
        chain_id: 0,
        height,
        time_ms,
        proposer: [0; 32],
        randomness: chorus_types::Hash::ZERO,
        last_commit: None,
    };
    slash(
        delta,
        &ctx,
        operator,
        height,
        power_of(v.tokens, &pr),
        p.slash_fraction_fault,
        reason,
        events,
    )
}

fn bitmap_bytes(window: u64) -> usize {
    usize::try_from(window.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Liveness: one window slot per validator of the previous block's set.
pub(super) fn track_liveness(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let Some(commit) = &ctx.last_commit else { return Ok(()) };
    let prev: Vec<ValidatorInfo> = read(delta, keys::SET_PREV)?.unwrap_or_default();
    let p = slashing_params(delta)?;
    let window = p.signed_blocks_window.max(1);
    let max_missed = window
        - p.min_signed_per_window
            .mul_floor(u128::from(window))
            .map_or(window, |m| m.min(u128::from(window)) as u64);
    for vi in prev {
        let Some(v) = validator(delta, &vi.operator)? else { continue };
        if v.consensus_key != vi.consensus_key {
            continue;
        }
        let mut si = signing_info(delta, &vi.operator)?
            .unwrap_or(SigningInfo { start_height: ctx.height, ..Default::default() });
        if si.bitmap.len() != bitmap_bytes(window) {
            si = SigningInfo {
                start_height: ctx.height,
                jailed_until_ms: si.jailed_until_ms,
                tombstoned: si.tombstoned,
                bitmap: vec![0; bitmap_bytes(window)],
                ..Default::default()
            };
        }
        let missed = !commit.signers.contains(&vi.consensus_key);
        let idx = (si.index_offset % window) as usize;
        si.index_offset += 1;
        let (byte, bit) = (idx / 8, 1u8 << (idx % 8));
        let was = si.bitmap[byte] & bit != 0;
        if missed && !was {
            si.bitmap[byte] |= bit;
            si.missed_blocks += 1;
        } else if !missed && was {
            si.bitmap[byte] &= !bit;
            si.missed_blocks = si.missed_blocks.saturating_sub(1);
        }
        if missed {
            events.push(staking_event(
                "staking.liveness",
                vec![
                    ("validator", vi.operator.to_string()),
                    ("missed_blocks", si.missed_blocks.to_string()),
                ],
            ));
        }
        let over =
            ctx.height > si.start_height.saturating_add(window) && si.missed_blocks > max_missed;
        write(delta, keys::signing(&vi.operator), &si);
        if over && !v.jailed && !si.tombstoned {
            slash(
                delta,
                ctx,
                &vi.operator,
                ctx.height.saturating_sub(2),
                vi.power,
                p.slash_fraction_downtime,
                "downtime",
                events,
            )?;
            jail(
                delta,
                &vi.operator,
                ctx.time_ms.saturating_add(p.downtime_jail_duration_ms),
                "downtime",
                events,
            )?;
            let mut si = signing_info(delta, &vi.operator)?.unwrap_or_default();
            si.missed_blocks = 0;
            si.index_offset = 0;
            si.bitmap = vec![0; bitmap_bytes(window)];
            write(delta, keys::signing(&vi.operator), &si);
        }
    }
    Ok(())
}
