#![allow(clippy::unwrap_used)]
//! Commit throughput: `cargo run --release -p chorus-db --example bench [blocks] [keys_per_block]`.
//!
//! Runs on a file in a temporary directory (fsync per block), then the same without fsync and in
//! memory, and prints one report each.

use chorus_db::DbOptions;
use chorus_db::bench::{BenchOptions, run};

fn main() {
    let mut args = std::env::args().skip(1);
    let blocks = args.next().map_or(20, |a| a.parse().unwrap());
    let keys_per_block = args.next().map_or(5_000, |a| a.parse().unwrap());
    let base = BenchOptions { blocks, keys_per_block, ..BenchOptions::default() };

    let dir = tempfile::tempdir().unwrap();
    let file = BenchOptions { path: Some(dir.path().join("durable.redb")), ..base.clone() };
    println!("{}", run(&file).unwrap());

    let no_sync = BenchOptions {
        path: Some(dir.path().join("nosync.redb")),
        db: DbOptions { durable: false, ..DbOptions::default() },
        ..base.clone()
    };
    println!("{}", run(&no_sync).unwrap());

    println!("{}", run(&base).unwrap());
}
