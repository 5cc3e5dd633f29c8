//! Learning state records and the read-only queries the API exposes.

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::learning::{RoundNo, TaskId, TaskSpec};
use chorus_types::{Address, Amount, Hash, Height};

use super::math::{AcceptedUpdate, RevealedUpdate};
use crate::TxError;
use crate::codec::read;
use crate::components::registry::{self, Registration};
use crate::state::StateRead;
use crate::state_key;

/// Lifecycle of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TaskStatus {
    /// Rounds open as scheduled.
    Active,
    /// No new rounds open; an open round runs to its end.
    Paused,
    /// Cancelled by the owner; escrow refunded.
    Cancelled,
    /// All rounds done; the rest of the escrow refunded.
    Completed,
    /// The next round would exceed the DP budget; the rest of the escrow refunded.
    DpBudgetExhausted,
    /// Cancelled by the owner after the open round's first commit: that round runs to its end
    /// and settles (participants and validators are paid as usual), then the task becomes
    /// `Cancelled` and the rest of the escrow is refunded (security review M3).
    Cancelling,
}

impl TaskStatus {
    /// Event / error form.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Active => "active",
            TaskStatus::Paused => "paused",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Completed => "completed",
            TaskStatus::DpBudgetExhausted => "dp_budget_exhausted",
            TaskStatus::Cancelling => "cancelling",
        }
    }
}

/// A task, stored at `learning/task/<task>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Owner (creator).
    pub owner: Address,
    /// The spec.
    pub spec: TaskSpec,
    /// Status.
    pub status: TaskStatus,
    /// Creation height.
    pub created_at: Height,
    /// `rounds × reward_per_round`, escrowed at creation.
    pub budget: Amount,
    /// Still in escrow (the `learning_escrow` pool holds the sum over tasks).
    pub escrow: Amount,
    /// Paid out as rewards so far.
    pub paid: Amount,
    /// Refunded to the owner so far.
    pub refunded: Amount,
    /// The next round number to open (= rounds opened so far).
    pub next_round: RoundNo,
    /// The round in progress, if any.
    pub open_round: Option<RoundNo>,
    /// Newest model version (0 = the initial model).
    pub latest_version: u32,
    /// The version new rounds train from (rollback may lower it).
    pub current_version: u32,
    /// Finalized rounds charged to the DP accountant.
    pub dp_rounds: u64,
    /// ε spent so far, micro-units.
    pub dp_epsilon_spent_micro: u64,
    /// The height at which the block hook next looks at this task (its entry in the
    /// deadline-indexed queue `learning/due/<height><task>`); `None` while it needs no hook
    /// (paused between rounds, or ended).
    pub next_tick: Option<Height>,
}

/// Where a round is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Phase {
    /// Selected participants commit.
    Commit,
    /// They reveal.
    Reveal,
    /// Validators commit score vectors.
    ScoreCommit,
    /// Validators reveal them.
    ScoreReveal,
    /// Validators propose and attest the aggregate.
    Aggregate,
    /// Aggregate finalized, rewards paid.
    Finalized,
    /// Ended without a new model (see `Round::failure`).
    Failed,
}

impl Phase {
    /// Event / error form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Commit => "commit",
            Phase::Reveal => "reveal",
            Phase::ScoreCommit => "score_commit",
            Phase::ScoreReveal => "score_reveal",
            Phase::Aggregate => "aggregate",
            Phase::Finalized => "finalized",
            Phase::Failed => "failed",
        }
    }
}

/// A round, stored at `learning/round/<task><round>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Round {
    /// Task.
    pub task: TaskId,
    /// Round number.
    pub round: RoundNo,
    /// Phase.
    pub phase: Phase,
    /// `round_seed(randomness, task, round)`.
    pub seed: Hash,
    /// The block randomness the seed came from.
    pub randomness: Hash,
    /// Height at which the round opened (first commit height).
    pub opened_at: Height,
    /// Exclusive end heights of commit, reveal, score-commit, score-reveal and aggregate.
    pub ends: [Height; 5],
    /// The model version participants train from.
    pub base_version: u32,
    /// Validator snapshot at opening: `(operator, power)` by operator address.
    pub validators: Vec<(Address, u64)>,
    /// Σ power of the snapshot.
    pub total_power: u64,
    /// Participants selected.
    pub selected: u32,
    /// Commits received (also the next commit sequence number).
    pub commits: u32,
    /// Valid reveals.
    pub reveals: u32,
    /// Faults judged in this round.
    pub faults: u32,
    /// Why the round failed.
    pub failure: Option<String>,
    /// Finalized model.
    pub model_id: Option<Hash>,
}

/// A selected participant, stored at `learning/sel/<task><round><addr>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Selection {
    /// Rank in the selection (0 = first).
    pub rank: u32,
    /// Assigned shard indices (shard mode), ascending.
    pub shards: Vec<u32>,
}

/// An opened commitment.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RevealRecord {
    /// Update blob id.
    pub update_id: Hash,
    /// Training examples.
    pub num_examples: u64,
    /// Fixed-point update norm.
    pub norm: u64,
}

/// A participant's commitment, stored at `learning/commit/<task><round><addr>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitRecord {
    /// The commitment.
    pub commitment: Hash,
    /// Commit order within the round (informative: duplicates are not resolved by it).
    pub seq: u32,
    /// The matching reveal.
    pub reveal: Option<RevealRecord>,
    /// The reveal did not match (slashed).
    pub faulted: bool,
}

/// A validator's score commitment, stored at `learning/score/<task><round><addr>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ScoreRecord {
    /// The commitment.
    pub commitment: Hash,
    /// The revealed scores.
    pub scores: Option<Vec<i64>>,
    /// The reveal did not match.
    pub faulted: bool,
}

/// The consensus result of one revealed update.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct UpdateScore {
    /// Participant.
    pub participant: Address,
    /// Update blob id.
    pub update_id: Hash,
    /// Stake-weighted median score.
    pub consensus: i64,
    /// Yuma-clipped weight.
    pub weight: u128,
    /// In the accepted set.
    pub accepted: bool,
}

/// Round scoring outcome and aggregate tallies, stored at `learning/outcome/<task><round>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Outcome {
    /// Every revealed update, canonical order.
    pub updates: Vec<UpdateScore>,
    /// The accepted set.
    pub accepted: Vec<AcceptedUpdate>,
    /// `accepted_set_hash(task, round, accepted)`.
    pub accepted_set_hash: Hash,
    /// Validators that revealed valid scores: `(operator, power, agreement ppm)`.
    pub agreement: Vec<(Address, u64, u64)>,
    /// `(model_id, attested power)` per proposed model, in proposal order.
    pub tallies: Vec<(Hash, u64)>,
}

/// A model version, stored at `learning/version/<task><version>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ModelVersion {
    /// Version number (0 = initial model).
    pub version: u32,
    /// Model blob id.
    pub model_id: Hash,
    /// Round that produced it (`None` for version 0).
    pub round: Option<RoundNo>,
    /// Accepted-set hash of that round ([`Hash::ZERO`] for version 0).
    pub accepted_set_hash: Hash,
    /// Consensus score of every accepted update.
    pub scores: Vec<(Address, i64)>,
    /// Height it was recorded at.
    pub height: Height,
}

fn decode_all<T: BorshDeserialize>(
    state: &dyn StateRead,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, T)>, TxError> {
    state
        .scan_prefix(prefix)?
        .into_iter()
        .map(|(k, v)| match borsh::from_slice(&v) {
            Ok(t) => Ok((k, t)),
            Err(_) => Err(TxError::corrupt(&k)),
        })
        .collect()
}

pub(crate) fn addr_of(key: &[u8]) -> Address {
    let mut a = [0u8; 20];
    if key.len() >= 20 {
        a.copy_from_slice(&key[key.len() - 20..]);
    }
    Address(a)
}

/// Query: a task.
pub fn task(state: &dyn StateRead, id: TaskId) -> Result<Option<Task>, TxError> {
    read(state, &state_key::task(id))
}

/// Query: every task, by id.
pub fn tasks(state: &dyn StateRead) -> Result<Vec<Task>, TxError> {
    Ok(decode_all(state, state_key::TASK_PREFIX)?.into_iter().map(|(_, t)| t).collect())
}

/// Query: a round.
pub fn round(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Option<Round>, TxError> {
    read(state, &state_key::learning("round", task, Some(round)))
}

/// Query: the selected participants of a round in rank order, with their shards.
pub fn selection(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Vec<(Address, Selection)>, TxError> {
    let mut v: Vec<(Address, Selection)> =
        decode_all::<Selection>(state, &state_key::learning("sel", task, Some(round)))?
            .into_iter()
            .map(|(k, s)| (addr_of(&k), s))
            .collect();
    v.sort_by_key(|(_, s)| s.rank);
    Ok(v)
}

/// Query: the commitments of a round, by participant address.
pub fn commits(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Vec<(Address, CommitRecord)>, TxError> {
    Ok(decode_all(state, &state_key::learning("commit", task, Some(round)))?
        .into_iter()
        .map(|(k, c)| (addr_of(&k), c))
        .collect())
}

/// Query: the score commitments / reveals of a round, by validator address.
pub fn scores(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Vec<(Address, ScoreRecord)>, TxError> {
    Ok(decode_all(state, &state_key::learning("score", task, Some(round)))?
        .into_iter()
        .map(|(k, c)| (addr_of(&k), c))
        .collect())
}

/// Query (and what validators score): the valid reveals of a round in canonical order — by
/// participant address. Score vectors have one entry per element, in this order.
pub fn revealed_updates(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Vec<RevealedUpdate>, TxError> {
    Ok(commits(state, task, round)?
        .into_iter()
        .filter_map(|(a, c)| {
            let r = c.reveal.as_ref()?;
            (!c.faulted).then_some(RevealedUpdate {
                participant: a,
                update_id: r.update_id,
                commit_seq: c.seq,
                num_examples: r.num_examples,
            })
        })
        .collect())
}

/// Query: the scoring outcome of a round (from the start of its aggregate phase).
pub fn outcome(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Option<Outcome>, TxError> {
    read(state, &state_key::learning("outcome", task, Some(round)))
}

/// Query: every blob id the ledger refers to — each task's initial model, every model version and
/// finalized round model, and every revealed update (faulted ones too: auditors replay them). The
/// node pins these in its blob store so garbage collection never removes what a replay needs.
pub fn referenced_blobs(
    state: &dyn StateRead,
) -> Result<std::collections::BTreeSet<Hash>, TxError> {
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks(state)? {
        ids.insert(t.spec.model.initial_model);
        ids.extend(model_versions(state, t.id)?.into_iter().map(|v| v.model_id));
        for r in 0..t.next_round {
            if let Some(rd) = round(state, t.id, r)? {
                ids.extend(rd.model_id);
            }
            ids.extend(
                commits(state, t.id, r)?
                    .into_iter()
                    .filter_map(|(_, c)| c.reveal.map(|rv| rv.update_id)),
            );
        }
    }
    Ok(ids)
}

/// Query: every model version of a task, oldest first.
pub fn model_versions(state: &dyn StateRead, task: TaskId) -> Result<Vec<ModelVersion>, TxError> {
    Ok(decode_all(state, &state_key::learning("version", task, None))?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Query: one model version.
pub fn model_version(
    state: &dyn StateRead,
    task: TaskId,
    version: u32,
) -> Result<Option<ModelVersion>, TxError> {
    read(state, &state_key::learning("version", task, Some(version)))
}

/// Query: the model a task's next round trains from.
pub fn current_model(state: &dyn StateRead, id: TaskId) -> Result<Option<Hash>, TxError> {
    let Some(t) = task(state, id)? else { return Ok(None) };
    Ok(model_version(state, id, t.current_version)?.map(|v| v.model_id))
}

/// Query: every registration (participants and workers), by address.
pub fn participants(state: &dyn StateRead) -> Result<Vec<Registration>, TxError> {
    registry::registrations(state)
}
