//! Contribution scores: leave-one-out on the (robust) aggregate and seeded truncated Monte-Carlo
//! Shapley values.
//!
//! Utility of a coalition S: `v(S) = −‖agg(S) − target‖²` (fixed-point units², exact), where `agg` is
//! the task's rule (falling back to FedAvg when S is too small for the rule) and `target` a reference
//! update (e.g. the robust aggregate of all inputs or a validation gradient). `v(∅) = −‖target‖²`.
//! Scores are integers (i128), so they are reproducible. Identical updates are first collapsed into
//! one player (weight = the largest of the copies' weights), scored once, and the group's score is split
//! evenly among the copies — so Sybil duplicates or free riders copying an update gain nothing extra.

use crate::agg::{AggregateOptions, Aggregator, ServerAggregator, WeightedInput};
use crate::dp::GaussianSampler;
use crate::{AggregationRule, Error, Update};

fn value(
    rule: &AggregationRule,
    ups: &[Update],
    weights: &[u64],
    set: &[usize],
    target: &Update,
) -> Result<i128, Error> {
    let agg = if set.is_empty() {
        vec![0i32; target.values.len()]
    } else {
        let sel: Vec<Update> = set.iter().map(|&i| ups[i].clone()).collect();
        let w: Vec<u64> = set.iter().map(|&i| weights[i]).collect();
        let run = |r: &AggregationRule| {
            let mut a = ServerAggregator::new(r.clone());
            let mut inputs = WeightedInput::from_updates(&sel, &w);
            a.aggregate(&sel[0].spec, sel[0].scale, &mut inputs, &AggregateOptions::default())
        };
        match run(rule) {
            Ok(o) => o.aggregate.values,
            Err(Error::NotEnoughInputs { .. } | Error::InvalidParams { .. }) => {
                run(&AggregationRule::FedAvg)?.aggregate.values
            }
            Err(e) => return Err(e),
        }
    };
    Ok(-(agg
        .iter()
        .zip(&target.values)
        .map(|(&a, &t)| (a as i128 - t as i128).pow(2))
        .sum::<i128>()))
}

/// Groups identical updates: returns (representative updates, their weights, group of each input).
fn dedup(ups: &[Update], weights: &[u64]) -> (Vec<Update>, Vec<u64>, Vec<usize>) {
    let mut reps: Vec<Update> = Vec::new();
    let mut w: Vec<u64> = Vec::new();
    let mut group = Vec::with_capacity(ups.len());
    for (u, &wi) in ups.iter().zip(weights) {
        match reps.iter().position(|r| r.values == u.values) {
            Some(g) => {
                w[g] = w[g].max(wi);
                group.push(g);
            }
            None => {
                reps.push(u.clone());
                w.push(wi);
                group.push(reps.len() - 1);
            }
        }
    }
    (reps, w, group)
}

fn split(scores: &[i128], group: &[usize]) -> Vec<i128> {
    let mut count = vec![0i128; scores.len()];
    for &g in group {
        count[g] += 1;
    }
    group.iter().map(|&g| crate::fixed::div_round(scores[g], count[g])).collect()
}

/// Leave-one-out: `v(all) − v(all \ {i})` for each distinct update, split among identical copies.
pub fn leave_one_out(
    rule: &AggregationRule,
    ups: &[Update],
    weights: &[u64],
    target: &Update,
) -> Result<Vec<i128>, Error> {
    let (reps, w, group) = dedup(ups, weights);
    Ok(split(&loo_distinct(rule, &reps, &w, target)?, &group))
}

fn loo_distinct(
    rule: &AggregationRule,
    ups: &[Update],
    weights: &[u64],
    target: &Update,
) -> Result<Vec<i128>, Error> {
    let all: Vec<usize> = (0..ups.len()).collect();
    let full = value(rule, ups, weights, &all, target)?;
    (0..ups.len())
        .map(|i| {
            let rest: Vec<usize> = all.iter().copied().filter(|&j| j != i).collect();
            Ok(full - value(rule, ups, weights, &rest, target)?)
        })
        .collect()
}

/// Truncated Monte-Carlo Shapley (Ghorbani & Zou 2019): `permutations` seeded permutations; within a
/// permutation, once `|v(all) − v(prefix)| ≤ tolerance` the remaining marginals are taken as 0.
/// Returns the mean marginal contribution per input (rounded half away from zero); identical updates
/// are one player whose value is split among the copies.
pub fn tmc_shapley(
    rule: &AggregationRule,
    ups: &[Update],
    weights: &[u64],
    target: &Update,
    permutations: usize,
    tolerance: i128,
    seed: [u8; 32],
) -> Result<Vec<i128>, Error> {
    let (reps, w, group) = dedup(ups, weights);
    Ok(split(&tmc_distinct(rule, &reps, &w, target, permutations, tolerance, seed)?, &group))
}

fn tmc_distinct(
    rule: &AggregationRule,
    ups: &[Update],
    weights: &[u64],
    target: &Update,
    permutations: usize,
    tolerance: i128,
    seed: [u8; 32],
) -> Result<Vec<i128>, Error> {
    let n = ups.len();
    let all: Vec<usize> = (0..n).collect();
    let full = value(rule, ups, weights, &all, target)?;
    let empty = value(rule, ups, weights, &[], target)?;
    let mut sums = vec![0i128; n];
    let mut g = GaussianSampler::new(seed);
    for _ in 0..permutations {
        let mut perm = all.clone();
        for i in (1..n).rev() {
            let j = (g.next_u64() % (i as u64 + 1)) as usize;
            perm.swap(i, j);
        }
        let mut prev = empty;
        let mut prefix = Vec::with_capacity(n);
        for &i in &perm {
            if (full - prev).abs() <= tolerance {
                break;
            }
            prefix.push(i);
            let v = value(rule, ups, weights, &prefix, target)?;
            sums[i] += v - prev;
            prev = v;
        }
    }
    let p = permutations.max(1) as i128;
    Ok(sums.into_iter().map(|s| crate::fixed::div_round(s, p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedScale, ModelSpec};

    fn honest() -> Vec<Update> {
        let spec = ModelSpec::flat(4);
        let rows = [
            [1.0, 2.0, 0.0, -1.0],
            [1.2, 1.8, 0.1, -0.9],
            [0.8, 2.1, -0.1, -1.1],
            [1.1, 2.2, 0.05, -1.0],
            [0.9, 1.9, -0.05, -0.95],
        ];
        rows.iter().map(|r| Update::from_f32(&spec, r, FixedScale::default()).unwrap()).collect()
    }

    #[test]
    fn duplicated_updates_gain_nothing_extra() {
        let h = honest();
        let rule: AggregationRule = "median".parse().unwrap();
        let target =
            Update::from_f32(&ModelSpec::flat(4), &[1.0, 2.0, 0.0, -1.0], FixedScale::default())
                .unwrap();
        let base_loo = leave_one_out(&rule, &h, &[1; 5], &target).unwrap();
        let mut dup = h.clone();
        dup.extend(crate::attack::sybil(&h[1], 2));
        let loo = leave_one_out(&rule, &dup, &[1; 7], &target).unwrap();
        let copies: i128 = loo[5] + loo[6] + loo[1];
        assert!(copies <= base_loo[1].max(0), "{copies} vs {}", base_loo[1]);
        let sh_base = tmc_shapley(&rule, &h, &[1; 5], &target, 30, 0, [3; 32]).unwrap();
        let sh = tmc_shapley(&rule, &dup, &[1; 7], &target, 30, 0, [3; 32]).unwrap();
        let total_copies = sh[1] + sh[5] + sh[6];
        // The sybil group together gets exactly what the original got alone (up to rounding).
        assert!((total_copies - sh_base[1]).abs() <= 2, "{total_copies} vs {}", sh_base[1]);
        assert_eq!(sh[0], sh_base[0]);
        assert_eq!(sh, tmc_shapley(&rule, &dup, &[1; 7], &target, 30, 0, [3; 32]).unwrap());
    }

    #[test]
    fn shapley_values_are_efficient_without_truncation() {
        let h = honest();
        let rule = AggregationRule::FedAvg;
        let target = h[0].clone();
        let sh = tmc_shapley(&rule, &h, &[1; 5], &target, 10, 0, [9; 32]).unwrap();
        let all: Vec<usize> = (0..5).collect();
        let total = value(&rule, &h, &[1; 5], &all, &target).unwrap()
            - value(&rule, &h, &[1; 5], &[], &target).unwrap();
        let s: i128 = sh.iter().sum();
        assert!((s - total).abs() <= 5, "{s} vs {total}");
    }
}
