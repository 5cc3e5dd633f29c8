//! One learning round in the state machine: `cargo run --release -p chorus-chain --example
//! bench_learning -- [participants] [validators] [--json]` (defaults 1000 and 20).
#![allow(clippy::unwrap_used)]
// The host owns the clock; the state machine only receives it as an argument.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let participants = nums.first().copied().unwrap_or(1_000);
    let validators = nums.get(1).copied().unwrap_or(20);
    let start = Instant::now();
    let report =
        chorus_chain::bench::learning_round(participants, validators, &|| start.elapsed()).unwrap();
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        println!("{report}");
    }
}
