//! Learning: training tasks, rounds, commitments, scores, aggregates, rewards and model versions
//! (spec DESIGN §3, `docs/learning.md`).
//!
//! Rounds are driven by block height in the `begin_block` hook: open → commit → reveal →
//! score-commit → score-reveal → aggregate → finalized / failed. Messages are only accepted in
//! their phase and are idempotent: an exact resubmission is refused with
//! [`LearningError::Duplicate`] and changes nothing. Escrow lives in the `learning_escrow` module
//! pool; every task keeps its own share in [`Task::escrow`], and
//! `escrow + paid + refunded = budget` always holds.

mod error;
pub mod math;
mod records;

use std::collections::BTreeSet;

use chorus_types::learning::{
    ATTO, DataMode, Encryption, LearningMsg, MAX_COMMITTEE_KEYS, MAX_RULE_PARAMS, MAX_SCORES,
    MAX_TEXT_LEN, MICRO, RoundNo, RuleSpec, TaskId, TaskSpec, score_commitment, update_commitment,
};
use chorus_types::{Address, Amount, Event, Hash, Height};

pub use error::LearningError;
use math::{AcceptedUpdate, accepted_set, accepted_set_hash, consensus, split_rewards};
pub use records::{
    CommitRecord, ModelVersion, Outcome, Phase, RevealRecord, Round, ScoreRecord, Selection, Task,
    TaskStatus, UpdateScore, commits, current_model, model_version, model_versions, outcome,
    participants, referenced_blobs, revealed_updates, round, scores, selection, task, tasks,
};

use crate::codec::{read, write};
use crate::components::registry::{self, FaultReason};
use crate::components::{TxContext, bank, validators};
use crate::context::BlockContext;
use crate::state::{StateDelta, StateRead};
use crate::{TxError, state_key};

/// The module pool holding every task's escrow.
pub const ESCROW_POOL: &str = "learning_escrow";
/// Most rounds per task.
pub const MAX_ROUNDS: u32 = 1_000_000;
/// Most participants per round.
pub const MAX_PARTICIPANTS_PER_ROUND: u32 = 10_000;
/// Longest phase, in blocks.
pub const MAX_PHASE_BLOCKS: u64 = 1_000_000;
/// Most shards assigned per round (participants × shards per participant): bounds the work of
/// the block hook that opens a round.
pub const MAX_ASSIGNED_SHARDS: u64 = 100_000;

type Res<T> = Result<T, TxError>;

fn ev(kind: &str, task: TaskId, round: Option<RoundNo>, mut rest: Vec<(&str, String)>) -> Event {
    let mut attrs = vec![("task".to_string(), task.to_string())];
    if let Some(r) = round {
        attrs.push(("round".into(), r.to_string()));
    }
    attrs.extend(rest.drain(..).map(|(k, v)| (k.to_string(), v)));
    Event::new(format!("learning.{kind}"), attrs)
}

fn valid_rule(r: &RuleSpec) -> bool {
    !r.id.is_empty()
        && r.id.len() <= 32
        && r.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && r.params.len() <= MAX_RULE_PARAMS
}

/// Validates a task spec (stateless). The budget is `rounds × reward_per_round`.
pub fn validate_spec(s: &TaskSpec) -> Result<Amount, LearningError> {
    use LearningError::InvalidSpec as E;
    if s.rounds == 0 || s.rounds > MAX_ROUNDS {
        return Err(E("rounds must be 1..=1000000"));
    }
    if s.participants_per_round == 0 || s.participants_per_round > MAX_PARTICIPANTS_PER_ROUND {
        return Err(E("participants_per_round must be 1..=10000"));
    }
    if s.min_quorum == 0 || s.min_quorum > s.participants_per_round {
        return Err(E("min_quorum must be 1..=participants_per_round"));
    }
    let p = &s.phases;
    if [p.commit, p.reveal, p.score_commit, p.score_reveal, p.aggregate]
        .iter()
        .any(|l| *l == 0 || *l > MAX_PHASE_BLOCKS)
    {
        return Err(E("every phase must last 1..=1000000 blocks"));
    }
    if s.reward_per_round == 0 {
        return Err(E("reward_per_round must be non-zero"));
    }
    let budget = s
        .reward_per_round
        .checked_mul(u128::from(s.rounds))
        .ok_or(E("rounds × reward_per_round overflows"))?;
    if s.validator_share_bps > 10_000 {
        return Err(E("validator_share_bps must be ≤ 10000"));
    }
    if s.score_threshold < 1 {
        return Err(E("score_threshold must be ≥ 1"));
    }
    if s.model.spec_id.is_empty()
        || s.model.spec_id.len() > MAX_TEXT_LEN
        || s.model.description.len() > MAX_TEXT_LEN
    {
        return Err(E("model spec id must be 1..=256 bytes, description ≤ 256 bytes"));
    }
    if !valid_rule(&s.aggregation) || !valid_rule(&s.score_rule) {
        return Err(E("rule ids must be [a-z0-9_]{1,32} with ≤ 16 params"));
    }
    if let DataMode::ShardPool { shard_count, shards_per_participant, .. } = s.data {
        if shards_per_participant == 0 {
            return Err(E("shards_per_participant must be ≥ 1"));
        }
        let need = u64::from(s.participants_per_round) * u64::from(shards_per_participant);
        if need > u64::from(shard_count) {
            return Err(E("participants_per_round × shards_per_participant exceeds shard_count"));
        }
        if need > MAX_ASSIGNED_SHARDS {
            return Err(E("participants_per_round × shards_per_participant exceeds 100000"));
        }
    }
    if let Some(dp) = &s.dp {
        if dp.epsilon_budget_micro == 0
            || dp.delta_atto == 0
            || dp.delta_atto >= ATTO
            || dp.noise_multiplier_micro == 0
            || dp.sample_rate_micro == 0
            || dp.sample_rate_micro > MICRO
        {
            return Err(E("dp: ε > 0, 0 < δ < 1, σ > 0 and 0 < q ≤ 1 required"));
        }
        if math::dp_epsilon_micro(dp, 1) > dp.epsilon_budget_micro {
            return Err(E("dp: the budget does not cover a single round"));
        }
    }
    if let Encryption::Committee { keys } = &s.encryption
        && (keys.is_empty() || keys.len() > MAX_COMMITTEE_KEYS || keys.contains(&[0; 32]))
    {
        return Err(E("committee: 1..=64 non-zero keys required"));
    }
    Ok(budget)
}

/// The validator expected to propose the aggregate: stake-weighted selection of one validator
/// with the round seed. Advisory only: the chain accepts a proposal from any round validator.
pub fn designated_aggregator(seed: &Hash, validators: &[(Address, u64)]) -> Option<Address> {
    let c: Vec<(Address, Amount)> = validators.iter().map(|(a, p)| (*a, u128::from(*p))).collect();
    math::select(seed, &c, 1).first().copied()
}

pub(crate) fn check_stateless(msg: &LearningMsg) -> Result<(), TxError> {
    match msg {
        LearningMsg::CreateTask { spec } => {
            validate_spec(spec)?;
        }
        LearningMsg::Reveal { num_examples, .. } if *num_examples == 0 => {
            return Err(LearningError::ZeroExamples.into());
        }
        LearningMsg::ScoreReveal { scores, .. } if scores.len() > MAX_SCORES => {
            return Err(LearningError::Oversized {
                what: "scores",
                len: scores.len(),
                max: MAX_SCORES,
            }
            .into());
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn spend(msg: &LearningMsg) -> Amount {
    match msg {
        LearningMsg::CreateTask { spec } => validate_spec(spec).unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn check_stateful(
    state: &dyn StateRead,
    ctx: &TxContext<'_>,
    msg: &LearningMsg,
) -> Result<(), TxError> {
    // The mempool's context is a guess at the next block; phase checks may still change by
    // inclusion time, so run the handler on a scratch overlay and keep only its verdict.
    let mut delta = StateDelta::new(state);
    execute(&mut delta, ctx, msg, &mut Vec::new())
}

fn load_task(state: &dyn StateRead, id: TaskId) -> Res<Task> {
    Ok(task(state, id)?.ok_or(LearningError::UnknownTask(id))?)
}

fn put_task(delta: &mut StateDelta<'_>, t: &Task) {
    write(delta, state_key::task(t.id), t);
}

fn put_round(delta: &mut StateDelta<'_>, r: &Round) {
    write(delta, state_key::learning("round", r.task, Some(r.round)), r);
}

/// The task and its open round `r`, in phase `phase`.
fn open_round(state: &dyn StateRead, id: TaskId, r: RoundNo, phase: Phase) -> Res<(Task, Round)> {
    let t = load_task(state, id)?;
    if t.open_round != Some(r) {
        return Err(LearningError::WrongRound { open: t.open_round, got: r }.into());
    }
    let rd =
        round(state, id, r)?.ok_or(LearningError::WrongRound { open: t.open_round, got: r })?;
    if rd.phase != phase {
        return Err(LearningError::OutOfPhase {
            expected: phase.as_str(),
            current: rd.phase.as_str(),
        }
        .into());
    }
    Ok((t, rd))
}

fn power_of(rd: &Round, who: &Address) -> Option<u64> {
    rd.validators.binary_search_by(|(a, _)| a.cmp(who)).ok().map(|i| rd.validators[i].1)
}

pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &LearningMsg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let sender = ctx.sender;
    let height = ctx.block.height;
    match msg {
        LearningMsg::CreateTask { spec } => create_task(delta, height, sender, spec, events),
        LearningMsg::PauseTask { task: id } | LearningMsg::ResumeTask { task: id } => {
            let mut t = load_task(delta, *id)?;
            if t.owner != sender {
                return Err(LearningError::NotOwner.into());
            }
            let pause = matches!(msg, LearningMsg::PauseTask { .. });
            let (from, to, kind) = if pause {
                (TaskStatus::Active, TaskStatus::Paused, "task_paused")
            } else {
                (TaskStatus::Paused, TaskStatus::Active, "task_resumed")
            };
            if t.status == to {
                return Err(LearningError::Duplicate.into());
            }
            if t.status != from {
                return Err(LearningError::WrongTaskStatus { status: t.status.as_str() }.into());
            }
            t.status = to;
            put_task(delta, &t);
            events.push(ev(kind, t.id, None, vec![]));
            Ok(())
        }
        LearningMsg::CancelTask { task: id } => {
            let mut t = load_task(delta, *id)?;
            if t.owner != sender {
                return Err(LearningError::NotOwner.into());
            }
            if !matches!(t.status, TaskStatus::Active | TaskStatus::Paused) {
                return Err(LearningError::WrongTaskStatus { status: t.status.as_str() }.into());
            }
            if let Some(r) = t.open_round
                && let Some(mut rd) = round(delta, t.id, r)?
            {
                fail_round(delta, &mut t, &mut rd, "task_cancelled", events)?;
            }
            end_task(delta, &mut t, TaskStatus::Cancelled, events)
        }
        LearningMsg::Commit { task: id, round: r, commitment } => {
            let (_, mut rd) = open_round(delta, *id, *r, Phase::Commit)?;
            if read::<Selection>(delta, &state_key::learning_addr("sel", *id, *r, &sender))?
                .is_none()
            {
                return Err(LearningError::NotSelected.into());
            }
            let key = state_key::learning_addr("commit", *id, *r, &sender);
            if let Some(c) = read::<CommitRecord>(delta, &key)? {
                return Err(if c.commitment == *commitment {
                    LearningError::Duplicate
                } else {
                    LearningError::AlreadyCommitted
                }
                .into());
            }
            let rec = CommitRecord {
                commitment: *commitment,
                seq: rd.commits,
                reveal: None,
                faulted: false,
            };
            write(delta, key, &rec);
            rd.commits += 1;
            put_round(delta, &rd);
            events.push(ev(
                "committed",
                *id,
                Some(*r),
                vec![("participant", sender.to_string()), ("commitment", commitment.to_string())],
            ));
            Ok(())
        }
        LearningMsg::Reveal { task: id, round: r, update_id, salt, num_examples, norm } => {
            let (_, mut rd) = open_round(delta, *id, *r, Phase::Reveal)?;
            let key = state_key::learning_addr("commit", *id, *r, &sender);
            let mut c = read::<CommitRecord>(delta, &key)?.ok_or(LearningError::NoCommit)?;
            if c.faulted {
                return Err(LearningError::Faulted.into());
            }
            let rev =
                RevealRecord { update_id: *update_id, num_examples: *num_examples, norm: *norm };
            if let Some(prev) = &c.reveal {
                return Err(if *prev == rev {
                    LearningError::Duplicate
                } else {
                    LearningError::AlreadyRevealed
                }
                .into());
            }
            if *num_examples == 0 {
                return Err(LearningError::ZeroExamples.into());
            }
            if update_commitment(update_id, salt, &sender, *id, *r) != c.commitment {
                // spec §3.3: a reveal that does not open its commit is an objective fault.
                c.faulted = true;
                write(delta, key, &c);
                rd.faults += 1;
                put_round(delta, &rd);
                registry::slash(
                    delta,
                    height,
                    &sender,
                    FaultReason::RevealMismatch,
                    *id,
                    *r,
                    events,
                )?;
                return Ok(());
            }
            c.reveal = Some(rev);
            write(delta, key, &c);
            rd.reveals += 1;
            put_round(delta, &rd);
            events.push(ev(
                "revealed",
                *id,
                Some(*r),
                vec![
                    ("participant", sender.to_string()),
                    ("update_id", update_id.to_string()),
                    ("num_examples", num_examples.to_string()),
                    ("norm", norm.to_string()),
                ],
            ));
            Ok(())
        }
        LearningMsg::ScoreCommit { task: id, round: r, commitment } => {
            let (_, rd) = open_round(delta, *id, *r, Phase::ScoreCommit)?;
            power_of(&rd, &sender).ok_or(LearningError::NotValidator)?;
            let key = state_key::learning_addr("score", *id, *r, &sender);
            if let Some(s) = read::<ScoreRecord>(delta, &key)? {
                return Err(if s.commitment == *commitment {
                    LearningError::Duplicate
                } else {
                    LearningError::AlreadyCommitted
                }
                .into());
            }
            write(
                delta,
                key,
                &ScoreRecord { commitment: *commitment, scores: None, faulted: false },
            );
            events.push(ev(
                "score_committed",
                *id,
                Some(*r),
                vec![("validator", sender.to_string())],
            ));
            Ok(())
        }
        LearningMsg::ScoreReveal { task: id, round: r, scores: sc, salt } => {
            let (_, rd) = open_round(delta, *id, *r, Phase::ScoreReveal)?;
            power_of(&rd, &sender).ok_or(LearningError::NotValidator)?;
            let key = state_key::learning_addr("score", *id, *r, &sender);
            let mut s = read::<ScoreRecord>(delta, &key)?.ok_or(LearningError::NoCommit)?;
            if s.faulted {
                return Err(LearningError::Faulted.into());
            }
            if let Some(prev) = &s.scores {
                return Err(if prev == sc {
                    LearningError::Duplicate
                } else {
                    LearningError::AlreadyRevealed
                }
                .into());
            }
            if sc.len() != rd.reveals as usize {
                return Err(LearningError::WrongScoreCount {
                    expected: rd.reveals,
                    got: sc.len() as u32,
                }
                .into());
            }
            if score_commitment(sc, salt, &sender, *id, *r) != s.commitment {
                s.faulted = true;
                write(delta, key, &s);
                return registry::validator_fault(
                    delta,
                    height,
                    &sender,
                    FaultReason::ScoreRevealMismatch,
                    *id,
                    *r,
                    events,
                );
            }
            s.scores = Some(sc.clone());
            write(delta, key, &s);
            events.push(ev(
                "scores_revealed",
                *id,
                Some(*r),
                vec![("validator", sender.to_string())],
            ));
            Ok(())
        }
        LearningMsg::ProposeAggregate { task: id, round: r, model_id, accepted_set_hash }
        | LearningMsg::AttestAggregate { task: id, round: r, model_id, accepted_set_hash } => {
            let propose = matches!(msg, LearningMsg::ProposeAggregate { .. });
            attest(delta, height, sender, *id, *r, model_id, accepted_set_hash, propose, events)
        }
        LearningMsg::Rollback { task: id, version } => {
            let t = load_task(delta, *id)?;
            if t.owner != sender {
                return Err(LearningError::NotOwner.into());
            }
            rollback(delta, *id, *version, events)
        }
    }
}

fn create_task(
    delta: &mut StateDelta<'_>,
    height: Height,
    owner: Address,
    spec: &TaskSpec,
    events: &mut Vec<Event>,
) -> Res<()> {
    let budget = validate_spec(spec)?;
    let id: TaskId = read::<u64>(delta, state_key::LEARNING_NEXT_TASK)?.unwrap_or(1);
    write(delta, state_key::LEARNING_NEXT_TASK.to_vec(), &(id + 1));
    bank::move_to_module(delta, &owner, ESCROW_POOL, budget)?;
    let t = Task {
        id,
        owner,
        spec: spec.clone(),
        status: TaskStatus::Active,
        created_at: height,
        budget,
        escrow: budget,
        paid: 0,
        refunded: 0,
        next_round: 0,
        open_round: None,
        latest_version: 0,
        current_version: 0,
        dp_rounds: 0,
        dp_epsilon_spent_micro: 0,
    };
    put_task(delta, &t);
    write(delta, state_key::active_task(id), &());
    let v0 = ModelVersion {
        version: 0,
        model_id: spec.model.initial_model,
        round: None,
        accepted_set_hash: Hash::ZERO,
        scores: Vec::new(),
        height,
    };
    write(delta, state_key::learning("version", id, Some(0)), &v0);
    events.push(ev(
        "task_created",
        id,
        None,
        vec![("owner", owner.to_string()), ("budget", budget.to_string())],
    ));
    Ok(())
}

/// Makes `version` the task's current model (owner `Rollback`; also the governance hook).
pub fn rollback(
    delta: &mut StateDelta<'_>,
    id: TaskId,
    version: u32,
    events: &mut Vec<Event>,
) -> Res<()> {
    let mut t = load_task(delta, id)?;
    if version > t.latest_version {
        return Err(LearningError::UnknownVersion(version).into());
    }
    if t.current_version == version {
        return Err(LearningError::Duplicate.into());
    }
    t.current_version = version;
    put_task(delta, &t);
    events.push(ev("rollback", id, None, vec![("version", version.to_string())]));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn attest(
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
    // spec §3.5: ≥ 2/3 of the round's validator power finalises.
    if u128::from(tally) * 3 >= u128::from(rd.total_power) * 2 {
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

fn fail_round(
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

fn end_task(
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
    put_task(delta, t);
    delta.delete(state_key::active_task(t.id));
    events.push(ev(
        "task_ended",
        t.id,
        None,
        vec![("status", status.as_str().into()), ("refunded", refund.to_string())],
    ));
    Ok(())
}

fn open_new_round(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    t: &mut Task,
    events: &mut Vec<Event>,
) -> Res<()> {
    let spec = &t.spec;
    let eligible = registry::eligible_participants(delta, spec.min_participant_stake)?;
    if eligible.len() < spec.min_quorum as usize {
        // Not enough eligible participants to ever reach quorum: wait.
        return Ok(());
    }
    let r = t.next_round;
    let seed = math::round_seed(&ctx.randomness, t.id, r);
    let chosen = math::select(&seed, &eligible, spec.participants_per_round as usize);
    let shards = match spec.data {
        DataMode::ShardPool { shard_count, shards_per_participant, .. } => {
            math::shard_assignment(&seed, chosen.len(), shard_count, shards_per_participant)
        }
        DataMode::Private => vec![Vec::new(); chosen.len()],
    };
    for (rank, (a, sh)) in chosen.iter().zip(shards).enumerate() {
        write(
            delta,
            state_key::learning_addr("sel", t.id, r, a),
            &Selection { rank: rank as u32, shards: sh },
        );
    }
    let mut vals: Vec<(Address, u64)> =
        validators::validator_set(delta)?.into_iter().map(|v| (v.operator, v.power)).collect();
    vals.sort();
    let total_power = vals.iter().fold(0u64, |a, (_, p)| a.saturating_add(*p));
    let p = &spec.phases;
    let h = ctx.height;
    // Participants learn the selection from this block, so the commit window is the
    // `commit` blocks after it (commits in the opening block itself are accepted too).
    let e0 = h.saturating_add(1).saturating_add(p.commit);
    let e1 = e0.saturating_add(p.reveal);
    let e2 = e1.saturating_add(p.score_commit);
    let e3 = e2.saturating_add(p.score_reveal);
    let e4 = e3.saturating_add(p.aggregate);
    let rd = Round {
        task: t.id,
        round: r,
        phase: Phase::Commit,
        seed,
        randomness: ctx.randomness,
        opened_at: h,
        ends: [e0, e1, e2, e3, e4],
        base_version: t.current_version,
        validators: vals,
        total_power,
        selected: chosen.len() as u32,
        commits: 0,
        reveals: 0,
        faults: 0,
        failure: None,
        model_id: None,
    };
    put_round(delta, &rd);
    t.next_round += 1;
    t.open_round = Some(r);
    put_task(delta, t);
    let list: Vec<String> = chosen.iter().map(Address::to_string).collect();
    events.push(ev(
        "round_opened",
        t.id,
        Some(r),
        vec![
            ("seed", seed.to_string()),
            ("base_version", rd.base_version.to_string()),
            ("commit_end", e0.to_string()),
            ("aggregate_end", e4.to_string()),
            ("selected", list.join(",")),
        ],
    ));
    Ok(())
}

/// Reveal window closed: non-revealers lose reputation; too few reveals fail the round.
fn close_reveals(
    delta: &mut StateDelta<'_>,
    t: &mut Task,
    rd: &mut Round,
    events: &mut Vec<Event>,
) -> Res<bool> {
    let revealed: BTreeSet<Address> =
        revealed_updates(delta, t.id, rd.round)?.into_iter().map(|u| u.participant).collect();
    for (a, _) in selection(delta, t.id, rd.round)? {
        if !revealed.contains(&a) {
            // spec §3.3: no reveal → no reward, reputation drops.
            registry::adjust_reputation(delta, &a, registry::REP_NO_REVEAL)?;
        }
    }
    if rd.reveals < t.spec.min_quorum {
        fail_round(delta, t, rd, "too_few_reveals", events)?;
        return Ok(false);
    }
    Ok(true)
}

/// Score-reveal window closed: consensus, clipping, accepted set.
fn close_scores(
    delta: &mut StateDelta<'_>,
    t: &mut Task,
    rd: &mut Round,
    events: &mut Vec<Event>,
) -> Res<bool> {
    let updates = revealed_updates(delta, t.id, rd.round)?;
    let revealed: Vec<(Address, u64, Vec<i64>)> = scores(delta, t.id, rd.round)?
        .into_iter()
        .filter(|(_, s)| !s.faulted)
        .filter_map(|(a, s)| {
            let p = power_of(rd, &a)?;
            s.scores.map(|v| (a, p, v))
        })
        .filter(|(_, _, v)| v.len() == updates.len())
        .collect();
    let scored_power: u128 = revealed.iter().map(|(_, p, _)| u128::from(*p)).sum();
    // The median is only meaningful if more than half of the power voted.
    if scored_power * 2 <= u128::from(rd.total_power) {
        fail_round(delta, t, rd, "too_few_scores", events)?;
        return Ok(false);
    }
    let votes: Vec<(u64, &[i64])> = revealed.iter().map(|(_, p, v)| (*p, v.as_slice())).collect();
    let c = consensus(updates.len(), &votes);
    let accepted: Vec<AcceptedUpdate> = accepted_set(&updates, &c, t.spec.score_threshold);
    let hash = accepted_set_hash(t.id, rd.round, &accepted);
    let acc: BTreeSet<Address> = accepted.iter().map(|u| u.participant).collect();
    let out = Outcome {
        updates: updates
            .iter()
            .enumerate()
            .map(|(j, u)| UpdateScore {
                participant: u.participant,
                update_id: u.update_id,
                consensus: c.consensus[j],
                weight: c.weight[j],
                accepted: acc.contains(&u.participant),
            })
            .collect(),
        agreement: revealed
            .iter()
            .zip(&c.agreement_ppm)
            .map(|((a, p, _), g)| (*a, *p, *g))
            .collect(),
        accepted,
        accepted_set_hash: hash,
        tallies: Vec::new(),
    };
    let n_acc = out.accepted.len();
    write(delta, state_key::learning("outcome", t.id, Some(rd.round)), &out);
    events.push(ev(
        "scores",
        t.id,
        Some(rd.round),
        vec![
            ("updates", updates.len().to_string()),
            ("accepted", n_acc.to_string()),
            ("accepted_set_hash", hash.to_string()),
            ("validators", revealed.len().to_string()),
        ],
    ));
    if n_acc == 0 {
        fail_round(delta, t, rd, "no_accepted_updates", events)?;
        return Ok(false);
    }
    Ok(true)
}

/// Advances one task at the start of a block: phase deadlines, then opening the next round or
/// ending the task.
fn tick_task(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    t: &mut Task,
    events: &mut Vec<Event>,
) -> Res<()> {
    let h = ctx.height;
    if let Some(r) = t.open_round {
        let key = state_key::learning("round", t.id, Some(r));
        let mut rd: Round = read(delta, &key)?.ok_or_else(|| TxError::corrupt(&key))?;
        loop {
            // A window closes at its deadline, or at the first block after everyone it waits
            // for has acted (the deadlines stay absolute, so closing early never extends a
            // later window).
            let (score_commits, score_reveals) = match rd.phase {
                Phase::ScoreCommit | Phase::ScoreReveal => {
                    let s = records::scores(delta, t.id, r)?;
                    let revealed =
                        s.iter().filter(|(_, x)| x.scores.is_some() || x.faulted).count();
                    (s.len(), revealed)
                }
                _ => (0, 0),
            };
            let n_validators = rd.validators.len();
            let next = match rd.phase {
                Phase::Commit if h >= rd.ends[0] || rd.commits >= rd.selected => Phase::Reveal,
                Phase::Reveal
                    if h >= rd.ends[1]
                        || (rd.commits > 0 && rd.reveals + rd.faults >= rd.commits) =>
                {
                    if !close_reveals(delta, t, &mut rd, events)? {
                        break;
                    }
                    Phase::ScoreCommit
                }
                Phase::ScoreCommit if h >= rd.ends[2] || score_commits >= n_validators => {
                    Phase::ScoreReveal
                }
                Phase::ScoreReveal
                    if h >= rd.ends[3] || (score_commits > 0 && score_reveals >= score_commits) =>
                {
                    if !close_scores(delta, t, &mut rd, events)? {
                        break;
                    }
                    Phase::Aggregate
                }
                Phase::Aggregate if h >= rd.ends[4] => {
                    // spec §3.5: nothing finalised in the window — the previous model stays.
                    fail_round(delta, t, &mut rd, "no_aggregate", events)?;
                    break;
                }
                _ => break,
            };
            rd.phase = next;
            put_round(delta, &rd);
            events.push(ev("phase", t.id, Some(r), vec![("phase", next.as_str().into())]));
        }
    }
    if t.open_round.is_some() || t.status != TaskStatus::Active {
        return Ok(());
    }
    if t.next_round >= t.spec.rounds {
        return end_task(delta, t, TaskStatus::Completed, events);
    }
    if let Some(dp) = &t.spec.dp {
        // spec §4: a round whose release would exceed the ε budget cannot open.
        if math::dp_epsilon_micro(dp, t.dp_rounds + 1) > dp.epsilon_budget_micro {
            return end_task(delta, t, TaskStatus::DpBudgetExhausted, events);
        }
    }
    open_new_round(delta, ctx, t, events)
}

pub(crate) fn begin_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let ids: Vec<TaskId> = delta
        .scan_prefix(state_key::ACTIVE_TASK_PREFIX)
        .into_iter()
        .filter_map(|(k, _)| {
            let b: [u8; 8] = k.get(state_key::ACTIVE_TASK_PREFIX.len()..)?.try_into().ok()?;
            Some(u64::from_be_bytes(b))
        })
        .collect();
    for id in ids {
        let mut t = load_task(delta, id)?;
        tick_task(delta, ctx, &mut t, events)?;
    }
    Ok(())
}
