//! Centralised sanity check: train on all of MNIST (or Fashion-MNIST) and report test accuracy and
//! time per epoch (the same run as `chorus bench train --centralised MODEL`).
//!
//! ```text
//! cargo run --release -p chorus-trainer --example centralised -- [mlp|cnn|cnn-small|logreg] [epochs] [dataset] [data-dir] [--json]
//! ```
//! Targets on MNIST: MLP ≥ 97.5 %, CNN ≥ 98.8 %.
#![allow(clippy::unwrap_used)]

use chorus_trainer::Arch;
use chorus_trainer::bench::{CentralisedOpts, centralised};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--json").collect();
    let json = std::env::args().any(|a| a == "--json");
    let arch: Arch = args.first().map_or("mlp", String::as_str).parse().unwrap();
    let mut opts = CentralisedOpts::for_model(arch);
    if let Some(e) = args.get(1) {
        opts.epochs = e.parse().unwrap();
    }
    if let Some(d) = args.get(2) {
        opts.dataset = d.clone();
    }
    opts.data_dir = args.get(3).map(std::path::PathBuf::from);
    let report = centralised(&opts, &mut |_| {}, &mut |e| {
        eprintln!(
            "epoch {}: train loss {:.4}, {:.1} s ({:.0} samples/s), test accuracy {:.2} %",
            e.epoch,
            e.train_loss,
            e.train_seconds,
            e.samples_per_s,
            100.0 * e.test_accuracy
        )
    })
    .unwrap();
    if json {
        println!("{}", serde_json::to_string(&report).unwrap());
    } else {
        print!("{report}");
    }
}
