//! Differential privacy: per-update L2 clipping, seeded Gaussian noise and an RDP accountant for the
//! subsampled Gaussian mechanism whose spent budget is integer ledger state.
//!
//! # Determinism
//! Noise comes from ChaCha20 ([`rand_chacha::ChaCha20Rng`]) seeded with a 32-byte seed (from the
//! ledger). Normal variates use Marsaglia's polar method, which needs only `ln` and `sqrt`. `sqrt`,
//! `+ − × ÷` are correctly rounded IEEE-754 operations in Rust (no implicit FMA contraction), and `ln`
//! / `exp` are implemented here ([`det_ln`], [`det_exp`]) from those operations only — so, unlike
//! libm's transcendental functions, every platform computes the same bits. The noisy value is then
//! rounded half away from zero into the fixed-point domain. The accountant uses the same functions, and
//! its decision compares ε rounded *up* to millionths, so the budget check is reproducible.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::fixed::{Micros, div_round, sat_i32};
use crate::{Error, Update};

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// Natural logarithm from basic IEEE operations only (bit-reproducible). `x ≤ 0` → −∞, NaN → NaN.
pub fn det_ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= 18014398509481984.0; // 2^54
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln m = 2 atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    let ef = e as f64;
    ef * LN2_HI + (ef * LN2_LO + 2.0 * sum)
}

/// Exponential from basic IEEE operations only (bit-reproducible).
pub fn det_exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    let k = (x / std::f64::consts::LN_2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Taylor series, |r| ≤ 0.35.
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut i = 1.0;
    while i < 24.0 {
        term = term * r / i;
        sum += term;
        i += 1.0;
    }
    // Multiply by 2^k in two steps so subnormal results work.
    let k = k as i64;
    let (k1, k2) = (k / 2, k - k / 2);
    sum * f64::from_bits(((k1 + 1023) as u64) << 52) * f64::from_bits(((k2 + 1023) as u64) << 52)
}

/// Deterministic standard-normal sampler (ChaCha20 + Marsaglia polar method).
pub struct GaussianSampler {
    rng: rand_chacha::ChaCha20Rng,
    spare: Option<f64>,
}

impl GaussianSampler {
    /// Seeds the sampler.
    pub fn new(seed: [u8; 32]) -> Self {
        Self { rng: rand_chacha::ChaCha20Rng::from_seed(seed), spare: None }
    }
    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / 9007199254740992.0)
    }
    /// Raw 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
    /// One N(0, 1) variate.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * det_ln(s) / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

/// Clips `u` to L2 norm `max_norm` in place (exact integer test; scale factor `max/⌈‖u‖⌉`, rounded
/// half away). Returns whether it was clipped.
pub fn clip_update(u: &mut Update, max_norm: Micros) -> bool {
    let max_q = max_norm.to_fixed(u.scale).max(0);
    let n2 = u.norm_sq();
    if n2 <= (max_q * max_q) as u128 {
        return false;
    }
    let den = crate::agg::ceil_sqrt_pub(n2) as i128;
    for x in &mut u.values {
        *x = sat_i32(div_round(*x as i128 * max_q, den));
    }
    true
}

/// Adds N(0, std²) noise (std in real units) to every value, deterministically from `seed`.
pub fn add_gaussian_noise(u: &mut Update, std: Micros, seed: [u8; 32]) {
    let std_q = std.as_f64() * u.scale.factor();
    let mut g = GaussianSampler::new(seed);
    for x in &mut u.values {
        let z = (g.standard_normal() * std_q).round();
        *x = sat_i32(*x as i128 + z.clamp(-4e18, 4e18) as i128);
    }
}

/// DP-FedAvg release of a sum of clipped updates: adds N(0, (z·C)²) to the *sum*; divide by the
/// number of clients afterwards. `noise_multiplier` = z, `clip` = C.
pub fn noise_sum(sum: &mut Update, clip: Micros, noise_multiplier: Micros, seed: [u8; 32]) {
    let std = Micros(((clip.0 as u128 * noise_multiplier.0 as u128) / 1_000_000) as u64);
    add_gaussian_noise(sum, std, seed)
}

/// RDP orders α used by the accountant.
pub const ORDERS: &[u32] = &[
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128,
    192, 256,
];

fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY { hi } else { hi + det_ln(1.0 + det_exp(lo - hi)) }
}

/// RDP at integer order `alpha ≥ 2` of the Poisson-subsampled Gaussian mechanism with sampling rate
/// `q` and noise multiplier `sigma` (Mironov, Talwar, Zhang 2019, integer-α closed form).
pub fn rdp_subsampled_gaussian(q: f64, sigma: f64, alpha: u32) -> f64 {
    if q <= 0.0 {
        return 0.0;
    }
    if sigma <= 0.0 {
        return f64::INFINITY;
    }
    let a = alpha as f64;
    if q >= 1.0 {
        return a / (2.0 * sigma * sigma);
    }
    let (lq, l1q) = (det_ln(q), det_ln(1.0 - q));
    let mut log_a = f64::NEG_INFINITY;
    let mut log_binom = 0.0;
    for k in 0..=alpha {
        let kf = k as f64;
        if k > 0 {
            log_binom += det_ln((a - kf + 1.0) / kf);
        }
        let t = log_binom + kf * lq + (a - kf) * l1q + (kf * kf - kf) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, t);
    }
    log_a / (a - 1.0)
}

/// ε for `δ` from RDP values at [`ORDERS`]: `min_α rdp(α) + ln(1/δ)/(α−1)`.
pub fn epsilon_from_rdp(rdp: &[f64], delta: f64) -> f64 {
    ORDERS
        .iter()
        .zip(rdp)
        .map(|(&a, &r)| r + det_ln(1.0 / delta) / (a as f64 - 1.0))
        .fold(f64::INFINITY, f64::min)
}

/// One privacy-consuming release: `steps` rounds at sampling rate `q` with noise multiplier `z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Client sampling rate q.
    pub sample_rate: Micros,
    /// Noise multiplier z (noise std / clipping norm).
    pub noise_multiplier: Micros,
    /// Number of rounds.
    pub steps: u64,
}

/// Privacy ledger: integer state (budget and spent ε in millionths, δ in 10⁻¹²) plus the releases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accountant {
    /// Total ε budget, millionths.
    pub budget_micro_eps: u64,
    /// δ in units of 10⁻¹².
    pub delta_pico: u64,
    /// ε spent so far (rounded up), millionths.
    pub spent_micro_eps: u64,
    /// Releases composed so far.
    pub releases: Vec<Release>,
}

impl Accountant {
    /// A fresh ledger.
    pub fn new(budget_eps: Micros, delta_pico: u64) -> Self {
        Self {
            budget_micro_eps: budget_eps.0,
            delta_pico: delta_pico.max(1),
            spent_micro_eps: 0,
            releases: Vec::new(),
        }
    }

    /// ε (millionths, rounded up) after composing the recorded releases plus `extra`.
    pub fn epsilon_micro(&self, extra: Option<&Release>) -> u64 {
        let mut rdp = vec![0.0f64; ORDERS.len()];
        for r in self.releases.iter().chain(extra) {
            for (acc, &a) in rdp.iter_mut().zip(ORDERS) {
                *acc += r.steps as f64
                    * rdp_subsampled_gaussian(
                        r.sample_rate.as_f64(),
                        r.noise_multiplier.as_f64(),
                        a,
                    );
            }
        }
        if self.releases.is_empty() && extra.is_none() {
            return 0;
        }
        let eps = epsilon_from_rdp(&rdp, self.delta_pico as f64 * 1e-12);
        if eps.is_finite() { (eps * 1e6).ceil().min(u64::MAX as f64) as u64 } else { u64::MAX }
    }

    /// Records `r` if the resulting ε stays within budget; otherwise refuses and leaves the ledger
    /// unchanged. Returns the new spent ε (millionths).
    pub fn spend(&mut self, r: Release) -> Result<u64, Error> {
        let would_be = self.epsilon_micro(Some(&r));
        if would_be > self.budget_micro_eps {
            return Err(Error::BudgetExceeded {
                would_be_micro_eps: would_be,
                budget_micro_eps: self.budget_micro_eps,
            });
        }
        self.releases.push(r);
        self.spent_micro_eps = would_be;
        Ok(would_be)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedScale, ModelSpec};

    #[test]
    fn det_ln_and_exp_match_libm_closely() {
        for &x in &[1e-300, 1e-10, 0.001, 0.5, 0.999, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300] {
            assert!((det_ln(x) - x.ln()).abs() <= 1e-15 * x.ln().abs().max(1.0), "{x}");
        }
        for &x in &[-700.0, -20.0, -1.0, -1e-9, 0.0, 0.3, 1.0, 5.5, 100.0, 700.0] {
            assert!((det_exp(x) - x.exp()).abs() <= 1e-14 * x.exp(), "{x}");
        }
    }

    #[test]
    fn gaussian_noise_is_seeded_and_has_the_right_moments() {
        let spec = ModelSpec::flat(20000);
        let mut a = Update::zeros(std::sync::Arc::new(spec), FixedScale::default());
        let mut b = a.clone();
        add_gaussian_noise(&mut a, Micros::from_int(2), [7; 32]);
        add_gaussian_noise(&mut b, Micros::from_int(2), [7; 32]);
        assert_eq!(a, b);
        let v = a.to_f64();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.06, "{mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "{var}");
        let mut c = Update::zeros(a.spec.clone(), a.scale);
        add_gaussian_noise(&mut c, Micros::from_int(2), [8; 32]);
        assert_ne!(a, c);
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut u =
            Update::from_f32(&ModelSpec::flat(2), &[30.0, 40.0], FixedScale::default()).unwrap();
        assert!(clip_update(&mut u, Micros::from_int(5)));
        assert!(u.norm_sq() <= (5u128 << 16).pow(2));
        assert!(!clip_update(&mut u, Micros::from_int(5)));
    }

    #[test]
    fn rdp_of_full_batch_gaussian_matches_closed_form() {
        // q = 1, σ = 1, δ = 1e-5: ε = min_α α/2 + ln(1e5)/(α−1) = 3 + ln(1e5)/5 at α = 6.
        let rdp: Vec<f64> = ORDERS.iter().map(|&a| rdp_subsampled_gaussian(1.0, 1.0, a)).collect();
        let eps = epsilon_from_rdp(&rdp, 1e-5);
        assert!((eps - (3.0 + 1e5f64.ln() / 5.0)).abs() < 1e-12, "{eps}");
        // Subsampling amplifies privacy.
        assert!(
            rdp_subsampled_gaussian(0.01, 1.0, 8) < rdp_subsampled_gaussian(1.0, 1.0, 8) / 50.0
        );
    }

    #[test]
    fn accountant_refuses_over_budget_releases() {
        let mut acc = Accountant::new(Micros::from_int(3), 10_000_000); // ε ≤ 3, δ = 1e-5
        let r = Release {
            sample_rate: Micros(10_000),
            noise_multiplier: Micros(1_100_000),
            steps: 100,
        };
        let first = acc.spend(r).unwrap();
        assert!(first > 0 && first <= 3_000_000);
        let mut spent = first;
        loop {
            match acc.spend(r) {
                Ok(s) => {
                    assert!(s > spent);
                    spent = s;
                }
                Err(Error::BudgetExceeded { would_be_micro_eps, budget_micro_eps }) => {
                    assert!(would_be_micro_eps > budget_micro_eps);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        let before = acc.clone();
        assert!(acc.spend(r).is_err());
        assert_eq!(acc, before);
        assert!(acc.spent_micro_eps <= 3_000_000);
    }
}
