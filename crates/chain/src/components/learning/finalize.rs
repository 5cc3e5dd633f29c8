//! The end of a round: aggregate proposals and attestations (a conflicting attestation is a
//! validator fault), finalisation once more than 2/3 of the round's validator power attests one
//! model (strictly, like consensus: security review L7) —
//! reward payments out of escrow, reputation, the new model version, DP accounting — and the
//! failure of a round or the end of a task with its escrow refund.

use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Address, Amount, Event, Hash, Height};

use super::math::split_rewards;
use super::queue::{reschedule, wake};
use super::{
    ESCROW_POOL, LearningError, ModelVersion, Outcome, Phase, Res, Round, Task, TaskStatus, ev,
    math, open_round, power_of, put_round, put_task,
};
use crate::codec::{read, write};
use crate::components::bank;
use crate::components::registry::{self, FaultReason};
use crate::state::StateDelta;
use crate::{TxError, state_key};

#[allow(clippy::too_many_arguments)]
pub(super) fn attest(
    delta: &mut StateDelta<'_>,
    height: Height,
    sender: Address,
    id: TaskId,
    r: RoundNo,
    model_id: &Hash,
    set_hash: &Hash,
    propose: bool,
    events: &mut Vec<Event>,
) -> Res<()> {
    let (mut t, mut rd) = open_round(delta, id, r, Phase::Aggregate)?;
    let power = power_of(&rd, &sender).ok_or(LearningError::NotValidator)?;
    let okey = state_key::learning("outcome", id, Some(r));
    let mut out: Outcome = read(delta, &okey)?.ok_or_else(|| TxError::corrupt(&okey))?;
    if *set_hash != out.accepted_set_hash {
        return Err(LearningError::WrongAcceptedSet {
            expected: out.accepted_set_hash,
            got: *set_hash,
        }
        .into());
    }
    let akey = state_key::learning_addr("attest", id, r, &sender);
    if let Some(prev) = read::<Hash>(delta, &akey)? {
        if prev == *model_id {
            return Err(LearningError::Duplicate.into());
        }
        // spec §3.5: attesting a conflicting aggregate is an objective fault.
        return registry::validator_fault(
            delta,
            height,
            &sender,
            FaultReason::ConflictingAttestation,
            id,
            r,
            events,
        );
    }
    let idx = match out.tallies.iter().position(|(m, _)| m == model_id) {
        Some(i) => i,
        None if propose => {
            out.tallies.push((*model_id, 0));
            out.tallies.len() - 1
        }
        None => return Err(LearningError::UnknownProposal(*model_id).into()),
    };
    out.tallies[idx].1 = out.tallies[idx].1.saturating_add(power);
    let tally = out.tallies[idx].1;
    write(delta, akey, model_id);
    write(delta, okey, &out);
    events.push(ev(
        if propose { "aggregate_proposed" } else { "aggregate_attested" },
        id,
        Some(r),
        vec![
            ("validator", sender.to_string()),
            ("model_id", model_id.to_string()),
            ("attested_power", tally.to_string()),
            ("total_power", rd.total_power.to_string()),
        ],
    ));
    // spec §3.5: more than 2/3 of the round's validator power finalises (L7: `>`, as consensus).
    if chorus_types::exceeds_two_thirds(u128::from(tally), u128::from(rd.total_power)) {
        finalize(delta, height, &mut t, &mut rd, &out, *model_id, events)?;
    }
    Ok(())
}

fn pay(
    delta: &mut StateDelta<'_>,
    t: &mut Task,
    r: RoundNo,
    to: &Address,
    amount: Amount,
    role: &str,
    events: &mut Vec<Event>,
) -> Res<()> {
    if amount == 0 {
        return Ok(());
    }
    bank::move_from_module(delta, ESCROW_POOL, to, amount)?;
    t.escrow = t.escrow.checked_sub(amount).ok_or(TxError::Overflow)?;
    t.paid = t.paid.checked_add(amount).ok_or(TxError::Overflow)?;
    events.push(ev(
        "reward",
        t.id,
        Some(r),
        vec![("to", to.to_string()), ("role", role.into()), ("amount", amount.to_string())],
    ));
    Ok(())
}

fn finalize(
    delta: &mut StateDelta<'_>,
    height: Height,
    t: &mut Task,
    rd: &mut Round,
    out: &Outcome,
    model_id: Hash,
    events: &mut Vec<Event>,
) -> Res<()> {
    let r = rd.round;
    let split = split_rewards(
        t.spec.reward_per_round.min(t.escrow),
        t.spec.validator_share_bps,
        &out.accepted,
        &out.agreement,
    );
    let (mut p_total, mut v_total) = (0u128, 0u128);
    for (a, amt) in &split.participants {
        pay(delta, t, r, a, *amt, "participant", events)?;
        p_total += amt;
    }
    for (a, amt) in &split.validators {
        pay(delta, t, r, a, *amt, "validator", events)?;
        v_total += amt;
    }
    for u in &out.accepted {
        registry::adjust_reputation(delta, &u.participant, registry::REP_ACCEPTED)?;
    }
    t.latest_version += 1;
    t.current_version = t.latest_version;
    let v = ModelVersion {
        version: t.latest_version,
        model_id,
        round: Some(r),
        accepted_set_hash: out.accepted_set_hash,
        scores: out.accepted.iter().map(|u| (u.participant, u.consensus)).collect(),
        height,
    };
    write(delta, state_key::learning("version", t.id, Some(v.version)), &v);
    if let Some(dp) = &t.spec.dp {
        t.dp_rounds += 1;
        t.dp_epsilon_spent_micro = math::dp_epsilon_micro(dp, t.dp_rounds);
    }
    rd.phase = Phase::Finalized;
    rd.model_id = Some(model_id);
    t.open_round = None;
    // The next round opens (or the task ends) at the next block's hook.
    wake(delta, t, height.saturating_add(1));
    put_round(delta, rd);
    put_task(delta, t);
    events.push(ev(
        "aggregate_finalized",
        t.id,
        Some(r),
        vec![
            ("model_id", model_id.to_string()),
            ("version", v.version.to_string()),
            ("accepted_set_hash", out.accepted_set_hash.to_string()),
            ("dp_epsilon_spent_micro", t.dp_epsilon_spent_micro.to_string()),
        ],
    ));
    events.push(ev(
        "rewards_paid",
        t.id,
        Some(r),
        vec![
            ("participants", p_total.to_string()),
            ("validators", v_total.to_string()),
            ("returned_to_escrow", split.returned.to_string()),
        ],
    ));
    Ok(())
}

pub(super) fn fail_round(
    delta: &mut StateDelta<'_>,
    t: &mut Task,
    rd: &mut Round,
    reason: &str,
    events: &mut Vec<Event>,
) -> Res<()> {
    rd.phase = Phase::Failed;
    rd.failure = Some(reason.to_string());
    t.open_round = None;
    put_round(delta, rd);
    put_task(delta, t);
    events.push(ev("round_failed", t.id, Some(rd.round), vec![("reason", reason.to_string())]));
    Ok(())
}

pub(super) fn end_task(
    delta: &mut StateDelta<'_>,
    t: &mut Task,
    status: TaskStatus,
    events: &mut Vec<Event>,
) -> Res<()> {
    let refund = t.escrow;
    if refund > 0 {
        bank::move_from_module(delta, ESCROW_POOL, &t.owner, refund)?;
    }
    t.escrow = 0;
    t.refunded = t.refunded.checked_add(refund).ok_or(TxError::Overflow)?;
    t.status = status;
    t.open_round = None;
    reschedule(delta, t, None);
    put_task(delta, t);
    delta.delete(state_key::active_task(t.id));
    let live: u64 = read(delta, state_key::LEARNING_ACTIVE_COUNT)?.unwrap_or(0);
    write(delta, state_key::LEARNING_ACTIVE_COUNT.to_vec(), &live.saturating_sub(1));
    events.push(ev(
        "task_ended",
        t.id,
        None,
        vec![("status", status.as_str().into()), ("refunded", refund.to_string())],
    ));
    Ok(())
}
