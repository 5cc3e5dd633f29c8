use std::sync::Arc;

use proptest::prelude::*;

use super::*;

fn lcg(seed: u64) -> impl FnMut() -> i32 {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 33) as i32 % 20000) - 10000
    }
}

fn honest(n: usize, p: usize, seed: u64) -> Vec<Update> {
    let spec = Arc::new(ModelSpec::flat(p));
    let mut r = lcg(seed);
    let base: Vec<i32> = (0..p).map(|_| r() * 10).collect();
    (0..n)
        .map(|_| Update {
            spec: spec.clone(),
            scale: FixedScale::default(),
            values: base.iter().map(|b| b + r() / 10).collect(),
        })
        .collect()
}

fn run(
    rule: &str,
    ups: &[Update],
    weights: &[u64],
    opts: AggregateOptions,
) -> Result<AggregateOutcome, Error> {
    let mut inputs = WeightedInput::from_updates(ups, weights);
    aggregate(rule, ups, &mut inputs, opts)
}

fn aggregate(
    rule: &str,
    ups: &[Update],
    inputs: &mut [WeightedInput<'_>],
    opts: AggregateOptions,
) -> Result<AggregateOutcome, Error> {
    let mut agg = ServerAggregator::new(rule.parse()?);
    agg.aggregate(&ups[0].spec, ups[0].scale, inputs, &opts)
}

const ROBUST: &[&str] = &[
    "fedavg",
    "median",
    "trimmed-mean:trim=0.2",
    "krum:f=2",
    "multi-krum:f=2,m=4",
    "bulyan:f=1",
    "centered-clipping:tau=0.5,iters=2",
    "fedadam",
    "fedyogi",
    "fedadagrad",
    "fedavgm:momentum=0.9",
    "fednova",
];

#[test]
fn rules_are_permutation_invariant() {
    let ups = honest(9, 301, 7);
    let w: Vec<u64> = (1..=9).collect();
    let mut perm: Vec<usize> = (0..9).collect();
    perm.reverse();
    perm.swap(0, 4);
    let ups2: Vec<Update> = perm.iter().map(|&i| ups[i].clone()).collect();
    let w2: Vec<u64> = perm.iter().map(|&i| w[i]).collect();
    let opts = AggregateOptions { norm_bound: None, chunk: 64 };
    for rule in ROBUST {
        let a = run(rule, &ups, &w, opts).unwrap().aggregate;
        let b = run(rule, &ups2, &w2, opts).unwrap().aggregate;
        assert_eq!(a, b, "{rule}");
    }
}

#[test]
fn fedavg_of_identical_updates_equals_that_update() {
    let u = honest(1, 1000, 3).remove(0);
    let ups = vec![u.clone(); 5];
    for rule in ["fedavg", "median", "trimmed-mean", "krum:f=1", "multi-krum:f=1,m=3", "bulyan:f=0"]
    {
        assert_eq!(
            run(rule, &ups, &[3, 1, 4, 1, 5], AggregateOptions::default()).unwrap().aggregate,
            u,
            "{rule}"
        );
    }
}

#[test]
fn fedavg_weights_by_examples_and_rounds_half_away() {
    let spec = Arc::new(ModelSpec::flat(2));
    let s = FixedScale::default();
    let ups = vec![
        Update::new(spec.clone(), s, vec![1, -1]).unwrap(),
        Update::new(spec.clone(), s, vec![2, -2]).unwrap(),
    ];
    // (1·1 + 3·2)/4 = 1.75 → 2; (−1 − 6)/4 = −1.75 → −2.
    assert_eq!(
        run("fedavg", &ups, &[1, 3], AggregateOptions::default()).unwrap().aggregate.values,
        vec![2, -2]
    );
    // (1 + 2)/2 = 1.5 → 2 (half away), −1.5 → −2.
    assert_eq!(
        run("median", &ups, &[1, 1], AggregateOptions::default()).unwrap().aggregate.values,
        vec![2, -2]
    );
}

#[test]
fn single_and_multi_threaded_results_are_bit_identical() {
    let ups = honest(11, 5003, 11);
    let w: Vec<u64> = (0..11).map(|i| 10 + i * 7).collect();
    let opts =
        AggregateOptions { norm_bound: Some(crate::fixed::Micros::from_int(20)), chunk: 1000 };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    for rule in ROBUST {
        let a = one.install(|| run(rule, &ups, &w, opts).unwrap());
        let b = four.install(|| run(rule, &ups, &w, opts).unwrap());
        assert_eq!(a, b, "{rule}");
    }
}

#[test]
fn chunk_size_does_not_change_results() {
    let ups = honest(7, 777, 5);
    for rule in ROBUST {
        let a = run(rule, &ups, &[1; 7], AggregateOptions { norm_bound: None, chunk: 13 }).unwrap();
        let b = run(rule, &ups, &[1; 7], AggregateOptions { norm_bound: None, chunk: 100_000 })
            .unwrap();
        assert_eq!(a, b, "{rule}");
    }
}

#[test]
fn norm_bound_scales_large_inputs_to_the_bound() {
    let spec = Arc::new(ModelSpec::flat(2));
    let s = FixedScale::default();
    let ups = vec![Update::from_f32_shared(spec.clone(), &[30.0, 40.0], s).unwrap()];
    let out = run(
        "fedavg",
        &ups,
        &[1],
        AggregateOptions { norm_bound: Some(crate::fixed::Micros::from_int(5)), chunk: 4 },
    )
    .unwrap();
    assert!(out.inputs[0].norm_clipped);
    assert_eq!(out.aggregate.to_f32(), vec![3.0, 4.0]);
}

#[test]
fn rules_reject_too_few_inputs_and_bad_params() {
    let ups = honest(6, 10, 1);
    assert_eq!(
        run("bulyan:f=1", &ups, &[1; 6], AggregateOptions::default()).unwrap_err(),
        Error::NotEnoughInputs { rule: "bulyan", need: 7, got: 6 }
    );
    assert!(matches!(
        run("krum:f=2", &ups, &[1; 6], AggregateOptions::default()),
        Err(Error::NotEnoughInputs { .. })
    ));
    assert!("trimmed-mean:trim=0.5".parse::<AggregationRule>().is_err());
    assert!("nonsense".parse::<AggregationRule>().is_err());
    assert!("krum:g=1".parse::<AggregationRule>().is_err());
    assert!(matches!(
        run("fedavg", &ups, &[0; 6], AggregateOptions::default()),
        Err(Error::InvalidParams { .. })
    ));
    let short = vec![Update::zeros(Arc::new(ModelSpec::flat(3)), FixedScale::default())];
    let mut inputs = WeightedInput::from_updates(&short, &[1]);
    let mut agg = ServerAggregator::new(AggregationRule::FedAvg);
    assert!(matches!(
        agg.aggregate(
            &Arc::new(ModelSpec::flat(4)),
            FixedScale::default(),
            &mut inputs,
            &AggregateOptions::default()
        ),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn rule_names_parse_and_display_roundtrip() {
    for name in AggregationRule::names() {
        let r: AggregationRule = name.parse().unwrap();
        assert_eq!(r.to_string().parse::<AggregationRule>().unwrap(), r);
        let js = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<AggregationRule>(&js).unwrap(), r);
    }
    assert_eq!(
        "multi-krum:f=2,m=5".parse::<AggregationRule>().unwrap(),
        AggregationRule::MultiKrum { f: 2, m: 5 }
    );
}

#[test]
fn server_optimiser_state_carries_between_rounds() {
    let ups = honest(4, 50, 9);
    let mut agg = ServerAggregator::new("fedadam".parse().unwrap());
    let mut a = WeightedInput::from_updates(&ups, &[1; 4]);
    let r1 =
        agg.aggregate(&ups[0].spec, ups[0].scale, &mut a, &AggregateOptions::default()).unwrap();
    let saved = serde_json::to_string(&agg).unwrap();
    let mut b = WeightedInput::from_updates(&ups, &[1; 4]);
    let r2 =
        agg.aggregate(&ups[0].spec, ups[0].scale, &mut b, &AggregateOptions::default()).unwrap();
    assert_ne!(r1.aggregate, r2.aggregate);
    let mut resumed: ServerAggregator = serde_json::from_str(&saved).unwrap();
    let mut c = WeightedInput::from_updates(&ups, &[1; 4]);
    assert_eq!(
        resumed
            .aggregate(&ups[0].spec, ups[0].scale, &mut c, &AggregateOptions::default())
            .unwrap(),
        r2
    );
}

#[test]
fn scaffold_updates_control_variate() {
    let ups = honest(3, 8, 2);
    let ctl = honest(3, 8, 4);
    let mut inputs: Vec<WeightedInput<'_>> = ups
        .iter()
        .zip(&ctl)
        .map(|(u, c)| WeightedInput {
            control_delta: Some(Box::new(crate::SliceReader(&c.values))),
            ..WeightedInput::new(crate::SliceReader(&u.values), 1)
        })
        .collect();
    let mut agg = ServerAggregator::new("scaffold:total-clients=6".parse().unwrap());
    let out = agg
        .aggregate(&ups[0].spec, ups[0].scale, &mut inputs, &AggregateOptions::default())
        .unwrap();
    let mean0 = crate::fixed::div_round(ups.iter().map(|u| u.values[0] as i128).sum(), 3) as i32;
    assert_eq!(out.aggregate.values[0], mean0);
    let c0 = crate::fixed::div_round(ctl.iter().map(|u| u.values[0] as i128).sum(), 6) as i64;
    assert_eq!(agg.state.control[0], c0);
}

fn max_abs_dev(a: &[i32], b: &[i32]) -> i64 {
    a.iter().zip(b).map(|(x, y)| (*x as i64 - *y as i64).abs()).max().unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn robust_rules_are_unaffected_by_up_to_f_arbitrary_outliers(
        seed in 0u64..1000,
        outliers in proptest::collection::vec(proptest::collection::vec(any::<i32>(), 40), 1..=2),
    ) {
        // 9 honest updates tightly clustered (spread ≤ 1000), f = 2 arbitrary outliers.
        let mut ups = honest(9, 40, seed);
        let clean = run("median", &ups, &[1; 9], AggregateOptions::default()).unwrap().aggregate.values;
        let spec = ups[0].spec.clone();
        let lo: Vec<i32> = (0..40).map(|j| ups.iter().map(|u| u.values[j]).min().unwrap()).collect();
        let hi: Vec<i32> = (0..40).map(|j| ups.iter().map(|u| u.values[j]).max().unwrap()).collect();
        for o in &outliers {
            ups.push(Update { spec: spec.clone(), scale: FixedScale::default(), values: o.clone() });
        }
        let n = ups.len();
        for rule in ["median", "trimmed-mean:trim=0.2", "krum:f=2", "bulyan:f=2"] {
            if rule.starts_with("bulyan") && n < 11 { continue; }
            let out = run(rule, &ups, &vec![1; n], AggregateOptions::default()).unwrap();
            // The aggregate stays inside the honest per-coordinate range.
            for j in 0..40 {
                prop_assert!(out.aggregate.values[j] >= lo[j] && out.aggregate.values[j] <= hi[j], "{} coord {}", rule, j);
            }
            prop_assert!(max_abs_dev(&out.aggregate.values, &clean) <= 2000);
            if rule.starts_with("krum") {
                prop_assert!(out.inputs[9..].iter().all(|r| !r.included) || outliers.iter().any(|o| o.iter().zip(&lo).zip(&hi).all(|((x, l), h)| x >= l && x <= h)));
            }
        }
    }
}

/// A reader that only streams (no in-place view), like a blob-store reader.
struct Streamed<'a>(&'a [i32]);

impl crate::UpdateReader for Streamed<'_> {
    fn num_params(&self) -> usize {
        self.0.len()
    }
    fn read_chunk(&mut self, offset: usize, out: &mut [i32]) -> Result<(), Error> {
        out.copy_from_slice(&self.0[offset..offset + out.len()]);
        Ok(())
    }
}

fn run_streamed(
    rule: &str,
    ups: &[Update],
    weights: &[u64],
    opts: AggregateOptions,
) -> Result<AggregateOutcome, Error> {
    let mut agg = ServerAggregator::new(rule.parse()?);
    let mut inputs: Vec<WeightedInput<'_>> =
        ups.iter().zip(weights).map(|(u, &w)| WeightedInput::new(Streamed(&u.values), w)).collect();
    agg.aggregate(&ups[0].spec, ups[0].scale, &mut inputs, &opts)
}

#[test]
fn streamed_and_in_memory_inputs_give_bit_identical_results() {
    let ups = honest(13, 3001, 21);
    let w: Vec<u64> = (0..13).map(|i| 5 + i * 3).collect();
    let opts = AggregateOptions { norm_bound: None, chunk: 100 };
    for rule in ROBUST {
        let a = run(rule, &ups, &w, opts).unwrap();
        let b = run_streamed(rule, &ups, &w, opts).unwrap();
        assert_eq!(a, b, "{rule}");
    }
}

/// Krum scores from exact i128 distances, computed the slow way.
fn naive_krum_scores(ups: &[Update], f: usize) -> Vec<i128> {
    let n = ups.len();
    let d = |i: usize, j: usize| -> i128 {
        ups[i]
            .values
            .iter()
            .zip(&ups[j].values)
            .map(|(&a, &b)| (a as i128 - b as i128).pow(2))
            .sum()
    };
    (0..n)
        .map(|i| {
            let mut ds: Vec<i128> = (0..n).filter(|&j| j != i).map(|j| d(i, j)).collect();
            ds.sort_unstable();
            ds.iter().take(n.saturating_sub(f + 2).max(1)).sum()
        })
        .collect()
}

#[test]
fn krum_scores_are_exact_for_small_and_for_extreme_values() {
    let spec = Arc::new(ModelSpec::flat(2_500));
    for (magnitude, seed) in [(1i64 << 20, 3u64), (i32::MAX as i64, 4), (1 << 27, 5)] {
        let mut z = seed;
        let ups: Vec<Update> = (0..9)
            .map(|_| Update {
                spec: spec.clone(),
                scale: FixedScale::default(),
                values: (0..2_500)
                    .map(|_| {
                        z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((z >> 11) as i64 % magnitude) as i32
                    })
                    .collect(),
            })
            .collect();
        let want = naive_krum_scores(&ups, 2);
        for streamed in [false, true] {
            let opts = AggregateOptions { norm_bound: None, chunk: 700 };
            let out = if streamed {
                run_streamed("krum:f=2", &ups, &[1; 9], opts)
            } else {
                run("krum:f=2", &ups, &[1; 9], opts)
            }
            .unwrap();
            let got: Vec<i128> = out.inputs.iter().map(|r| r.score.unwrap()).collect();
            assert_eq!(got, want, "magnitude {magnitude}, streamed {streamed}");
        }
    }
}

#[test]
fn no_input_carries_more_than_half_of_the_weight_after_clamping() {
    use super::{MAX_WEIGHT_SHARE, clamp_weight_shares};
    let (n, d) = MAX_WEIGHT_SHARE;
    // A liar claiming 2^20 against 100 + 100: capped at the sum of the others.
    assert_eq!(clamp_weight_shares(&[1 << 20, 100, 100], n, d), vec![200, 100, 100]);
    // Honest spreads are untouched.
    assert_eq!(clamp_weight_shares(&[26, 78, 81, 58], n, d), vec![26, 78, 81, 58]);
    assert_eq!(clamp_weight_shares(&[5], n, d), vec![5]);
    // A stricter share (1/3) caps the two largest to a common value.
    let c = clamp_weight_shares(&[1000, 900, 10, 10], 1, 3);
    let total: u64 = c.iter().sum();
    assert!(c.iter().all(|&w| 3 * w <= total), "{c:?}");
    assert_eq!(&c[2..], &[10, 10]);
    // Share 1/4 with four inputs forces equal weights.
    assert_eq!(clamp_weight_shares(&[9, 3, 2, 7], 1, 4), vec![2, 2, 2, 2]);
}

#[test]
fn an_in_cap_liar_cannot_dominate_fedavg_and_out_of_range_weights_are_refused() {
    let spec = Arc::new(ModelSpec::flat(1));
    let s = FixedScale::default();
    let ups = vec![
        Update::new(spec.clone(), s, vec![1_000_000]).unwrap(), // the liar's (e.g. backdoor)
        Update::new(spec.clone(), s, vec![0]).unwrap(),
        Update::new(spec.clone(), s, vec![0]).unwrap(),
    ];
    // Unclamped, 2^20 vs 100 + 100 would put the liar at 99.98 %; clamped it is exactly half.
    let out = run("fedavg", &ups, &[1 << 20, 100, 100], AggregateOptions::default()).unwrap();
    assert_eq!(out.aggregate.values, vec![500_000]);
    for bad in [0u64, (1 << 20) + 1, 1 << 40] {
        let e = run("fedavg", &ups, &[bad, 100, 100], AggregateOptions::default()).unwrap_err();
        assert!(matches!(e, Error::InvalidParams { rule: "weights", .. }), "{bad}: {e:?}");
    }
}
