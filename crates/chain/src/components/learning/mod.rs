//! Learning: training tasks, rounds, commitments, scores, aggregates, rewards and model versions
//! (spec DESIGN §3, `docs/learning.md`).
//!
//! Rounds are driven by block height in the `begin_block` hook, which only looks at the tasks due
//! at that height in a deadline-indexed queue (`queue.rs`): open → commit → reveal →
//! score-commit → score-reveal → aggregate → finalized / failed. Messages are only accepted in
//! their phase and are idempotent: an exact resubmission is refused with
//! [`LearningError::Duplicate`] and changes nothing. Escrow lives in the `learning_escrow` module
//! pool; every task keeps its own share in [`Task::escrow`], and
//! `escrow + paid + refunded = budget` always holds.
//!
//! Layout: `spec.rs` validates task specs; `msg.rs` checks and executes the messages, one handler
//! per variant; `round.rs` drives rounds from the block hook (opening, phase deadlines, scoring);
//! `finalize.rs` settles them (attestations, finalisation, rewards, failed rounds, ended tasks);
//! `records.rs` holds the state records and read-only queries. The pure protocol rules —
//! `selection.rs`, `scoring.rs`, `rewards.rs`, `dp.rs` and their fixed-point helpers in
//! `fixed.rs` — are re-exported as [`math`].

mod dp;
mod error;
mod finalize;
mod fixed;
pub mod math;
mod msg;
mod queue;
mod records;
mod rewards;
mod round;
mod scoring;
mod selection;
mod spec;

use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Address, Event};

pub use error::LearningError;
pub use msg::rollback;
pub(crate) use msg::{check_stateful, check_stateless, execute, spend};
pub use queue::queue;
pub use records::{
    CommitRecord, ModelVersion, Outcome, Phase, RevealRecord, Round, ScoreRecord, Selection, Task,
    TaskStatus, UpdateScore, commits, current_model, model_version, model_versions, outcome,
    participants, referenced_blobs, revealed_updates, round, scores, selection, task, tasks,
};
pub(crate) use round::begin_block;
pub use round::{designated_aggregator, eligible_participants};
pub use spec::{
    MAX_ACTIVE_TASKS, MAX_ASSIGNED_SHARDS, MAX_PARTICIPANTS_PER_ROUND, MAX_PHASE_BLOCKS,
    MAX_ROUNDS, MIN_REPUTATION, MIN_TASK_BUDGET, OPEN_RETRY_BLOCKS, examples_cap, validate_spec,
};

use crate::codec::write;
use crate::state::{StateDelta, StateRead};
use crate::{TxError, state_key};

/// The module pool holding every task's escrow.
pub const ESCROW_POOL: &str = "learning_escrow";

type Res<T> = Result<T, TxError>;

fn ev(kind: &str, task: TaskId, round: Option<RoundNo>, mut rest: Vec<(&str, String)>) -> Event {
    let mut attrs = vec![("task".to_string(), task.to_string())];
    if let Some(r) = round {
        attrs.push(("round".into(), r.to_string()));
    }
    attrs.extend(rest.drain(..).map(|(k, v)| (k.to_string(), v)));
    Event::new(format!("learning.{kind}"), attrs)
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
