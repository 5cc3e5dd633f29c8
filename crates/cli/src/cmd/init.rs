//! `chorus init`.

use std::path::PathBuf;

use clap::Args;

use crate::home::{InitOptions, init};

/// Write genesis, keys and configuration for a 1- or N-validator network.
#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Where to write the network (one home, or node0..nodeN-1 for N > 1).
    #[arg(long, env = "CHORUS_HOME", default_value = ".chorus")]
    home: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// Chain id [default: random, or derived from --seed], so that transactions signed for one
    /// network never replay on another (security review L3).
    #[arg(long)]
    chain_id: Option<u64>,
    /// Derive every key from this seed (reproducible devnets; never for real funds).
    #[arg(long)]
    seed: Option<String>,
    /// Password of the generated account keystores.
    #[command(flatten)]
    password: crate::args::PasswordArgs,
    /// Write the account keystores with an empty password (throwaway local networks only).
    #[arg(long)]
    insecure_empty_password: bool,
    /// First API port (validator i: port + 10·i; its p2p port is one above).
    #[arg(long, default_value_t = 26657)]
    api_port: u16,
    /// Target block time in milliseconds.
    #[arg(long, default_value_t = 1000)]
    block_time_ms: u64,
}

pub(crate) fn run(args: InitArgs) -> eyre::Result<()> {
    let chain_id = match args.chain_id {
        Some(id) => id,
        None => crate::home::derive_chain_id(&args.seed)?,
    };
    let opts = InitOptions {
        validators: args.validators,
        chain_id,
        password: args.password.for_new_keystore(args.insecure_empty_password)?,
        seed: args.seed,
        api_port: args.api_port,
        block_time_ms: args.block_time_ms,
        ..InitOptions::default()
    };
    let out = init(&args.home, &opts)?;
    println!("chain {} with {} validator(s)", out.genesis.chain_id, out.homes.len());
    for (h, v) in out.homes.iter().zip(&out.genesis.validators) {
        println!("  {}  operator {}", h.0.display(), v.operator);
    }
    println!("faucet account {} (key `faucet` in each home)", out.faucet.address());
    Ok(())
}
