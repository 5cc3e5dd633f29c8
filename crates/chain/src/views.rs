//! JSON views of the chain's learning and registry records: what the node serves under
//! `/v1/learning/…` and `/v1/registry/…` and what the SDK reads back. `u128` amounts and weights are decimal strings; phases and statuses are their
//! `as_str()` forms. [`task_view`] / [`round_view`] / … build them from any state snapshot with the
//! chain's query functions, so every reader (the node's API, the SDK's in-memory ledger) agrees.

use crate::components::learning::{self, Outcome, Round, Task, designated_aggregator};
use crate::components::registry::{RegStatus, Registration};
use crate::state::StateRead;
use chorus_types::learning::{Capabilities, Role, RoundNo, TaskId, TaskSpec};
use chorus_types::{Address, Hash};
use serde::{Deserialize, Serialize};

/// A task (`GET /v1/learning/tasks[/{id}]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Id.
    pub id: TaskId,
    /// Owner.
    pub owner: Address,
    /// Spec.
    pub spec: TaskSpec,
    /// `active`, `paused`, `cancelled`, `completed`, `dp_budget_exhausted`.
    pub status: String,
    /// Creation height.
    pub created_at: u64,
    /// Budget (decimal).
    pub budget: String,
    /// Escrow left (decimal).
    pub escrow: String,
    /// Paid so far (decimal).
    pub paid: String,
    /// Refunded so far (decimal).
    pub refunded: String,
    /// Next round to open.
    pub next_round: RoundNo,
    /// Round in progress.
    pub open_round: Option<RoundNo>,
    /// Newest version.
    pub latest_version: u32,
    /// Version new rounds train from.
    pub current_version: u32,
    /// Model id of the current version.
    pub current_model: Option<Hash>,
}

/// A selected participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionView {
    /// Participant.
    pub address: Address,
    /// Rank (0 = first).
    pub rank: u32,
    /// Assigned shards (shard mode).
    pub shards: Vec<u32>,
}

/// An opened commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealView {
    /// Update blob id.
    pub update_id: Hash,
    /// Training examples.
    pub num_examples: u64,
    /// Fixed-point norm.
    pub norm: u64,
}

/// A participant's commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitView {
    /// Participant.
    pub participant: Address,
    /// Commitment.
    pub commitment: Hash,
    /// Commit order.
    pub seq: u32,
    /// The reveal, if any.
    pub reveal: Option<RevealView>,
    /// Reveal mismatch (slashed).
    pub faulted: bool,
}

/// A validator's score record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreView {
    /// Validator.
    pub validator: Address,
    /// Score commitment.
    pub commitment: Hash,
    /// Revealed scores.
    pub scores: Option<Vec<i64>>,
    /// Mismatching reveal.
    pub faulted: bool,
}

/// A valid reveal in canonical order (what score vectors index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedView {
    /// Participant.
    pub participant: Address,
    /// Update blob id.
    pub update_id: Hash,
    /// Commit sequence.
    pub commit_seq: u32,
    /// Training examples.
    pub num_examples: u64,
}

/// Consensus result of one update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateScoreView {
    /// Participant.
    pub participant: Address,
    /// Update blob id.
    pub update_id: Hash,
    /// Consensus score.
    pub consensus: i64,
    /// Clipped weight (decimal).
    pub weight: String,
    /// Accepted.
    pub accepted: bool,
}

/// An accepted update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedView {
    /// Participant.
    pub participant: Address,
    /// Update blob id.
    pub update_id: Hash,
    /// Training examples.
    pub num_examples: u64,
    /// Consensus score.
    pub consensus: i64,
    /// Clipped weight (decimal).
    pub weight: String,
}

/// A round's scoring outcome and aggregate tallies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeView {
    /// Every revealed update.
    pub updates: Vec<UpdateScoreView>,
    /// The accepted set.
    pub accepted: Vec<AcceptedView>,
    /// Its hash.
    pub accepted_set_hash: Hash,
    /// `(validator, power, agreement ppm)`.
    pub agreement: Vec<(Address, u64, u64)>,
    /// `(model_id, attested power)`.
    pub tallies: Vec<(Hash, u64)>,
}

/// A round with everything the runtimes need (`GET /v1/learning/tasks/{id}/rounds/{round}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundView {
    /// Task.
    pub task: TaskId,
    /// Round.
    pub round: RoundNo,
    /// Phase (`commit`, `reveal`, `score_commit`, `score_reveal`, `aggregate`, `finalized`,
    /// `failed`).
    pub phase: String,
    /// Round seed.
    pub seed: Hash,
    /// Block randomness.
    pub randomness: Hash,
    /// Opening height.
    pub opened_at: u64,
    /// Exclusive end heights of the five windows.
    pub ends: [u64; 5],
    /// Base model version.
    pub base_version: u32,
    /// Base model blob id.
    pub base_model: Option<Hash>,
    /// `(validator, power)` snapshot.
    pub validators: Vec<(Address, u64)>,
    /// Σ power.
    pub total_power: u64,
    /// Advisory proposer (`designated_aggregator`).
    pub designated_aggregator: Option<Address>,
    /// Selected count.
    pub selected: u32,
    /// Commits.
    pub commits: u32,
    /// Valid reveals.
    pub reveals: u32,
    /// Faults.
    pub faults: u32,
    /// Failure reason.
    pub failure: Option<String>,
    /// Finalized model.
    pub model_id: Option<Hash>,
    /// Selection, rank order.
    pub selection: Vec<SelectionView>,
    /// Commitments, by participant.
    pub commit_records: Vec<CommitView>,
    /// Score records, by validator.
    pub score_records: Vec<ScoreView>,
    /// Valid reveals, canonical order.
    pub revealed: Vec<RevealedView>,
    /// Outcome (from the aggregate phase on).
    pub outcome: Option<OutcomeView>,
}

/// A model version (`GET /v1/learning/tasks/{id}/versions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// Version.
    pub version: u32,
    /// Model blob id.
    pub model_id: Hash,
    /// Producing round.
    pub round: Option<RoundNo>,
    /// Accepted-set hash.
    pub accepted_set_hash: Hash,
    /// Accepted participants' consensus scores.
    pub scores: Vec<(Address, i64)>,
    /// Height.
    pub height: u64,
}

/// A registration (`GET /v1/registry/participants`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationView {
    /// Account.
    pub address: Address,
    /// Role.
    pub role: Role,
    /// Bond (decimal).
    pub bond: String,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Reputation.
    pub reputation: i64,
    /// `active` or `unbonding`.
    pub status: String,
    /// Unbonding end, if unbonding.
    pub unbonding_until: Option<u64>,
    /// Registration height.
    pub registered_at: u64,
    /// Faults.
    pub faults: u32,
}

impl RoundView {
    /// Whether `a` is selected.
    pub fn is_selected(&self, a: &Address) -> bool {
        self.selection.iter().any(|s| s.address == *a)
    }
    /// `a`'s commit record.
    pub fn commit_of(&self, a: &Address) -> Option<&CommitView> {
        self.commit_records.iter().find(|c| c.participant == *a)
    }
    /// `v`'s score record.
    pub fn score_of(&self, v: &Address) -> Option<&ScoreView> {
        self.score_records.iter().find(|c| c.validator == *v)
    }
    /// `v`'s power in the snapshot.
    pub fn power_of(&self, v: &Address) -> Option<u64> {
        self.validators.iter().find(|(a, _)| a == v).map(|(_, p)| *p)
    }
}

/// View of a task record.
pub fn task_to_view(state: &dyn StateRead, t: &Task) -> Result<TaskView, crate::TxError> {
    Ok(TaskView {
        id: t.id,
        owner: t.owner,
        spec: t.spec.clone(),
        status: t.status.as_str().into(),
        created_at: t.created_at,
        budget: t.budget.to_string(),
        escrow: t.escrow.to_string(),
        paid: t.paid.to_string(),
        refunded: t.refunded.to_string(),
        next_round: t.next_round,
        open_round: t.open_round,
        latest_version: t.latest_version,
        current_version: t.current_version,
        current_model: learning::current_model(state, t.id)?,
    })
}

/// Query: a task view.
pub fn task_view(state: &dyn StateRead, id: TaskId) -> Result<Option<TaskView>, crate::TxError> {
    learning::task(state, id)?.map(|t| task_to_view(state, &t)).transpose()
}

/// Query: every task.
pub fn task_views(state: &dyn StateRead) -> Result<Vec<TaskView>, crate::TxError> {
    learning::tasks(state)?.iter().map(|t| task_to_view(state, t)).collect()
}

fn outcome_view(o: &Outcome) -> OutcomeView {
    OutcomeView {
        updates: o
            .updates
            .iter()
            .map(|u| UpdateScoreView {
                participant: u.participant,
                update_id: u.update_id,
                consensus: u.consensus,
                weight: u.weight.to_string(),
                accepted: u.accepted,
            })
            .collect(),
        accepted: o
            .accepted
            .iter()
            .map(|u| AcceptedView {
                participant: u.participant,
                update_id: u.update_id,
                num_examples: u.num_examples,
                consensus: u.consensus,
                weight: u.weight.to_string(),
            })
            .collect(),
        accepted_set_hash: o.accepted_set_hash,
        agreement: o.agreement.clone(),
        tallies: o.tallies.clone(),
    }
}

/// View of a round record plus its selection, commits, scores, reveals and outcome.
pub fn round_to_view(state: &dyn StateRead, rd: &Round) -> Result<RoundView, crate::TxError> {
    let (t, r) = (rd.task, rd.round);
    Ok(RoundView {
        task: t,
        round: r,
        phase: rd.phase.as_str().into(),
        seed: rd.seed,
        randomness: rd.randomness,
        opened_at: rd.opened_at,
        ends: rd.ends,
        base_version: rd.base_version,
        base_model: learning::model_version(state, t, rd.base_version)?.map(|v| v.model_id),
        validators: rd.validators.clone(),
        total_power: rd.total_power,
        designated_aggregator: designated_aggregator(&rd.seed, &rd.validators),
        selected: rd.selected,
        commits: rd.commits,
        reveals: rd.reveals,
        faults: rd.faults,
        failure: rd.failure.clone(),
        model_id: rd.model_id,
        selection: learning::selection(state, t, r)?
            .into_iter()
            .map(|(address, s)| SelectionView { address, rank: s.rank, shards: s.shards })
            .collect(),
        commit_records: learning::commits(state, t, r)?
            .into_iter()
            .map(|(participant, c)| CommitView {
                participant,
                commitment: c.commitment,
                seq: c.seq,
                reveal: c.reveal.map(|v| RevealView {
                    update_id: v.update_id,
                    num_examples: v.num_examples,
                    norm: v.norm,
                }),
                faulted: c.faulted,
            })
            .collect(),
        score_records: learning::scores(state, t, r)?
            .into_iter()
            .map(|(validator, s)| ScoreView {
                validator,
                commitment: s.commitment,
                scores: s.scores,
                faulted: s.faulted,
            })
            .collect(),
        revealed: learning::revealed_updates(state, t, r)?
            .into_iter()
            .map(|u| RevealedView {
                participant: u.participant,
                update_id: u.update_id,
                commit_seq: u.commit_seq,
                num_examples: u.num_examples,
            })
            .collect(),
        outcome: learning::outcome(state, t, r)?.as_ref().map(outcome_view),
    })
}

/// Query: a round view.
pub fn round_view(
    state: &dyn StateRead,
    task: TaskId,
    round: RoundNo,
) -> Result<Option<RoundView>, crate::TxError> {
    learning::round(state, task, round)?.map(|rd| round_to_view(state, &rd)).transpose()
}

/// Query: a task's versions, oldest first.
pub fn version_views(
    state: &dyn StateRead,
    task: TaskId,
) -> Result<Vec<VersionView>, crate::TxError> {
    Ok(learning::model_versions(state, task)?
        .into_iter()
        .map(|v| VersionView {
            version: v.version,
            model_id: v.model_id,
            round: v.round,
            accepted_set_hash: v.accepted_set_hash,
            scores: v.scores,
            height: v.height,
        })
        .collect())
}

/// View of a registration.
pub fn registration_view(r: &Registration) -> RegistrationView {
    let (status, until) = match r.status {
        RegStatus::Active => ("active", None),
        RegStatus::Unbonding { until } => ("unbonding", Some(until)),
    };
    RegistrationView {
        address: r.address,
        role: r.role,
        bond: r.bond.to_string(),
        capabilities: r.capabilities.clone(),
        reputation: r.reputation,
        status: status.into(),
        unbonding_until: until,
        registered_at: r.registered_at,
        faults: r.faults,
    }
}

/// Query: every registration.
pub fn registration_views(state: &dyn StateRead) -> Result<Vec<RegistrationView>, crate::TxError> {
    Ok(learning::participants(state)?.iter().map(registration_view).collect())
}
