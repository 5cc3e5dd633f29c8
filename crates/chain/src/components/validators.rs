//! The validator set handed to consensus and voting power.
//!
//! The staking component ([`crate::components::staking`]) owns validators, their stake and the
//! active set; this module keeps the power rule (`power = tokens / power_reduction`) and
//! [`validator_set`]'s contract: sorted by power descending, then consensus key ascending.

use chorus_types::{Amount, ValidatorInfo, ValidatorParams};

use crate::TxError;
use crate::codec::read;
use crate::state::StateRead;
use crate::state_key;

/// Largest total voting power (Tendermint keeps total power well inside `i64`).
pub const MAX_TOTAL_POWER: u64 = 1 << 60;

/// Validator-set parameters (defaults if absent).
pub fn params(state: &dyn StateRead) -> Result<ValidatorParams, TxError> {
    Ok(read::<ValidatorParams>(state, state_key::PARAMS_VALIDATORS)?.unwrap_or_default())
}

/// Voting power of `stake`: `stake / power_reduction`, saturating at `u64::MAX`.
pub fn power_of(stake: Amount, params: &ValidatorParams) -> u64 {
    let p = stake.checked_div(params.power_reduction).unwrap_or(0);
    u64::try_from(p).unwrap_or(u64::MAX)
}

/// The active validator set (computed by staking at the end of every block): bonded validators
/// with their power, sorted by power descending, then by consensus key ascending.
pub fn validator_set(state: &dyn StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    crate::components::staking::validator_set(state)
}
