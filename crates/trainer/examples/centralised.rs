//! Centralised sanity check: train on all of MNIST (or Fashion-MNIST) and report test accuracy.
//!
//! ```text
//! cargo run --release -p chorus-trainer --example centralised -- [mlp|cnn|cnn-small|logreg] [epochs] [dataset] [data-dir]
//! ```
//! Targets on MNIST: MLP ≥ 97.5 %, CNN ≥ 98.8 %.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use chorus_trainer::train::{Optimizer, TrainConfig, train_local};
use chorus_trainer::{build_model, load_dataset};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model_name = args.first().map_or("mlp", String::as_str);
    let epochs: usize = args.get(1).map_or(5, |s| s.parse().unwrap());
    let dataset = args.get(2).map_or("mnist", String::as_str);
    let dir = args.get(3).map(std::path::PathBuf::from);
    let splits = load_dataset(dataset, dir.as_deref()).unwrap();
    let mut model = build_model(model_name, 0).unwrap();
    let cnn = model_name.starts_with("cnn");
    // SGD with momentum; a step decay of the learning rate after half the epochs.
    let lr = if cnn { 0.02 } else { 0.05 };
    let t_all = Instant::now();
    for e in 0..epochs {
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: if cnn { 64 } else { 32 },
            lr: if e >= epochs.div_ceil(2) { lr / 5.0 } else { lr },
            optimizer: Optimizer::Sgd { momentum: 0.9, weight_decay: 0.0 },
            seed: e as u64,
            ..TrainConfig::default()
        };
        let t = Instant::now();
        let out = train_local(model.as_mut(), &splits.train, &cfg, None).unwrap();
        let train_s = t.elapsed().as_secs_f64();
        let r = model.evaluate(&splits.test).unwrap();
        println!(
            "{model_name} {dataset} epoch {} train loss {:.4} | {:.1} s ({:.0} samples/s) | test acc {:.2} % loss {:.4}",
            e + 1,
            out.epochs[0].loss,
            train_s,
            out.num_examples as f64 / train_s,
            100.0 * r.accuracy,
            r.loss
        );
    }
    let r = model.evaluate(&splits.test).unwrap();
    println!(
        "final {model_name} on {dataset}: test accuracy {:.2} % after {epochs} epochs, {:.1} s total",
        100.0 * r.accuracy,
        t_all.elapsed().as_secs_f64()
    );
    println!("{r}");
}
