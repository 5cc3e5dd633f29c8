//! chorus-cli: the `chorus` command line (clap). Each command parses its flags, loads what it
//! needs from the node home, and calls into the library crates.
//!
//! It must not contain protocol rules or numerics: those live in `chorus-chain` and `chorus-fl`;
//! this crate is wiring, printing and error reporting (`eyre`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod cmd;
mod data;
pub mod home;
pub mod http;
pub mod plot;
mod worker;

/// Chorus: a verifiable federated-learning network.
#[derive(Parser, Debug)]
#[command(name = "chorus", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a local network and a whole federated training task on it (the main job).
    Devnet(cmd::devnet::DevnetArgs),
    /// Replay a task from the ledger and the blob store and check every hash.
    Audit(cmd::audit::AuditArgs),
    /// Write genesis, keys and configuration for a 1- or N-validator network.
    Init(cmd::init::InitArgs),
    /// Manage account keys (Ethereum keystore v3).
    Keys(cmd::keys::KeysArgs),
    /// Run a participant: train when selected, commit, reveal (restart-safe).
    Participant(cmd::participant::ParticipantArgs),
    /// Run a validator node from its home directory.
    Node(cmd::node::NodeArgs),
    /// Open and manage training tasks (owner transactions).
    Task(cmd::task::TaskArgs),
    /// Sign and submit a transaction (transfer, staking, governance).
    Tx(cmd::tx::TxArgs),
    /// Query accounts, blocks, transactions, verified state proofs, staking, governance and
    /// learning records.
    Query(cmd::query::QueryArgs),
    /// Blob store commands.
    Store(cmd::store::StoreArgs),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CHORUS_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Parses the command line and runs the chosen command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.cmd {
        Command::Devnet(a) => cmd::devnet::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Init(a) => cmd::init::run(a),
        Command::Keys(a) => cmd::keys::run(a),
        Command::Node(a) => cmd::node::run(a),
        Command::Participant(a) => cmd::participant::run(a),
        Command::Task(a) => cmd::task::run(a),
        Command::Tx(a) => cmd::tx::run(a),
        Command::Query(a) => cmd::query::run(a),
        Command::Store(a) => cmd::store::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
