//! Runs the aggregation benchmark: `cargo run --release -p chorus-fl --features bench --example bench [-- --json] [--flower]`.
#![allow(clippy::unwrap_used)]
fn main() {}
