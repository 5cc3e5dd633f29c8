//! Task specs: the limits a [`TaskSpec`] must respect and [`validate_spec`], the stateless check
//! behind `CreateTask` (and its spend: the budget `rounds × reward_per_round` moved into escrow).
//! Every refusal is a typed [`LearningError::InvalidSpec`] naming the violated bound.

use chorus_types::Amount;
use chorus_types::learning::{
    AGGREGATION_RULES, ATTO, DataMode, Encryption, MAX_COMMITTEE_KEYS, MAX_EXAMPLES_PER_UPDATE,
    MAX_RULE_PARAMS, MAX_SCORES, MAX_TEXT_LEN, MICRO, RuleSpec, SCORE_RULES, TaskSpec,
};

use super::{LearningError, math};

/// Most rounds per task.
pub const MAX_ROUNDS: u32 = 1_000_000;
/// Most participants per round: [`MAX_SCORES`], the longest score vector a validator may reveal,
/// so every round's reveals can be scored (security review L6).
pub const MAX_PARTICIPANTS_PER_ROUND: u32 = MAX_SCORES as u32;
/// Smallest budget (`rounds × reward_per_round`) a task must escrow (security review H3: tasks
/// are not free to create).
pub const MIN_TASK_BUDGET: u128 = 1_000;
/// Most tasks that are not ended at once (active, paused or cancelling); `CreateTask` beyond it
/// is refused (security review H3).
pub const MAX_ACTIVE_TASKS: u64 = 256;
/// A task whose round cannot open (too few eligible participants for its quorum) retries at
/// most once every this many blocks (security review H3).
pub const OPEN_RETRY_BLOCKS: u64 = 10;
/// Participants whose registry reputation is below this are not selected (security review M4).
/// An accepted update earns +10, a missing reveal −5, a fault (mismatch or withheld reveal)
/// −50: two faults with no accepted work in between exclude a participant.
pub const MIN_REPUTATION: i64 = -100;
/// Longest phase, in blocks.
pub const MAX_PHASE_BLOCKS: u64 = 1_000_000;
/// Most shards assigned per round (participants × shards per participant): bounds the work of
/// the block hook that opens a round.
pub const MAX_ASSIGNED_SHARDS: u64 = 100_000;

fn valid_rule(r: &RuleSpec) -> bool {
    !r.id.is_empty()
        && r.id.len() <= 32
        && r.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && r.params.len() <= MAX_RULE_PARAMS
}

/// The most `num_examples` a participant holding `shards` assigned shards may reveal in a round
/// of a task with `spec` (security review H4): `max_examples` for private data, `max_examples ×
/// shards` for a shard pool.
pub fn examples_cap(spec: &TaskSpec, shards: usize) -> u64 {
    match spec.data {
        DataMode::Private => spec.max_examples,
        DataMode::ShardPool { .. } => spec.max_examples.saturating_mul(shards as u64),
    }
}

/// Validates a task spec (stateless). The budget is `rounds × reward_per_round`.
pub fn validate_spec(s: &TaskSpec) -> Result<Amount, LearningError> {
    use LearningError::InvalidSpec as E;
    if s.rounds == 0 || s.rounds > MAX_ROUNDS {
        return Err(E("rounds must be 1..=1000000"));
    }
    if s.participants_per_round == 0 || s.participants_per_round > MAX_PARTICIPANTS_PER_ROUND {
        return Err(E("participants_per_round must be 1..=4096 (MAX_SCORES)"));
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
    if budget < MIN_TASK_BUDGET {
        return Err(E("rounds × reward_per_round must be at least 1000"));
    }
    if s.max_examples == 0 {
        return Err(E("max_examples must be ≥ 1"));
    }
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
    match AGGREGATION_RULES.iter().find(|(id, _)| *id == s.aggregation.id) {
        None => {
            return Err(E(
                "unknown aggregation rule (see chorus_types::learning::AGGREGATION_RULES)",
            ));
        }
        Some((_, max)) if s.aggregation.params.len() > *max => {
            return Err(E("too many parameters for the aggregation rule"));
        }
        Some(_) => {}
    }
    if !SCORE_RULES.contains(&s.score_rule.id.as_str()) {
        return Err(E("unknown score rule (validity, loo or loss_delta)"));
    }
    if !s.score_rule.params.is_empty() {
        return Err(E("score rules take no parameters"));
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
        if s.max_examples.saturating_mul(u64::from(shards_per_participant))
            > MAX_EXAMPLES_PER_UPDATE
        {
            return Err(E("max_examples × shards_per_participant exceeds 2^20"));
        }
    } else if s.max_examples > MAX_EXAMPLES_PER_UPDATE {
        return Err(E("max_examples exceeds 2^20"));
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
