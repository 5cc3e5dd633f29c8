//! Runs the aggregation benchmark:
//! `cargo run --release -p chorus-fl --features bench --example bench [-- --json] [--flower] [--small]`.
#![allow(clippy::unwrap_used)]

use chorus_fl::bench::{BenchOptions, run};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut opts =
        BenchOptions { flower: args.iter().any(|a| a == "--flower"), ..BenchOptions::default() };
    if args.iter().any(|a| a == "--small") {
        opts.sizes = vec![(20, 100_000)];
        opts.f = 2;
    }
    let report = run(opts).unwrap();
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        print!("{report}");
    }
}
