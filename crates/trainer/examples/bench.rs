//! Local-training throughput vs PyTorch CPU.
//!
//! ```text
//! cargo run --release -p chorus-trainer --example bench -- [--torch] [--setup] [--json] [--quick] [--small] [--cnn-only] [--mlp-only] [--no-eval]
//! ```
#![allow(clippy::unwrap_used)]

use chorus_trainer::Arch;
use chorus_trainer::bench::{BenchOpts, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let mut opts = BenchOpts {
        torch: has("--torch"),
        torch_setup: has("--setup"),
        evaluate: !has("--no-eval"),
        ..BenchOpts::default()
    };
    if has("--quick") {
        opts.models = vec![(Arch::Mlp, 12_800), (Arch::Cnn, 1_280)];
    }
    if has("--small") {
        opts.models.push((Arch::CnnSmall, 12_800));
    }
    if has("--cnn-only") {
        opts.models.retain(|(a, _)| *a != Arch::Mlp);
    }
    if has("--mlp-only") {
        opts.models.retain(|(a, _)| *a == Arch::Mlp);
    }
    let report = run(&opts).unwrap();
    if has("--json") {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        print!("{report}");
    }
}
