//! `chorus participant`: run one participant against a node — register, and in every round it
//! is selected for, train on its local data, upload the update, commit and reveal
//! (`chorus_sdk::Participant`). Its progress file makes restarts safe: a restarted participant
//! re-submits the transactions it had signed instead of signing new ones, so it never
//! double-submits and never loses a reveal.
//!
//! Local data is a data set from the registry, optionally one client's part of a deterministic
//! partition (`--clients N --client I`, cut by [`crate::data`]), which is how `chorus devnet`
//! simulates private data.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chorus_sdk::{Attack, NodeClient, Participant, ParticipantConfig};
use chorus_trainer::TrainConfig;
use clap::Args;
use eyre::{WrapErr, bail, eyre};
use tokio::sync::watch;

/// Run a participant (train, commit, reveal) until Ctrl-C.
#[derive(Args, Debug, Clone)]
pub(crate) struct ParticipantArgs {
    /// Node API.
    #[arg(long, default_value = "http://127.0.0.1:26657")]
    rpc: String,
    /// Account key (Ethereum keystore v3 file).
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    password: crate::args::PasswordArgs,
    /// The chain id to sign for; the node must report the same (security review L3).
    #[arg(long, env = "CHORUS_CHAIN_ID")]
    chain_id: u64,
    /// Data set (mnist, fashion-mnist).
    #[arg(long, default_value = "mnist")]
    dataset: String,
    /// Directory with the data set's IDX files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Training samples at the end of the set that are not local data (the validators'
    /// held-out split in a devnet).
    #[arg(long, default_value_t = 0)]
    holdout: usize,
    /// Partition of the remaining samples (iid, dirichlet:ALPHA, shards:K, quantity:BETA).
    #[arg(long, default_value = "iid")]
    partition: String,
    /// Number of parts.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Which part is this participant's data.
    #[arg(long, default_value_t = 0)]
    client: usize,
    /// Partition seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Local epochs.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Seed of the local shuffles.
    #[arg(long, default_value_t = 0)]
    train_seed: u64,
    /// Byzantine behaviour for experiments (none, sign-flip, scaled[:γ], gaussian[:σ],
    /// label-flip, free-rider).
    #[arg(long, default_value = "none")]
    attack: String,
    /// Registry bond.
    #[arg(long, default_value_t = 1_000)]
    bond: u128,
    /// Progress file (what was signed and sent; keep it across restarts).
    #[arg(long)]
    state: PathBuf,
}

pub(crate) fn run(args: ParticipantArgs) -> eyre::Result<()> {
    if args.client >= args.clients {
        bail!("--client must be below --clients");
    }
    let attack: Attack = args.attack.parse().map_err(|e| eyre!("--attack: {e}"))?;
    if attack.needs_collusion() {
        bail!("--attack {}: colluding attacks need the devnet's shared pool", args.attack);
    }
    let text = std::fs::read_to_string(&args.key)
        .wrap_err_with(|| format!("reading {}", args.key.display()))?;
    let key =
        chorus_crypto::decrypt_keystore(&serde_json::from_str(&text)?, &args.password.read()?)
            .map_err(|e| eyre!("decrypting {}: {e}", args.key.display()))?;
    let splits = chorus_trainer::load_dataset(&args.dataset, args.data_dir.as_deref())?;
    let mut parts =
        crate::data::local_parts(&splits, args.holdout, &args.partition, args.clients, args.seed)?;
    let data = parts.swap_remove(args.client);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let node = Arc::new(NodeClient::new(args.rpc.clone()));
        let blobs = Arc::new(chorus_sdk::blobs::Replicated::new(vec![node.store_endpoint()])?);
        let cfg = ParticipantConfig {
            train: TrainConfig {
                epochs: args.epochs,
                batch_size: args.batch,
                lr: args.lr,
                seed: args.train_seed,
                ..TrainConfig::default()
            },
            attack,
            bond: args.bond,
            chain_id: Some(args.chain_id),
            state_path: Some(args.state.clone()),
            poll: Duration::from_millis(300),
            ..ParticipantConfig::default()
        };
        let samples = data.len();
        let p = Participant::new(node.clone(), blobs, key, Arc::new(data), cfg)?;
        eprintln!(
            "participant {} on {} (chain {}, part {} of {}: {samples} samples)",
            p.address(),
            args.rpc,
            args.chain_id,
            args.client,
            args.clients
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let run = tokio::spawn(p.run_until(stop_rx, Some(node.subscribe())));
        tokio::signal::ctrl_c().await?;
        let _ = stop_tx.send(true);
        run.await.map_err(|e| eyre!("{e}"))??;
        Ok(())
    })
}
