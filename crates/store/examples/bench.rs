#![allow(clippy::unwrap_used)]
//! `cargo run --release -p chorus-store --example bench [-- --mem] [--json]`

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opts = chorus_store::bench::BenchOpts {
        fs_backend: !args.iter().any(|a| a == "--mem"),
        ..Default::default()
    };
    let report = chorus_store::bench::run(opts).await.unwrap();
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        println!("{report}");
    }
}
