//! Staking, slashing and F1 reward distribution (Cosmos SDK x/staking, x/slashing,
//! x/distribution semantics; `docs/staking.md`). Governance is its own component,
//! [`crate::components::gov`] (re-exported here as [`gov`] so old paths keep working).
//!
//! - Validators hold `tokens` and issue `shares`; a delegation owns shares, worth
//!   `shares × tokens / total shares` (rounded down). Slashing lowers `tokens` only.
//! - Bonded validators' tokens sit in the `bonded` pool; everybody else's, and every unbonding
//!   entry, in `not_bonded`. The active set (top `max_validators` by power, not jailed) is
//!   recomputed in `end_block`; [`validator_set`] returns it.
//! - Rewards: `block_reward` is minted into the `distribution` pool every block and joined by the
//!   fees the bank collected since the last block; both are taxed for the community pool and
//!   split by power over the previous block's set; per validator the
//!   commission is set aside and the rest accrues to delegators lazily (F1 periods, replayed
//!   across slashes).
//! - Liveness from `BlockContext::last_commit`, double-sign evidence ([`handle_evidence`]),
//!   objective faults from other components ([`handle_fault`]).
//!
//! # Layout
//! - `error.rs`: [`StakingError`]; `types.rs`: the stored records; `keys.rs`: their state keys;
//! - `query.rs`: read-only accessors; `power.rs`: the voting-power rule;
//! - `distribution.rs`: F1 rewards; `delegation.rs`: delegate / unbond and share arithmetic;
//! - `slashing.rs`: slash, jail, evidence, faults, liveness; `hooks.rs`: `begin_block` /
//!   `end_block` (queues, validator-set update);
//! - `msg.rs`: the `StakingMsg` checks and handlers; `params.rs`: [`validate_params`];
//!   `genesis.rs`: `init_genesis`; `invariants.rs`: [`check_invariants`];
//! - `helpers.rs`: small write / event helpers shared by the above.

mod delegation;
mod distribution;
mod error;
mod genesis;
mod helpers;
mod hooks;
mod invariants;
pub(crate) mod keys;
mod msg;
mod params;
mod power;
mod query;
mod slashing;
mod types;

/// Governance moved to [`crate::components::gov`]; this keeps `staking::gov::…` paths working.
pub use crate::components::gov;

pub use distribution::pending_rewards;
pub use error::StakingError;
pub(crate) use genesis::init_genesis;
pub(crate) use hooks::{begin_block, end_block};
pub use invariants::check_invariants;
pub(crate) use msg::{check_stateful, check_stateless, execute, spend};
pub use params::validate_params;
pub use power::{MAX_TOTAL_POWER, power_of, power_params};
pub use query::{
    all_delegations, community_pool, delegation, delegations_of, distribution_params,
    previous_validator_set, redelegations_of, reward_totals, signing_info, slashing_params,
    staking_params, unbondings_of, validator, validator_by_consensus_key, validator_rewards,
    validator_set, validators,
};
pub use slashing::{handle_evidence, handle_fault, slash};
pub use types::{
    BondStatus, Commission, Delegation, RedelegationEntry, RewardTotals, SigningInfo, StartInfo,
    UnbondingEntry, Validator, ValidatorRewards,
};

use crate::components::bank;

/// Pool of bonded validators' tokens.
pub const BONDED_POOL: &str = bank::BONDED_POOL;
/// Pool of unbonding/unbonded validators' tokens and unbonding entries.
pub const NOT_BONDED_POOL: &str = "not_bonded";
/// Pool of undistributed rewards, commission and the community pool.
pub const DISTRIBUTION_POOL: &str = "distribution";
/// `jailed_until` of a tombstoned validator (never).
pub const JAILED_FOREVER: u64 = u64::MAX;
