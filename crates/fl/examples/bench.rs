//! Runs the aggregation benchmark:
//! `cargo run --release -p chorus-fl --features bench --example bench [-- --json] [--flower] [--small]
//! [--only median,krum] [--size 100x1000000]`.
#![allow(clippy::unwrap_used)]

use chorus_fl::bench::{BenchOptions, PeakAlloc, run};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut opts =
        BenchOptions { flower: args.iter().any(|a| a == "--flower"), ..BenchOptions::default() };
    if let Some(i) = args.iter().position(|a| a == "--only") {
        opts.only = args[i + 1].split(',').map(str::to_string).collect();
    }
    if args.iter().any(|a| a == "--size") {
        let i = args.iter().position(|a| a == "--size").unwrap();
        let (n, p) = args[i + 1].split_once('x').unwrap();
        opts.sizes = vec![(n.parse().unwrap(), p.parse().unwrap())];
    }
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
