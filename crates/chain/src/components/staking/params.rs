//! Validation of the staking, slashing, distribution, governance and validator-set parameters
//! ([`validate_params`]), used at genesis and by governance before a parameter change applies.

use chorus_types::staking::Dec;

/// Validates staking/slashing/distribution/gov parameters.
pub fn validate_params(p: &chorus_types::Params) -> Result<(), &'static str> {
    if p.staking.max_validators == 0 {
        return Err("staking.max_validators must be positive");
    }
    if p.staking.max_entries == 0 {
        return Err("staking.max_entries must be positive");
    }
    if p.staking.min_commission_rate > Dec::ONE {
        return Err("staking.min_commission_rate above 1");
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
    if p.validators.power_reduction == 0 {
        return Err("validators.power_reduction must be positive");
    }
    Ok(())
}
