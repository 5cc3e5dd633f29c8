//! The staking, distribution and governance invariants ([`check_invariants`], `docs/staking.md`):
//! pool balances match validators' tokens and entries, shares match delegations, rewards owed
//! stay within what is outstanding, and reward counters balance. Governance's own checks run
//! last.

use std::collections::BTreeSet;

use chorus_types::{Address, Amount};

use super::distribution::pending_rewards;
use super::helpers::{power_key, validator_count};
use super::keys;
use super::power::power_params;
use super::query::validator_set;
use super::query::{
    all_delegations, all_unbondings, community_pool, reward_totals, validator_rewards, validators,
};
use super::types::{BondStatus, Validator};
use super::{BONDED_POOL, DISTRIBUTION_POOL, NOT_BONDED_POOL};
use crate::TxError;
use crate::components::{bank, gov};
use crate::state::StateRead;

/// The power index holds exactly the non-jailed validators with power > 0; the validator count
/// is the number of records; the Bonded validators are exactly the stored set; every Unbonding
/// validator is in the validator queue at its completion time.
fn check_indexes(state: &dyn StateRead, vals: &[Validator]) -> Result<(), String> {
    let e = |x: TxError| x.to_string();
    let pr = power_params(state).map_err(e)?;
    let want: BTreeSet<Vec<u8>> = vals.iter().filter_map(|v| power_key(v, &pr)).collect();
    let have: BTreeSet<Vec<u8>> = state
        .scan_prefix(keys::POWER)
        .map_err(|x| x.to_string())?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    if want != have {
        return Err(format!("power index has {} keys, validators need {}", have.len(), want.len()));
    }
    let count = validator_count(state).map_err(e)?;
    if count as usize != vals.len() {
        return Err(format!("validator count {count} != {} records", vals.len()));
    }
    let bonded: BTreeSet<Address> =
        vals.iter().filter(|v| v.status == BondStatus::Bonded).map(|v| v.operator).collect();
    let set: BTreeSet<Address> =
        validator_set(state).map_err(e)?.iter().map(|s| s.operator).collect();
    if bonded != set {
        return Err(format!("{} bonded validators but {} in the set", bonded.len(), set.len()));
    }
    for v in vals.iter().filter(|v| v.status == BondStatus::Unbonding) {
        if state
            .get(&keys::val_queue(v.unbonding_time_ms, &v.operator))
            .map_err(|x| x.to_string())?
            .is_none()
        {
            return Err(format!("unbonding validator {} not in the validator queue", v.operator));
        }
    }
    Ok(())
}

/// Checks the staking, distribution and governance invariants (`docs/staking.md`).
pub fn check_invariants(state: &dyn StateRead) -> Result<(), String> {
    let e = |x: TxError| x.to_string();
    let vals = validators(state).map_err(e)?;
    let bonded: Amount =
        vals.iter().filter(|v| v.status == BondStatus::Bonded).map(|v| v.tokens).sum();
    let pool = bank::module_balance(state, BONDED_POOL).map_err(e)?;
    if pool != bonded {
        return Err(format!("bonded pool {pool} != bonded validators' tokens {bonded}"));
    }
    let not_bonded: Amount =
        vals.iter().filter(|v| v.status != BondStatus::Bonded).map(|v| v.tokens).sum();
    let entries: Amount = all_unbondings(state)
        .map_err(e)?
        .iter()
        .flat_map(|(_, _, es)| es.iter().map(|x| x.balance))
        .sum();
    let nb = bank::module_balance(state, NOT_BONDED_POOL).map_err(e)?;
    if nb != not_bonded + entries {
        return Err(format!(
            "not-bonded pool {nb} != unbonding/unbonded tokens {not_bonded} + entries {entries}"
        ));
    }
    let dels = all_delegations(state).map_err(e)?;
    for v in &vals {
        let s: Amount =
            dels.iter().filter(|(_, val, _)| *val == v.operator).map(|(_, _, d)| d.shares).sum();
        if s != v.shares {
            return Err(format!("validator {} shares {} != delegations {s}", v.operator, v.shares));
        }
    }
    for (d, v, del) in &dels {
        if del.shares == 0 {
            return Err(format!("zero delegation {d} -> {v}"));
        }
        if !vals.iter().any(|x| x.operator == *v) {
            return Err(format!("delegation {d} -> unknown validator {v}"));
        }
    }
    let mut outstanding: Amount = 0;
    for v in &vals {
        let vr = validator_rewards(state, &v.operator).map_err(e)?;
        if vr.commission > vr.outstanding {
            return Err(format!("validator {} commission above outstanding", v.operator));
        }
        outstanding += vr.outstanding;
        let mut owed: Amount = 0;
        for (d, _, _) in dels.iter().filter(|(_, val, _)| *val == v.operator) {
            owed += pending_rewards(state, d, &v.operator).map_err(e)?;
        }
        if owed > vr.outstanding - vr.commission {
            return Err(format!(
                "validator {} owes {owed} > outstanding {}",
                v.operator,
                vr.outstanding - vr.commission
            ));
        }
    }
    check_indexes(state, &vals)?;
    let community = community_pool(state).map_err(e)?;
    let dist = bank::module_balance(state, DISTRIBUTION_POOL).map_err(e)?;
    if dist != outstanding + community {
        return Err(format!(
            "distribution pool {dist} != outstanding {outstanding} + community {community}"
        ));
    }
    let t = reward_totals(state).map_err(e)?;
    if t.minted + t.fees != t.paid + dist {
        return Err(format!(
            "rewards minted {} + fees {} != paid {} + distribution pool {dist}",
            t.minted, t.fees, t.paid
        ));
    }
    gov::check_invariants(state)
}
