//! Voting power (folded in from the former `components/validators.rs`): the power rule
//! (`power = tokens / power_reduction`, [`power_of`]), the validator-set parameters that hold
//! `power_reduction` ([`power_params`]), and the cap on total power ([`MAX_TOTAL_POWER`]). The
//! set itself is [`super::validator_set`]: sorted by power descending, then consensus key
//! ascending.

use chorus_types::{Amount, ValidatorParams};

use crate::TxError;
use crate::codec::read;
use crate::state::StateRead;
use crate::state_key;

/// Largest total voting power (Tendermint keeps total power well inside `i64`).
pub const MAX_TOTAL_POWER: u64 = 1 << 60;

/// Validator-set parameters (defaults if absent).
pub fn power_params(state: &dyn StateRead) -> Result<ValidatorParams, TxError> {
    Ok(read::<ValidatorParams>(state, state_key::PARAMS_VALIDATORS)?.unwrap_or_default())
}

/// Voting power of `stake`: `stake / power_reduction`, saturating at `u64::MAX`.
pub fn power_of(stake: Amount, params: &ValidatorParams) -> u64 {
    let p = stake.checked_div(params.power_reduction).unwrap_or(0);
    u64::try_from(p).unwrap_or(u64::MAX)
}
