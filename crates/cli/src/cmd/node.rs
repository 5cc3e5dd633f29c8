//! `chorus node`: run a validator node from its home directory, optionally with its validator
//! worker (`--worker`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use eyre::WrapErr;

use crate::home::Home;

/// Run a node (consensus, API, blob store) until Ctrl-C.
#[derive(Args, Debug)]
pub(crate) struct NodeArgs {
    /// Node home (written by `chorus init`).
    #[arg(long, env = "CHORUS_HOME", default_value = ".chorus")]
    home: PathBuf,
    /// Override the API listen address.
    #[arg(long, help_heading = "Overrides")]
    api_listen: Option<SocketAddr>,
    /// Override the consensus p2p listen address.
    #[arg(long, help_heading = "Overrides")]
    p2p_listen: Option<SocketAddr>,
    /// Override the peers to dial (repeatable).
    #[arg(long = "peer", help_heading = "Overrides")]
    peers: Vec<SocketAddr>,
    /// Override the target block time.
    #[arg(long, help_heading = "Overrides")]
    block_time_ms: Option<u64>,
    /// Print the merged configuration (defaults < file < env < flags) and exit.
    #[arg(long)]
    print_config: bool,
    /// Also run the validator worker (score, commit-reveal scores, aggregate, propose/attest)
    /// signing with the `operator` key of this home.
    #[arg(long, help_heading = "Validator worker")]
    worker: bool,
    /// Data set whose held-out training samples the worker scores updates on.
    #[arg(long, default_value = "mnist", help_heading = "Validator worker")]
    worker_dataset: String,
    /// Directory of that data set's IDX files.
    #[arg(long, help_heading = "Validator worker")]
    worker_data_dir: Option<PathBuf>,
    /// How many training samples, taken from the end, form the scoring split when no
    /// `--worker-scoring-data` is given.
    #[arg(long, default_value_t = 5_000, help_heading = "Validator worker")]
    worker_holdout: usize,
    /// Directory holding this validator's private scoring set (`scoring-images-idx3-ubyte` and
    /// `scoring-labels-idx1-ubyte`, optionally gzipped). Without it the worker scores on public
    /// training samples that participants can fit (security review L10).
    #[arg(long, help_heading = "Validator worker")]
    worker_scoring_data: Option<PathBuf>,
    /// Password of the operator keystore.
    #[command(flatten, next_help_heading = "Validator worker")]
    password: crate::args::PasswordArgs,
}

/// Submits the double votes consensus observed (`Ledger::pending_evidence`) as
/// `StakingMsg::SubmitEvidence`, signed by the worker's operator key, until `stop`. Each pair is
/// sent once; the chain re-verifies it and slashes, jails and tombstones the offender.
async fn report_evidence(
    ledger: std::sync::Arc<chorus_node::ledger::Ledger>,
    sender: chorus_sdk::TxSender<chorus_sdk::NodeClient>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut sent: Vec<chorus_types::staking::DoubleSignEvidence> = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let pending = match ledger.pending_evidence() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "reading pending evidence");
                continue;
            }
        };
        let fresh: Vec<_> = pending.into_iter().filter(|e| !sent.contains(e)).collect();
        for evidence in fresh {
            let msg =
                chorus_types::Msg::Staking(chorus_types::staking::StakingMsg::SubmitEvidence {
                    evidence: evidence.clone(),
                });
            match sender.send(vec![msg]).await {
                Ok(hash) => {
                    tracing::warn!(tx = %hash, "submitted double-sign evidence");
                    sent.push(evidence);
                }
                Err(e) => tracing::warn!(error = %e, "submitting double-sign evidence"),
            }
        }
    }
}

/// The validator worker's data: its scoring split (private, or the last `holdout` training
/// samples) and the test set.
fn worker_data(
    args: &NodeArgs,
) -> eyre::Result<(chorus_trainer::Dataset, chorus_trainer::Dataset)> {
    let splits =
        chorus_trainer::load_dataset(&args.worker_dataset, args.worker_data_dir.as_deref())?;
    let (score, source) = crate::data::scoring_split(
        &splits,
        args.worker_scoring_data.as_deref(),
        args.worker_holdout,
    )?;
    match source {
        crate::data::ScoringSource::Private => {
            eprintln!("validator worker scores on a private set of {} samples", score.len());
        }
        crate::data::ScoringSource::PublicHoldout => eprintln!(
            "warning: the validator worker scores on the last {} public training samples, which \
             participants can fit; give --worker-scoring-data DIR among strangers",
            score.len()
        ),
    }
    Ok((score, splits.test))
}

pub(crate) fn run(args: NodeArgs) -> eyre::Result<()> {
    let home = Home(args.home.clone());
    let mut config = home.load_config()?;
    if let Some(a) = args.api_listen {
        config.api.listen = a;
    }
    if let Some(a) = args.p2p_listen {
        config.consensus.listen = a;
    }
    if !args.peers.is_empty() {
        config.consensus.peers = args.peers.clone();
    }
    if let Some(b) = args.block_time_ms {
        config.consensus.block_time_ms = b;
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let genesis = home.load_genesis()?;
    let genesis_chain_id = genesis.chain_id;
    let key = home.load_consensus_key()?;
    let worker = if args.worker {
        let op = home.read_account("operator", &args.password.read()?)?;
        Some((op, worker_data(&args)?))
    } else {
        None
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut node = chorus_node::service::start_node(
            &config,
            &genesis,
            &home.data(),
            key.to_bytes(),
            key.public_key(),
        )
        .await
        .wrap_err("starting the node")?;
        eprintln!(
            "chorus node `{}` running: API {} (store under /store), p2p {}",
            config.moniker,
            node.services.api_url(),
            config.consensus.listen
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut worker_task = None;
        if let Some((op, (score, test))) = worker {
            let client = std::sync::Arc::new(chorus_sdk::NodeClient::new(node.services.api_url()));
            let blobs = std::sync::Arc::new(chorus_sdk::blobs::Replicated::new(vec![
                client.store_endpoint(),
            ])?);
            eprintln!("validator worker running as {}", op.address());
            tokio::spawn(report_evidence(
                node.services.ledger.clone(),
                chorus_sdk::TxSender::new(client.clone(), op.clone(), 0)
                    .pinned(Some(genesis_chain_id)),
                stop_rx.clone(),
            ));
            worker_task = Some(crate::worker::spawn_worker(
                client,
                blobs,
                op,
                (std::sync::Arc::new(score), std::sync::Arc::new(test)),
                (home.data().join("worker.json"), genesis_chain_id),
                stop_rx,
            )?);
        }
        let failure = tokio::select! {
            signal = tokio::signal::ctrl_c() => {
                signal?;
                eprintln!("stopping…");
                None
            }
            e = node.consensus_stopped() => {
                eprintln!("consensus stopped: {e}; shutting down (a restart resumes from the last committed height)");
                Some(e)
            }
        };
        let _ = stop_tx.send(true);
        if let Some(t) = worker_task {
            let _ = t.await;
        }
        node.stop().await;
        match failure {
            None => Ok(()),
            Some(e) => Err(e).wrap_err("the node stopped"),
        }
    })
}
