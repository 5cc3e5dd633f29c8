//! Differential-privacy accounting: `ln(1/δ)` in micro-units and the ε spent after a number of
//! releases of the subsampled Gaussian mechanism, by an integer RDP accountant over the orders
//! `2..=MAX_ORDER`. The chain uses it to refuse specs whose budget cannot cover one round and to
//! stop a task before a round would exceed its budget.

use chorus_types::learning::{DpSettings, MICRO};

use super::fixed::{LN2_Q64, log2_q64, mul_q64};

/// Largest DP order α tried by the accountant (orders `2..=MAX_ORDER`).
pub const MAX_ORDER: u64 = 256;

/// `ln(1/δ)` in micro-units, rounded up, for `δ = delta_atto / 10^18`.
pub fn ln_inv_delta_micro(delta_atto: u64) -> u64 {
    let l2 = log2_q64(u128::from(chorus_types::learning::ATTO))
        .saturating_sub(log2_q64(u128::from(delta_atto.max(1))));
    let ln = mul_q64(l2, LN2_Q64);
    // +1 covers the truncation of the fixed-point logarithms.
    (((ln * u128::from(MICRO)) >> 64) + 1) as u64
}

/// ε (micro-units, rounded up) spent after `rounds` releases of the subsampled Gaussian
/// mechanism, by the RDP accountant over integer orders `α ∈ 2..=256`:
/// `ε = min_α ( rounds · ρ(α) + ln(1/δ) / (α − 1) )`, with
/// `ρ(α) = α · min(1/2, 2q²) / σ²` (the plain Gaussian bound `α/(2σ²)`, or the small-q
/// subsampling bound `2q²α/σ²` when smaller). Zero rounds cost zero.
pub fn dp_epsilon_micro(dp: &DpSettings, rounds: u64) -> u64 {
    if rounds == 0 {
        return 0;
    }
    let sigma = u128::from(dp.noise_multiplier_micro.max(1));
    let q = u128::from(dp.sample_rate_micro.min(MICRO));
    let m = (2 * q * q).min(500_000_000_000); // min(2q², 1/2) in units of 1e-12
    let ln_inv = u128::from(ln_inv_delta_micro(dp.delta_atto));
    let mut best = u128::MAX;
    for alpha in 2..=u128::from(MAX_ORDER) {
        // rounds · α · m · 1e-12 / (σ_u² · 1e-12) in micro-units.
        let num = u128::from(rounds)
            .saturating_mul(alpha)
            .saturating_mul(m)
            .saturating_mul(u128::from(MICRO));
        let rdp = num.div_ceil(sigma * sigma);
        let conv = ln_inv.div_ceil(alpha - 1);
        best = best.min(rdp.saturating_add(conv));
    }
    u64::try_from(best).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_epsilon_grows_with_rounds_and_matches_closed_form() {
        let dp = DpSettings {
            epsilon_budget_micro: 10 * MICRO,
            delta_atto: 10_000_000_000_000, // 1e-5
            noise_multiplier_micro: MICRO,  // σ = 1
            sample_rate_micro: MICRO,       // q = 1 → ρ(α) = α/2
        };
        // Gaussian, T = 1: min_α α/2 + ln(1e5)/(α−1); ln(1e5) = 11.5129 → α = 6: 3 + 2.3026.
        let e1 = dp_epsilon_micro(&dp, 1);
        assert!((5_302_000..5_303_000).contains(&e1), "{e1}");
        assert!(dp_epsilon_micro(&dp, 2) > e1);
        assert_eq!(dp_epsilon_micro(&dp, 0), 0);
    }
}
