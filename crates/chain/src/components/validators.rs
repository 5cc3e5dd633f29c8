//! The validator set: genesis validators and the voting power handed to consensus.
//!
//! A placeholder for the staking component: records are written at genesis only, and the active
//! set is every record with non-zero power. Staking replaces the record writes (bond, unbond,
//! jail, slash) and keeps [`validator_set`]'s contract: sorted by power descending, then consensus
//! key ascending.

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::{Address, Amount, ConsensusKeyBytes, ValidatorInfo, ValidatorParams};

use crate::TxError;
use crate::codec::read;
use crate::state::StateRead;
use crate::state_key;

/// Largest total voting power (Tendermint keeps total power well inside `i64`).
pub const MAX_TOTAL_POWER: u64 = 1 << 60;

/// A validator as stored at `validators/<operator>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorRecord {
    /// Operator account.
    pub operator: Address,
    /// ed25519 consensus public key.
    pub consensus_key: ConsensusKeyBytes,
    /// Bonded tokens (held in the `bonded` module pool).
    pub stake: Amount,
}

/// Validator-set parameters (defaults if absent).
pub fn params(state: &dyn StateRead) -> Result<ValidatorParams, TxError> {
    Ok(read::<ValidatorParams>(state, state_key::PARAMS_VALIDATORS)?.unwrap_or_default())
}

/// Voting power of `stake`: `stake / power_reduction`, saturating at `u64::MAX`.
pub fn power_of(stake: Amount, params: &ValidatorParams) -> u64 {
    let p = stake.checked_div(params.power_reduction).unwrap_or(0);
    u64::try_from(p).unwrap_or(u64::MAX)
}

/// All validator records, by operator address.
pub fn records(state: &dyn StateRead) -> Result<Vec<ValidatorRecord>, TxError> {
    state
        .scan_prefix(state_key::VALIDATOR_PREFIX)
        .into_iter()
        .map(|(k, v)| borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k)))
        .collect()
}

/// The active validator set: records with non-zero power, sorted by power descending, then by
/// consensus key ascending.
pub fn validator_set(state: &dyn StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    let params = params(state)?;
    let mut set: Vec<ValidatorInfo> = records(state)?
        .into_iter()
        .map(|r| ValidatorInfo {
            consensus_key: r.consensus_key,
            power: power_of(r.stake, &params),
            operator: r.operator,
        })
        .filter(|v| v.power > 0)
        .collect();
    set.sort_by(|a, b| b.power.cmp(&a.power).then(a.consensus_key.cmp(&b.consensus_key)));
    Ok(set)
}
