//! Integration tests: cross-check against Flower 1.41.0 golden outputs (`scripts/flower/golden.py`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chorus_fl::{
    AggregateOptions, AggregationRule, Aggregator, FixedScale, ModelSpec, ServerAggregator, Update,
    WeightedInput,
};

fn load(name: &str) -> serde_json::Value {
    let p = format!("{}/tests/golden/flower_{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn run_round(
    agg: &mut ServerAggregator,
    spec: &Arc<ModelSpec>,
    inputs: &serde_json::Value,
    weights: &[u64],
) -> Vec<f64> {
    let scale = FixedScale::default();
    let ups: Vec<Update> = inputs
        .as_array()
        .unwrap()
        .iter()
        .map(|x| Update::from_f32_shared(spec.clone(), &floats(x), scale).unwrap())
        .collect();
    let mut w = WeightedInput::from_updates(&ups, weights);
    agg.aggregate(spec, scale, &mut w, &AggregateOptions { norm_bound: None, chunk: 17 })
        .unwrap()
        .aggregate
        .to_f64()
}

fn check(name: &str, tol: f64) {
    let g = load(name);
    let rule: AggregationRule = g["rule"].as_str().unwrap().parse().unwrap();
    let p = g["p"].as_u64().unwrap() as usize;
    let spec = Arc::new(ModelSpec::flat(p));
    let weights: Vec<u64> =
        g["num_examples"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    let mut agg = ServerAggregator::new(rule);
    let rounds: Vec<(serde_json::Value, serde_json::Value)> = match g.get("rounds") {
        Some(r) => r
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["inputs"].clone(), r["expected"].clone()))
            .collect(),
        None => vec![(g["inputs"].clone(), g["expected"].clone())],
    };
    for (k, (inputs, expected)) in rounds.iter().enumerate() {
        let got = run_round(&mut agg, &spec, inputs, &weights);
        let exp: Vec<f64> =
            expected.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        for (j, (a, b)) in got.iter().zip(&exp).enumerate() {
            assert!(
                (a - b).abs() <= tol + 1e-6 * b.abs(),
                "{name} round {k} coord {j}: chorus {a} vs flower {b} (tol {tol})"
            );
        }
    }
}

/// 2^-17 quantization of each output plus a little float slack in Flower's f32 arithmetic.
const QTOL: f64 = 1.0 / 65536.0;

#[test]
fn fedavg_matches_flower() {
    check("fedavg", QTOL);
}

#[test]
fn median_matches_flower() {
    check("median", QTOL);
}

#[test]
fn trimmed_mean_matches_flower() {
    check("trimmed-mean_trim0.2", QTOL);
}

#[test]
fn krum_matches_flower() {
    check("krum_f2", QTOL);
}

#[test]
fn multi_krum_matches_flower() {
    check("multi-krum_f2_m5", QTOL);
}

#[test]
fn bulyan_matches_flower() {
    check("bulyan_f2", QTOL);
}

// Server optimisers: the input quantization error (≤ 2^-17 on the pseudo-gradient) is amplified by at
// most η/τ through m/(√v+τ); tolerance = η·2^-16/τ.
#[test]
fn fedadam_matches_flower() {
    check("fedadam", 0.1 * QTOL / 1e-3);
}

#[test]
fn fedyogi_matches_flower() {
    check("fedyogi", 0.01 * QTOL / 1e-3);
}

#[test]
fn fedadagrad_matches_flower() {
    check("fedadagrad", 0.1 * QTOL / 1e-3);
}
