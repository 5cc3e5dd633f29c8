//! Integration tests of the chain: three-phase checks, block execution, genesis, invariants.
#![allow(clippy::unwrap_used)]

mod costs;
mod execute;
mod genesis;
mod golden_state;
mod last_commit;
mod learning;
mod learning_attacks;
mod learning_support;
mod props;
mod staking;
mod stateless;
mod storage_failure;
mod support;
