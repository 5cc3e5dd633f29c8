//! Attack generators for tests and benchmarks: functions producing malicious [`Update`]s from honest
//! ones, seeded and deterministic (integer arithmetic; Gaussian noise via [`crate::dp`]).

use crate::Update;
use crate::dp::GaussianSampler;
use crate::fixed::{Micros, div_round, sat_i32};

fn map(u: &Update, f: impl Fn(i32) -> i32) -> Update {
    Update {
        spec: u.spec.clone(),
        scale: u.scale,
        values: u.values.iter().map(|&x| f(x)).collect(),
    }
}

fn scale_by(x: i128, k: Micros) -> i32 {
    sat_i32(div_round(x * k.0 as i128, 1_000_000))
}

/// Sign flip: `−k · u`.
pub fn sign_flip(u: &Update, k: Micros) -> Update {
    map(u, |x| scale_by(-(x as i128), k))
}

/// Scaled update (model replacement / boosting, Bagdasaryan et al.): `γ · u`.
pub fn scaled(u: &Update, gamma: Micros) -> Update {
    map(u, |x| scale_by(x as i128, gamma))
}

/// Gaussian attack: pure N(0, std²) noise of the same shape as `like`.
pub fn gaussian(like: &Update, std: Micros, seed: [u8; 32]) -> Update {
    let mut u = Update::zeros(like.spec.clone(), like.scale);
    crate::dp::add_gaussian_noise(&mut u, std, seed);
    u
}

/// Free rider: submits a copy of someone else's update (or of the global model delta).
pub fn free_rider(copied: &Update) -> Update {
    copied.clone()
}

/// Sybil duplicates: `k` identical copies of `u`.
pub fn sybil(u: &Update, k: usize) -> Vec<Update> {
    vec![u.clone(); k]
}

/// Per-coordinate mean and (population) standard deviation of honest updates (exact integer mean,
/// floor integer sqrt of the variance). Panics never; empty input gives zeros.
pub fn mean_std(honest: &[Update]) -> (Vec<i32>, Vec<i32>) {
    let n = honest.len().max(1) as i128;
    let p = honest.first().map_or(0, |u| u.values.len());
    let mut mean = vec![0i32; p];
    let mut std = vec![0i32; p];
    for j in 0..p {
        let s: i128 = honest.iter().map(|u| u.values[j] as i128).sum();
        let s2: i128 = honest.iter().map(|u| (u.values[j] as i128).pow(2)).sum();
        mean[j] = sat_i32(div_round(s, n));
        let var = div_round((n * s2 - s * s).max(0), n * n);
        std[j] = sat_i32(var.max(0).unsigned_abs().isqrt() as i128);
    }
    (mean, std)
}

/// ALIE (Baruch et al. 2019): every coordinate `μ_j − z·σ_j`.
pub fn alie(honest: &[Update], z: Micros) -> Option<Update> {
    let first = honest.first()?;
    let (mean, std) = mean_std(honest);
    let values = mean
        .iter()
        .zip(&std)
        .map(|(&m, &s)| sat_i32(m as i128 - div_round(s as i128 * z.0 as i128, 1_000_000)))
        .collect();
    Some(Update { spec: first.spec.clone(), scale: first.scale, values })
}

/// IPM (Xie et al. 2019): `−ε · mean(honest)`.
pub fn ipm(honest: &[Update], eps: Micros) -> Option<Update> {
    let first = honest.first()?;
    let (mean, _) = mean_std(honest);
    Some(Update {
        spec: first.spec.clone(),
        scale: first.scale,
        values: mean.iter().map(|&m| scale_by(-(m as i128), eps)).collect(),
    })
}

fn dist2(a: &[i32], b: &[i32]) -> u128 {
    a.iter().zip(b).map(|(&x, &y)| ((x as i128 - y as i128).pow(2)) as u128).sum()
}

/// Min-Max (Shejwalkar & Houmansadr 2021) with the inverse-std direction: `μ − γ·σ`, with γ the largest
/// (binary search in millionths, up to 1000) keeping the max distance to any honest update within the
/// max honest pairwise distance.
pub fn min_max(honest: &[Update]) -> Option<Update> {
    let first = honest.first()?;
    let (mean, std) = mean_std(honest);
    let max_pair = honest
        .iter()
        .enumerate()
        .flat_map(|(i, a)| honest[i + 1..].iter().map(move |b| dist2(&a.values, &b.values)))
        .max()
        .unwrap_or(0);
    let build = |g: u64| -> Vec<i32> {
        mean.iter()
            .zip(&std)
            .map(|(&m, &s)| sat_i32(m as i128 - div_round(s as i128 * g as i128, 1_000_000)))
            .collect()
    };
    let ok = |v: &[i32]| honest.iter().all(|h| dist2(v, &h.values) <= max_pair);
    let (mut lo, mut hi) = (0u64, 1_000_000_000u64);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if ok(&build(mid)) { lo = mid } else { hi = mid - 1 }
    }
    Some(Update { spec: first.spec.clone(), scale: first.scale, values: build(lo) })
}

/// Seeded random choice helper for scenario builders: which of `n` clients are Byzantine (`f` of them).
pub fn choose_byzantine(n: usize, f: usize, seed: [u8; 32]) -> Vec<usize> {
    let mut g = GaussianSampler::new(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (g.next_u64() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    let mut out = idx[..f.min(n)].to_vec();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedScale, ModelSpec};

    fn ups() -> Vec<Update> {
        let spec = ModelSpec::flat(3);
        (0..5)
            .map(|i| {
                Update::from_f32(&spec, &[1.0 + i as f32 * 0.1, -1.0, 0.5], FixedScale::default())
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn attacks_produce_expected_shapes() {
        let h = ups();
        assert_eq!(sign_flip(&h[0], Micros::ONE).to_f32(), vec![-1.0, 1.0, -0.5]);
        assert_eq!(scaled(&h[0], Micros::from_int(10)).to_f32(), vec![10.0, -10.0, 5.0]);
        assert_eq!(sybil(&h[1], 3).len(), 3);
        assert_eq!(free_rider(&h[2]), h[2]);
        let a = alie(&h, Micros::ONE).unwrap();
        assert!(a.values[0] < mean_std(&h).0[0]);
        assert_eq!(ipm(&h, Micros(500_000)).unwrap().values[1], 1 << 15);
        let g1 = gaussian(&h[0], Micros::from_int(200), [1; 32]);
        assert_eq!(g1, gaussian(&h[0], Micros::from_int(200), [1; 32]));
        let mm = min_max(&h).unwrap();
        let max_pair = (0..5)
            .flat_map(|i| (0..5).map(move |j| (i, j)))
            .map(|(i, j)| dist2(&h[i].values, &h[j].values))
            .max()
            .unwrap();
        assert!(h.iter().all(|x| dist2(&mm.values, &x.values) <= max_pair));
        assert_eq!(choose_byzantine(10, 3, [2; 32]), choose_byzantine(10, 3, [2; 32]));
    }
}
