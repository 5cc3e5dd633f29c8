//! Registry and learning messages and the training-task specification (spec DESIGN §3).
//!
//! The same stability rule as [`crate::Msg`] applies to every enum here: variants are only ever
//! appended. All numbers are integers or fixed-point integers (no floats: these are hashed and
//! stored in chain state). `docs/learning.md` specifies the protocol.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Address, Amount, Hash, keccak256};

/// Task identifier (assigned sequentially by the chain, starting at 1).
pub type TaskId = u64;
/// Round number within a task (starting at 0).
pub type RoundNo = u32;

/// Fixed-point scale of ε, noise multiplier and sample rate: `1_000_000` = 1.0.
pub const MICRO: u64 = 1_000_000;
/// Fixed-point scale of δ: `1_000_000_000_000_000_000` = 1.0 (δ is given in units of 1e-18).
pub const ATTO: u64 = 1_000_000_000_000_000_000;

/// Largest length of any free-text field (ids, descriptions, accelerator names), in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Largest number of data sets a registrant may advertise.
pub const MAX_DATASETS: usize = 32;
/// Largest number of integer parameters of an aggregation or score rule.
pub const MAX_RULE_PARAMS: usize = 16;
/// Aggregation rules a task may name (`TaskSpec::aggregation.id`), each with the most positional
/// parameters it takes (decimals in micro-units; `chorus_sdk::task_model::aggregation_rule` maps
/// them onto `chorus_fl::AggregationRule`, which checks their ranges). The chain refuses any other
/// id, or more parameters. `scaffold` is not listed: it needs control-variate blobs the protocol
/// does not carry yet.
pub const AGGREGATION_RULES: &[(&str, usize)] = &[
    ("fedavg", 0),
    ("fedavgm", 2),
    ("fednova", 0),
    ("fedadam", 4),
    ("fedyogi", 4),
    ("fedadagrad", 3),
    ("median", 0),
    ("trimmed_mean", 1),
    ("krum", 1),
    ("multi_krum", 2),
    ("bulyan", 1),
    ("centered_clipping", 2),
];
/// Score rules validators run (`TaskSpec::score_rule.id`; none takes parameters): `validity`,
/// `loo` (leave-one-out) and `loss_delta`. The chain refuses any other id, so a validator never
/// has to guess what an unknown rule means.
pub const SCORE_RULES: &[&str] = &["validity", "loo", "loss_delta"];
/// Largest number of committee keys for sealed delivery.
pub const MAX_COMMITTEE_KEYS: usize = 64;
/// Largest score vector a validator may reveal (one entry per revealed update); also the most
/// participants a round may select (security review L6), so a round never has more reveals than a
/// score vector can cover.
pub const MAX_SCORES: usize = 4096;
/// Largest `num_examples` one update may ever claim (2^20): with at most [`MAX_SCORES`] = 2^12
/// updates per round, the total FedAvg weight stays ≤ 2^32, the exact-integer limit of
/// `chorus-fl` (security review H4). A task's own cap ([`TaskSpec::max_examples`]) is at most this.
pub const MAX_EXAMPLES_PER_UPDATE: u64 = 1 << 20;

/// What a registrant signs up as.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trains in learning tasks (index 0).
    Participant,
    /// Runs compute-market jobs (index 1).
    Worker,
}

/// Self-reported device facts (not verified on chain; attestation is a separate score).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct DeviceFacts {
    /// CPU cores.
    pub cpu_cores: u32,
    /// Main memory in MiB.
    pub memory_mib: u64,
    /// Accelerator name (e.g. `"nvidia-h100"`), empty if none.
    pub accelerator: String,
    /// Accelerator memory in MiB (0 if none).
    pub accelerator_memory_mib: u64,
}

/// What a registrant can do.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Capabilities {
    /// Device facts.
    pub device: DeviceFacts,
    /// Largest model it can train, in bytes.
    pub max_model_bytes: u64,
    /// Names of data sets it offers (at most [`MAX_DATASETS`]).
    pub datasets: Vec<String>,
    /// X25519 public key for sealed delivery of models / shards to it.
    pub x25519_public_key: [u8; 32],
}

/// Messages of the registry component (`Msg::Registry`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryMsg {
    /// Register the sender with a bond moved from its balance (index 0).
    Register {
        /// Participant or worker.
        role: Role,
        /// Bond in base units (at least the registry's minimum bond).
        #[serde(with = "crate::amount_serde")]
        bond: Amount,
        /// Capabilities.
        capabilities: Capabilities,
    },
    /// Add to the sender's bond (index 1).
    AddBond {
        /// Amount in base units (non-zero).
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
    },
    /// Replace the sender's capabilities (index 2).
    UpdateCapabilities {
        /// New capabilities.
        capabilities: Capabilities,
    },
    /// Start unbonding: the sender stops being selectable; the bond stays slashable until the
    /// unbonding delay has passed (index 3).
    Deregister,
    /// After the unbonding delay: return the bond and delete the registration (index 4).
    Withdraw,
}

/// The model a task trains.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ModelSpec {
    /// Architecture id understood by trainers (e.g. `"mlp-784-128-10"`).
    pub spec_id: String,
    /// Free text.
    pub description: String,
    /// Blob id of the initial model (version 0).
    pub initial_model: Hash,
}

/// Where training data comes from.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataMode {
    /// Each participant trains on its own private data (index 0).
    Private,
    /// A public pool of shards under a Merkle root; each selected participant is assigned
    /// non-overlapping shard indices derived from the round seed (index 1).
    ShardPool {
        /// Merkle root of the shard pool.
        root: Hash,
        /// Number of shards in the pool.
        shard_count: u32,
        /// Shards assigned to each selected participant per round.
        shards_per_participant: u32,
    },
}

/// Phase lengths, in blocks (each at least 1).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PhaseLengths {
    /// Commit window.
    pub commit: u64,
    /// Reveal window.
    pub reveal: u64,
    /// Score-commit window.
    pub score_commit: u64,
    /// Score-reveal window.
    pub score_reveal: u64,
    /// Aggregate (propose + attest) window.
    pub aggregate: u64,
}

impl PhaseLengths {
    /// Sum of all windows (saturating).
    pub fn total(&self) -> u64 {
        self.commit
            .saturating_add(self.reveal)
            .saturating_add(self.score_commit)
            .saturating_add(self.score_reveal)
            .saturating_add(self.aggregate)
    }
}

/// A named rule with integer parameters; `chorus-fl` maps the id (e.g. `"fedavg"`,
/// `"trimmed_mean"`) to its implementation. The chain only stores it.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct RuleSpec {
    /// Rule id, `[a-z0-9_]{1,32}`.
    pub id: String,
    /// Integer parameters (fixed-point where the rule says so).
    pub params: Vec<i64>,
}

/// Differential-privacy settings (fixed-point; see [`MICRO`] and [`ATTO`]).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DpSettings {
    /// Total ε budget, in micro-units (`1_000_000` = ε 1.0).
    pub epsilon_budget_micro: u64,
    /// δ in units of 1e-18 (`10_000_000_000_000` = 1e-5); `1 ≤ δ < 1e18`.
    pub delta_atto: u64,
    /// Gaussian noise multiplier σ (noise std / clipping norm), micro-units.
    pub noise_multiplier_micro: u64,
    /// Participant sampling rate q per round, micro-units (`1_000_000` = every participant).
    pub sample_rate_micro: u64,
}

/// How updates are delivered.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    /// Updates are plain blobs (index 0).
    None,
    /// Updates are sealed to these X25519 committee keys (index 1).
    Committee {
        /// Committee public keys (1 ..= [`MAX_COMMITTEE_KEYS`]).
        keys: Vec<[u8; 32]>,
    },
}

/// Everything a task owner fixes when opening a training task.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Model.
    pub model: ModelSpec,
    /// Data mode.
    pub data: DataMode,
    /// Number of rounds (≥ 1).
    pub rounds: u32,
    /// Participants selected per round (≥ 1).
    pub participants_per_round: u32,
    /// Phase lengths in blocks.
    pub phases: PhaseLengths,
    /// Aggregation rule (interpreted by `chorus-fl`).
    pub aggregation: RuleSpec,
    /// Score rule (interpreted by validators' workers).
    pub score_rule: RuleSpec,
    /// Valid reveals needed for a round to proceed (1 ..= participants_per_round).
    pub min_quorum: u32,
    /// Reward per round; `rounds × reward_per_round` is escrowed at creation.
    #[serde(with = "crate::amount_serde")]
    pub reward_per_round: Amount,
    /// Smallest registry bond a participant needs to be selectable.
    #[serde(with = "crate::amount_serde")]
    pub min_participant_stake: Amount,
    /// Share of each round's reward paid to validators, in basis points (0 ..= 10 000).
    pub validator_share_bps: u16,
    /// Smallest consensus score (fixed-point, ≥ 1) for an update to be accepted.
    pub score_threshold: i64,
    /// Differential privacy, if any.
    pub dp: Option<DpSettings>,
    /// Update delivery.
    pub encryption: Encryption,
    /// Cap on the `num_examples` a reveal may claim (security review H4): for `Private` data the
    /// most examples one participant may claim per round; for `ShardPool` data the examples in
    /// one shard, so a participant's cap is `max_examples × shards assigned to it`. The chain
    /// requires `1 ≤ max_examples` and a per-participant cap ≤ [`MAX_EXAMPLES_PER_UPDATE`], and
    /// refuses reveals above the cap. JSON specs without it get [`MAX_EXAMPLES_PER_UPDATE`].
    #[serde(default = "default_max_examples")]
    pub max_examples: u64,
}

fn default_max_examples() -> u64 {
    MAX_EXAMPLES_PER_UPDATE
}

/// Messages of the learning component (`Msg::Learning`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearningMsg {
    /// Open a task and escrow `rounds × reward_per_round` from the sender (index 0).
    CreateTask {
        /// The task.
        spec: Box<TaskSpec>,
    },
    /// Owner: stop opening new rounds (index 1).
    PauseTask {
        /// Task.
        task: TaskId,
    },
    /// Owner: resume a paused task (index 2).
    ResumeTask {
        /// Task.
        task: TaskId,
    },
    /// Owner: cancel. Before the open round's first commit the round is abandoned and the
    /// remaining escrow refunded at once; after it the open round runs to its end and settles
    /// (its participants and validators are paid as usual), then the rest is refunded (index 3).
    CancelTask {
        /// Task.
        task: TaskId,
    },
    /// Selected participant: commit to an update ([`update_commitment`]) (index 4).
    Commit {
        /// Task.
        task: TaskId,
        /// Round.
        round: RoundNo,
        /// `update_commitment(update_id, num_examples, salt, sender, task, round)`.
        commitment: Hash,
    },
    /// Selected participant: open the commitment (index 5).
    Reveal {
        /// Task.
        task: TaskId,
        /// Round.
        round: RoundNo,
        /// Blob id of the update.
        update_id: Hash,
        /// The salt used in the commitment.
        salt: Hash,
        /// Number of training examples behind the update (1 ..= the task's cap; bound by the
        /// commitment).
        num_examples: u64,
        /// L2 norm of the update, fixed-point (the task's scale).
        norm: u64,
    },
    /// Validator: commit to a score vector ([`score_commitment`]) (index 6).
    ScoreCommit {
        /// Task.
        task: TaskId,
        /// Round.
        round: RoundNo,
        /// `score_commitment(scores, salt, sender, task, round)`.
        commitment: Hash,
    },
    /// Validator: reveal its scores, one per revealed update in canonical order (index 7).
    ScoreReveal {
        /// Task.
        task: TaskId,
        /// Round.
        round: RoundNo,
        /// Fixed-point scores.
        scores: Vec<i64>,
        /// The salt used in the commitment.
        salt: Hash,
    },
    /// Validator: propose the round's aggregate (counts as its attestation) (index 8).
    ProposeAggregate {
        /// Task.
        task: TaskId,
        /// Round.
        round: RoundNo,
        /// Blob id of the new global model.
        model_id: Hash,
        /// `accepted_set_hash` of the accepted updates.
        accepted_set_hash: Hash,
    },
    /// Validator: attest a proposed aggregate (index 9).
    AttestAggregate {
        /// Task.
        task: TaskId,
        /// Round.
        round: RoundNo,
        /// Blob id of the new global model.
        model_id: Hash,
        /// `accepted_set_hash` of the accepted updates.
        accepted_set_hash: Hash,
    },
    /// Owner: make an earlier model version current again (index 10).
    Rollback {
        /// Task.
        task: TaskId,
        /// Version to restore.
        version: u32,
    },
}

impl LearningMsg {
    /// The task the message is about (`None` for `CreateTask`).
    pub fn task(&self) -> Option<TaskId> {
        match self {
            LearningMsg::CreateTask { .. } => None,
            LearningMsg::PauseTask { task }
            | LearningMsg::ResumeTask { task }
            | LearningMsg::CancelTask { task }
            | LearningMsg::Commit { task, .. }
            | LearningMsg::Reveal { task, .. }
            | LearningMsg::ScoreCommit { task, .. }
            | LearningMsg::ScoreReveal { task, .. }
            | LearningMsg::ProposeAggregate { task, .. }
            | LearningMsg::AttestAggregate { task, .. }
            | LearningMsg::Rollback { task, .. } => Some(*task),
        }
    }
}

/// Parameters of the registry component (stored at `params/registry`; defaults if absent).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryParams {
    /// Smallest bond a registration needs.
    #[serde(with = "crate::amount_serde")]
    pub min_bond: Amount,
    /// Blocks between `Deregister` and the earliest `Withdraw`.
    pub unbonding_blocks: u64,
    /// Share of the bond slashed per objective fault, in basis points (burnt).
    pub slash_bps: u16,
}

impl Default for RegistryParams {
    fn default() -> Self {
        RegistryParams { min_bond: 1, unbonding_blocks: 1_000, slash_bps: 1_000 }
    }
}

/// The update commitment:
/// `keccak256("chorus/update" ‖ update_id(32) ‖ num_examples(u64 BE) ‖ salt(32) ‖ address(20) ‖
/// task(u64 BE) ‖ round(u32 BE))`. `num_examples` (the FedAvg weight) is bound at commit time, so
/// it cannot be chosen after other reveals are visible (security review H4).
pub fn update_commitment(
    update_id: &Hash,
    num_examples: u64,
    salt: &Hash,
    participant: &Address,
    task: TaskId,
    round: RoundNo,
) -> Hash {
    let mut b = Vec::with_capacity(13 + 32 + 8 + 32 + 20 + 8 + 4);
    b.extend_from_slice(b"chorus/update");
    b.extend_from_slice(&update_id.0);
    b.extend_from_slice(&num_examples.to_be_bytes());
    b.extend_from_slice(&salt.0);
    b.extend_from_slice(&participant.0);
    b.extend_from_slice(&task.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    Hash(keccak256(&b))
}

/// The score commitment:
/// `keccak256("chorus/scores" ‖ n(u32 BE) ‖ scores(i64 BE each) ‖ salt(32) ‖ validator(20) ‖
/// task(u64 BE) ‖ round(u32 BE))`.
pub fn score_commitment(
    scores: &[i64],
    salt: &Hash,
    validator: &Address,
    task: TaskId,
    round: RoundNo,
) -> Hash {
    let mut b = Vec::with_capacity(13 + 4 + 8 * scores.len() + 32 + 20 + 12);
    b.extend_from_slice(b"chorus/scores");
    b.extend_from_slice(&(scores.len() as u32).to_be_bytes());
    for s in scores {
        b.extend_from_slice(&s.to_be_bytes());
    }
    b.extend_from_slice(&salt.0);
    b.extend_from_slice(&validator.0);
    b.extend_from_slice(&task.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    Hash(keccak256(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_commitment_binds_every_field() {
        let c = |id: u8, n: u64, salt: u8, who: u8, task: u64, round: u32| {
            update_commitment(
                &Hash([id; 32]),
                n,
                &Hash([salt; 32]),
                &Address([who; 20]),
                task,
                round,
            )
        };
        let base = c(1, 100, 2, 3, 4, 5);
        // Layout pinned: tag ‖ 32 + 8 + 32 + 20 + 8 + 4 bytes.
        let mut b = b"chorus/update".to_vec();
        b.extend([1u8; 32]);
        b.extend(100u64.to_be_bytes());
        b.extend([2u8; 32]);
        b.extend([3u8; 20]);
        b.extend(4u64.to_be_bytes());
        b.extend(5u32.to_be_bytes());
        assert_eq!(base, Hash(keccak256(&b)));
        for other in [
            c(9, 100, 2, 3, 4, 5),
            c(1, 101, 2, 3, 4, 5),
            c(1, 1 << 40, 2, 3, 4, 5),
            c(1, 100, 9, 3, 4, 5),
            c(1, 100, 2, 9, 4, 5),
            c(1, 100, 2, 3, 9, 5),
            c(1, 100, 2, 3, 4, 9),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn learning_msg_encoding_is_pinned() {
        let m = crate::Msg::Learning(LearningMsg::Commit {
            task: 1,
            round: 2,
            commitment: Hash([0xcc; 32]),
        });
        let mut want = vec![2u8, 4]; // Msg::Learning = 2, LearningMsg::Commit = 4
        want.extend(1u64.to_le_bytes());
        want.extend(2u32.to_le_bytes());
        want.extend([0xcc; 32]);
        assert_eq!(borsh::to_vec(&m).unwrap(), want);
        let r = crate::Msg::Registry(RegistryMsg::Deregister);
        assert_eq!(borsh::to_vec(&r).unwrap(), vec![1u8, 3]);
    }

    #[test]
    fn score_commitment_depends_on_scores_and_length() {
        let s = Hash([7; 32]);
        let v = Address([1; 20]);
        let a = score_commitment(&[1, 2], &s, &v, 1, 0);
        assert_ne!(a, score_commitment(&[1, 3], &s, &v, 1, 0));
        assert_ne!(a, score_commitment(&[1, 2, 0], &s, &v, 1, 0));
        assert_ne!(a, score_commitment(&[1, 2], &s, &Address([2; 20]), 1, 0));
    }
}
