//! Validation of the protocol parameters ([`validate_params`]), used at genesis, when a
//! governance proposal is submitted and again when a passed proposal is executed. Each field is
//! checked on its own, then against the others (L9): a combination that is fine field by field
//! but unsafe together (an unbonding period shorter than the evidence window, an active set
//! larger than the candidate cap, …) is refused as a whole.

use chorus_types::staking::{Dec, MIN_BLOCK_TIME_MS};

/// Validates every parameter set of `p`: ranges first, then the cross-constraints.
pub fn validate_params(p: &chorus_types::Params) -> Result<(), &'static str> {
    validate_fields(p)?;
    validate_cross(p)
}

fn validate_fields(p: &chorus_types::Params) -> Result<(), &'static str> {
    if p.staking.max_validators == 0 {
        return Err("staking.max_validators must be positive");
    }
    if p.staking.max_entries == 0 {
        return Err("staking.max_entries must be positive");
    }
    if p.staking.min_commission_rate > Dec::ONE {
        return Err("staking.min_commission_rate above 1");
    }
    if p.staking.min_self_delegation == 0 {
        return Err("staking.min_self_delegation must be positive");
    }
    if p.slashing.signed_blocks_window == 0 {
        return Err("slashing.signed_blocks_window must be positive");
    }
    let s = &p.slashing;
    if [
        s.min_signed_per_window,
        s.slash_fraction_double_sign,
        s.slash_fraction_downtime,
        s.slash_fraction_fault,
    ]
    .iter()
    .any(|d| *d > Dec::ONE)
    {
        return Err("slashing fractions must be at most 1");
    }
    if p.distribution.community_tax > Dec::ONE {
        return Err("distribution.community_tax above 1");
    }
    let g = &p.gov;
    if [g.quorum, g.threshold, g.veto_threshold].iter().any(|d| *d > Dec::ONE) {
        return Err("gov thresholds must be at most 1");
    }
    if g.min_deposit == 0 {
        return Err("gov.min_deposit must be positive");
    }
    if g.min_initial_deposit_ratio < Dec(Dec::SCALE / 100) || g.min_initial_deposit_ratio > Dec::ONE
    {
        // Below 1 % a proposal could be opened (and the active-proposal cap filled) for almost
        // nothing, and a proposal could collect unboundedly many tiny deposits.
        return Err("gov.min_initial_deposit_ratio must be between 0.01 and 1");
    }
    if g.max_active_proposals == 0 {
        return Err("gov.max_active_proposals must be positive");
    }
    if g.voting_period_ms == 0 || g.max_deposit_period_ms == 0 {
        return Err("gov periods must be positive");
    }
    if p.validators.power_reduction == 0 {
        return Err("validators.power_reduction must be positive");
    }
    if p.registry.min_bond == 0 {
        return Err("registry.min_bond must be positive");
    }
    if p.registry.slash_bps > 10_000 {
        return Err("registry.slash_bps above 10000");
    }
    Ok(())
}

/// The cross-constraints between parameter sets (L9).
fn validate_cross(p: &chorus_types::Params) -> Result<(), &'static str> {
    // Double-sign evidence is accepted for `max_evidence_age_blocks` blocks; blocks are at least
    // MIN_BLOCK_TIME_MS apart, so that window lasts at least this long. A double-signer whose
    // stake finished unbonding before that could no longer be slashed.
    let evidence_ms = p.slashing.max_evidence_age_blocks.saturating_mul(MIN_BLOCK_TIME_MS);
    if p.staking.unbonding_time_ms <= evidence_ms {
        return Err("staking.unbonding_time_ms must exceed the time slashing.\
                    max_evidence_age_blocks covers at the minimum block time");
    }
    if p.staking.max_candidates < p.staking.max_validators {
        return Err("staking.max_candidates must be at least staking.max_validators");
    }
    // A validator at the minimum self-delegation must have voting power.
    if p.staking.min_self_delegation < p.validators.power_reduction {
        return Err("staking.min_self_delegation must be at least validators.power_reduction");
    }
    // A yes share of 0 would pass anything with quorum; a veto share of 0 would veto anything.
    if p.gov.threshold == Dec::ZERO || p.gov.veto_threshold == Dec::ZERO {
        return Err("gov.threshold and gov.veto_threshold must be positive");
    }
    Ok(())
}
