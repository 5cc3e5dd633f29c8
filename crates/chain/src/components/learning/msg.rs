//! The learning messages: their stateless checks, their spend, the mempool's stateful check, and
//! [`execute`], which dispatches each [`LearningMsg`] variant to its handler here — task
//! lifecycle (create, pause/resume, cancel, rollback), participants' commit and reveal, and
//! validators' score commit and reveal. Aggregate proposals and attestations are handled in
//! `finalize.rs`. Every handler checks the task, round and phase first and writes nothing on
//! refusal.

use chorus_types::learning::{
    LearningMsg, MAX_EXAMPLES_PER_UPDATE, MAX_SCORES, RoundNo, TaskId, TaskSpec, score_commitment,
    update_commitment,
};
use chorus_types::{Address, Amount, Event, Hash, Height};

use super::finalize::{attest, end_task, fail_round};
use super::queue::{reschedule, wake};
use super::spec::{MAX_ACTIVE_TASKS, examples_cap};
use super::{
    CommitRecord, ESCROW_POOL, LearningError, ModelVersion, Phase, Res, RevealRecord, ScoreRecord,
    Selection, Task, TaskStatus, ev, load_task, open_round, power_of, put_round, put_task, round,
    validate_spec,
};
use crate::codec::{read, write};
use crate::components::registry::{self, FaultReason};
use crate::components::{TxContext, bank};
use crate::state::{StateDelta, StateRead};
use crate::{TxError, state_key};

pub(crate) fn check_stateless(msg: &LearningMsg) -> Result<(), TxError> {
    match msg {
        LearningMsg::CreateTask { spec } => {
            validate_spec(spec)?;
        }
        LearningMsg::Reveal { num_examples, .. } if *num_examples == 0 => {
            return Err(LearningError::ZeroExamples.into());
        }
        LearningMsg::Reveal { num_examples, .. } if *num_examples > MAX_EXAMPLES_PER_UPDATE => {
            return Err(LearningError::TooManyExamples {
                got: *num_examples,
                max: MAX_EXAMPLES_PER_UPDATE,
            }
            .into());
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
        LearningMsg::PauseTask { task: id } => pause_or_resume(delta, ctx, *id, true, events),
        LearningMsg::ResumeTask { task: id } => pause_or_resume(delta, ctx, *id, false, events),
        LearningMsg::CancelTask { task: id } => cancel_task(delta, ctx, *id, events),
        LearningMsg::Commit { task: id, round: r, commitment } => {
            commit(delta, ctx, *id, *r, commitment, events)
        }
        LearningMsg::Reveal { task: id, round: r, update_id, salt, num_examples, norm } => {
            reveal(delta, ctx, *id, *r, update_id, salt, *num_examples, *norm, events)
        }
        LearningMsg::ScoreCommit { task: id, round: r, commitment } => {
            score_commit(delta, ctx, *id, *r, commitment, events)
        }
        LearningMsg::ScoreReveal { task: id, round: r, scores: sc, salt } => {
            score_reveal(delta, ctx, *id, *r, sc, salt, events)
        }
        LearningMsg::ProposeAggregate { task: id, round: r, model_id, accepted_set_hash } => {
            attest(delta, height, sender, *id, *r, model_id, accepted_set_hash, true, events)
        }
        LearningMsg::AttestAggregate { task: id, round: r, model_id, accepted_set_hash } => {
            attest(delta, height, sender, *id, *r, model_id, accepted_set_hash, false, events)
        }
        LearningMsg::Rollback { task: id, version } => {
            owner_rollback(delta, ctx, *id, *version, events)
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
    let live: u64 = read(delta, state_key::LEARNING_ACTIVE_COUNT)?.unwrap_or(0);
    if live >= MAX_ACTIVE_TASKS {
        return Err(LearningError::TooManyActiveTasks { max: MAX_ACTIVE_TASKS }.into());
    }
    write(delta, state_key::LEARNING_ACTIVE_COUNT.to_vec(), &(live + 1));
    let id: TaskId = read::<u64>(delta, state_key::LEARNING_NEXT_TASK)?.unwrap_or(1);
    write(delta, state_key::LEARNING_NEXT_TASK.to_vec(), &(id + 1));
    bank::move_to_module(delta, &owner, ESCROW_POOL, budget)?;
    let mut t = Task {
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
        next_tick: None,
    };
    // Round 0 opens at the next block's hook.
    reschedule(delta, &mut t, Some(height.saturating_add(1)));
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

/// `PauseTask` (`pause`) or `ResumeTask`, owner only: a paused task opens no new rounds. Pausing
/// never interrupts the open round, which runs to its end and pays as usual (security review
/// M3), so it is allowed in any phase.
fn pause_or_resume(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    pause: bool,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let mut t = load_task(delta, id)?;
    if t.owner != sender {
        return Err(LearningError::NotOwner.into());
    }
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
    if !pause {
        wake(delta, &mut t, ctx.block.height.saturating_add(1));
    }
    put_task(delta, &t);
    events.push(ev(kind, t.id, None, vec![]));
    Ok(())
}

/// `CancelTask`, owner only. Before the open round's first commit: fails that round, ends the
/// task and refunds its escrow. After it (security review M3: the owner could otherwise take a
/// computable model without paying for it): the task becomes `Cancelling`, the open round runs
/// to its end and settles from escrow as usual, and the block hook then ends the task and
/// refunds the rest.
fn cancel_task(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let mut t = load_task(delta, id)?;
    if t.owner != sender {
        return Err(LearningError::NotOwner.into());
    }
    if t.status == TaskStatus::Cancelling {
        return Err(LearningError::Duplicate.into());
    }
    if !matches!(t.status, TaskStatus::Active | TaskStatus::Paused) {
        return Err(LearningError::WrongTaskStatus { status: t.status.as_str() }.into());
    }
    if let Some(r) = t.open_round
        && let Some(mut rd) = round(delta, t.id, r)?
    {
        if rd.commits > 0 {
            t.status = TaskStatus::Cancelling;
            put_task(delta, &t);
            events.push(ev("task_cancelling", t.id, Some(r), vec![]));
            return Ok(());
        }
        fail_round(delta, &mut t, &mut rd, "task_cancelled", events)?;
    }
    end_task(delta, &mut t, TaskStatus::Cancelled, events)
}

/// `Commit`: a selected participant commits to its update in the commit phase.
fn commit(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    r: RoundNo,
    commitment: &Hash,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let (mut t, mut rd) = open_round(delta, id, r, Phase::Commit)?;
    if read::<Selection>(delta, &state_key::learning_addr("sel", id, r, &sender))?.is_none() {
        return Err(LearningError::NotSelected.into());
    }
    let key = state_key::learning_addr("commit", id, r, &sender);
    if let Some(c) = read::<CommitRecord>(delta, &key)? {
        return Err(if c.commitment == *commitment {
            LearningError::Duplicate
        } else {
            LearningError::AlreadyCommitted
        }
        .into());
    }
    let rec =
        CommitRecord { commitment: *commitment, seq: rd.commits, reveal: None, faulted: false };
    write(delta, key, &rec);
    rd.commits += 1;
    put_round(delta, &rd);
    // The window may close early once everyone has committed: look at the task next block.
    wake(delta, &mut t, ctx.block.height.saturating_add(1));
    put_task(delta, &t);
    events.push(ev(
        "committed",
        id,
        Some(r),
        vec![("participant", sender.to_string()), ("commitment", commitment.to_string())],
    ));
    Ok(())
}

/// `Reveal`: a committed participant opens its commitment in the reveal phase; a reveal that
/// does not open it is slashed.
#[allow(clippy::too_many_arguments)]
fn reveal(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    r: RoundNo,
    update_id: &Hash,
    salt: &Hash,
    num_examples: u64,
    norm: u64,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let height = ctx.block.height;
    let (mut t, mut rd) = open_round(delta, id, r, Phase::Reveal)?;
    let key = state_key::learning_addr("commit", id, r, &sender);
    let mut c = read::<CommitRecord>(delta, &key)?.ok_or(LearningError::NoCommit)?;
    if c.faulted {
        return Err(LearningError::Faulted.into());
    }
    let rev = RevealRecord { update_id: *update_id, num_examples, norm };
    if let Some(prev) = &c.reveal {
        return Err(if *prev == rev {
            LearningError::Duplicate
        } else {
            LearningError::AlreadyRevealed
        }
        .into());
    }
    if num_examples == 0 {
        return Err(LearningError::ZeroExamples.into());
    }
    // H4: the aggregation weight is capped by the task (and, in shard mode, by the shards this
    // participant was assigned). A refused reveal writes nothing, so a participant that
    // committed to an out-of-range count ends up withholding, which is slashed (M4).
    let shards = read::<Selection>(delta, &state_key::learning_addr("sel", id, r, &sender))?
        .map_or(0, |s| s.shards.len());
    let max = examples_cap(&t.spec, shards);
    if num_examples > max {
        return Err(LearningError::TooManyExamples { got: num_examples, max }.into());
    }
    wake(delta, &mut t, height.saturating_add(1));
    put_task(delta, &t);
    if update_commitment(update_id, num_examples, salt, &sender, id, r) != c.commitment {
        // spec §3.3: a reveal that does not open its commit is an objective fault.
        c.faulted = true;
        write(delta, key, &c);
        rd.faults += 1;
        put_round(delta, &rd);
        registry::slash(delta, height, &sender, FaultReason::RevealMismatch, id, r, events)?;
        return Ok(());
    }
    c.reveal = Some(rev);
    write(delta, key, &c);
    rd.reveals += 1;
    put_round(delta, &rd);
    events.push(ev(
        "revealed",
        id,
        Some(r),
        vec![
            ("participant", sender.to_string()),
            ("update_id", update_id.to_string()),
            ("num_examples", num_examples.to_string()),
            ("norm", norm.to_string()),
        ],
    ));
    Ok(())
}

/// `ScoreCommit`: a round validator commits to its score vector.
fn score_commit(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    r: RoundNo,
    commitment: &Hash,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let (mut t, rd) = open_round(delta, id, r, Phase::ScoreCommit)?;
    power_of(&rd, &sender).ok_or(LearningError::NotValidator)?;
    let key = state_key::learning_addr("score", id, r, &sender);
    if let Some(s) = read::<ScoreRecord>(delta, &key)? {
        return Err(if s.commitment == *commitment {
            LearningError::Duplicate
        } else {
            LearningError::AlreadyCommitted
        }
        .into());
    }
    write(delta, key, &ScoreRecord { commitment: *commitment, scores: None, faulted: false });
    wake(delta, &mut t, ctx.block.height.saturating_add(1));
    put_task(delta, &t);
    events.push(ev("score_committed", id, Some(r), vec![("validator", sender.to_string())]));
    Ok(())
}

/// `ScoreReveal`: a round validator opens its score vector (one score per revealed update); a
/// reveal that does not open its commitment is a validator fault.
fn score_reveal(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    r: RoundNo,
    sc: &[i64],
    salt: &Hash,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let height = ctx.block.height;
    let (mut t, rd) = open_round(delta, id, r, Phase::ScoreReveal)?;
    power_of(&rd, &sender).ok_or(LearningError::NotValidator)?;
    let key = state_key::learning_addr("score", id, r, &sender);
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
        return Err(
            LearningError::WrongScoreCount { expected: rd.reveals, got: sc.len() as u32 }.into()
        );
    }
    wake(delta, &mut t, height.saturating_add(1));
    put_task(delta, &t);
    if score_commitment(sc, salt, &sender, id, r) != s.commitment {
        s.faulted = true;
        write(delta, key, &s);
        return registry::validator_fault(
            delta,
            height,
            &sender,
            FaultReason::ScoreRevealMismatch,
            id,
            r,
            events,
        );
    }
    s.scores = Some(sc.to_vec());
    write(delta, key, &s);
    events.push(ev("scores_revealed", id, Some(r), vec![("validator", sender.to_string())]));
    Ok(())
}

/// `Rollback`, owner only: see [`rollback`].
fn owner_rollback(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    id: TaskId,
    version: u32,
    events: &mut Vec<Event>,
) -> Res<()> {
    let sender = ctx.sender;
    let t = load_task(delta, id)?;
    if t.owner != sender {
        return Err(LearningError::NotOwner.into());
    }
    rollback(delta, id, version, events)
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
