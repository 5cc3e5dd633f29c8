//! Global invariants, checked by tests (and optionally by nodes after each block).

use chorus_types::Amount;

use crate::components::{bank, staking};
use crate::state::StateRead;
use crate::state_key;

/// A violated invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantError {
    /// `supply ≠ Σ balances + Σ module pools`.
    #[error("supply {supply} != balances {balances} + module pools {modules}")]
    Supply {
        /// Recorded supply.
        supply: Amount,
        /// Σ account balances.
        balances: Amount,
        /// Σ module pools.
        modules: Amount,
    },
    /// `bonded pool ≠ Σ bonded validators' tokens`.
    #[error("bonded pool {pool} != sum of validator stakes {stakes}")]
    Bonded {
        /// Pool balance.
        pool: Amount,
        /// Σ stakes.
        stakes: Amount,
    },
    /// A staking / distribution / governance invariant (`docs/staking.md`) is violated.
    #[error("staking invariant: {0}")]
    Staking(String),
    /// A zero balance is stored (they must be deleted).
    #[error("zero balance stored at {0}")]
    ZeroStored(String),
    /// A value does not decode or a sum overflows.
    #[error("corrupt state: {0}")]
    Corrupt(String),
}

fn sum_amounts(state: &dyn StateRead, prefix: &[u8]) -> Result<Amount, InvariantError> {
    let mut total: Amount = 0;
    for (k, v) in state.scan_prefix(prefix).map_err(|e| InvariantError::Corrupt(e.to_string()))? {
        let a: Amount = borsh::from_slice(&v)
            .map_err(|_| InvariantError::Corrupt(String::from_utf8_lossy(&k).into_owned()))?;
        if a == 0 {
            return Err(InvariantError::ZeroStored(String::from_utf8_lossy(&k).into_owned()));
        }
        total = total.checked_add(a).ok_or_else(|| InvariantError::Corrupt("overflow".into()))?;
    }
    Ok(total)
}

/// Checks every invariant over the whole state (O(state) — for tests and audits).
pub fn check(state: &dyn StateRead) -> Result<(), InvariantError> {
    let supply = bank::supply(state).map_err(|e| InvariantError::Corrupt(e.to_string()))?;
    let balances = sum_amounts(state, state_key::BALANCE_PREFIX)?;
    let modules = sum_amounts(state, state_key::MODULE_PREFIX)?;
    if balances.checked_add(modules) != Some(supply) {
        return Err(InvariantError::Supply { supply, balances, modules });
    }
    let pool = bank::module_balance(state, bank::BONDED_POOL)
        .map_err(|e| InvariantError::Corrupt(e.to_string()))?;
    let mut stakes: Amount = 0;
    for v in staking::validators(state).map_err(|e| InvariantError::Corrupt(e.to_string()))? {
        if v.status == staking::BondStatus::Bonded {
            stakes = stakes
                .checked_add(v.tokens)
                .ok_or_else(|| InvariantError::Corrupt("overflow".into()))?;
        }
    }
    if pool != stakes {
        return Err(InvariantError::Bonded { pool, stakes });
    }
    staking::check_invariants(state).map_err(InvariantError::Staking)
}
