//! Pure, integer-only protocol math shared by the chain, the off-chain validator worker and the
//! auditor: round seeds, stake-weighted selection, shard assignment, weighted medians, Yuma-style
//! clipping, accepted sets, reward splits and DP accounting. No state, no floats
//! (`docs/learning.md` specifies every function).
//!
//! The rules live in their own files, by subject — `selection.rs` (round seed, participant
//! selection, shards), `scoring.rs` (medians, clipping, accepted set), `rewards.rs` (reward
//! split), `dp.rs` (ε accounting) and `fixed.rs` (Q64 logarithms, wide products) — and this module
//! re-exports them under their established paths (`learning::math::split_rewards`, …).

pub use super::dp::{MAX_ORDER, dp_epsilon_micro, ln_inv_delta_micro};
pub use super::fixed::{ln_q64, log2_q64, mul_div, wide_mul};
pub use super::rewards::{RewardSplit, split_rewards};
pub use super::scoring::{
    AcceptedUpdate, Consensus, PPM, RevealedUpdate, accepted_set, accepted_set_hash, consensus,
    weighted_median,
};
pub use super::selection::{exp_variate_q64, round_seed, select, shard_assignment, ticket};
