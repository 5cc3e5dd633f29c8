//! `chorus audit TASK`: replay a training task from the ledger and the blob store alone
//! (`chorus_sdk::audit`): every commitment against its reveal, every update blob against its
//! id, every accepted set, every aggregate recomputed in fixed point, every reward split.
//!
//! Against a running node (`--rpc URL`), or offline from a node home (`--home DIR`): the node's
//! database and blob store are opened read-only behind a private API on a loopback port, so the
//! audit reads through exactly the same verified client paths either way.

use std::path::PathBuf;
use std::sync::Arc;

use chorus_sdk::NodeClient;
use chorus_types::learning::TaskId;
use clap::Args;
use eyre::{WrapErr, bail, eyre};

use crate::home::Home;

/// Replay a task and check every hash, aggregate and reward.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// Task id (default: every task on the chain).
    task: Option<TaskId>,
    /// Audit through a running node's API.
    #[arg(long, conflicts_with = "home")]
    rpc: Option<String>,
    /// Audit a stopped node from its home (a devnet home works too).
    #[arg(long, default_value = ".chorus/devnet")]
    home: PathBuf,
    /// X25519 secret (hex) of a committee member, to open updates of tasks sealed to the
    /// committee (without it their aggregates cannot be recomputed).
    #[arg(long, env = "CHORUS_SEAL_KEY", hide_env_values = true)]
    seal_key: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

/// The node home inside `dir`: itself, or `node0` of a multi-validator devnet.
fn node_home(dir: &std::path::Path) -> eyre::Result<Home> {
    if dir.join("genesis.json").exists() {
        return Ok(Home(dir.to_path_buf()));
    }
    if dir.join("node0").join("genesis.json").exists() {
        return Ok(Home(dir.join("node0")));
    }
    bail!("{} holds no node (no genesis.json); pass --home or --rpc", dir.display())
}

pub(crate) fn run(args: AuditArgs) -> eyre::Result<()> {
    let seal_key = match &args.seal_key {
        Some(h) => {
            let mut b = [0u8; 32];
            hex::decode_to_slice(h.trim_start_matches("0x"), &mut b)
                .map_err(|e| eyre!("--seal-key must be 32 bytes of hex: {e}"))?;
            Some(chorus_store::SealSecretKey(b))
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let mut services = None;
        let url = match &args.rpc {
            Some(u) => u.clone(),
            None => {
                let home = node_home(&args.home)?;
                let mut config = home.load_config()?;
                config.api.listen = "127.0.0.1:0".parse()?;
                let genesis = home.load_genesis()?;
                let key = home.load_consensus_key()?;
                let (svc, tasks) = chorus_node::service::start_services(
                    &config,
                    &genesis,
                    &home.data(),
                    key.public_key(),
                )
                .await
                .wrap_err_with(|| {
                    format!(
                        "opening {} (is its node still running? then use --rpc)",
                        home.0.display()
                    )
                })?;
                let url = svc.api_url();
                services = Some((svc, tasks));
                url
            }
        };
        let client = Arc::new(NodeClient::new(url.clone()));
        let blobs = chorus_sdk::blobs::Replicated::new(vec![client.store_endpoint()])?;
        let tasks: Vec<TaskId> = match args.task {
            Some(t) => vec![t],
            None => chorus_sdk::LedgerSource::tasks(client.as_ref())
                .await?
                .into_iter()
                .map(|t| t.id)
                .collect(),
        };
        if tasks.is_empty() {
            bail!("no tasks on the chain at {url}");
        }
        let mut failed = Vec::new();
        let mut reports = Vec::new();
        for t in tasks {
            let rep =
                chorus_sdk::audit::run_with_key(client.as_ref(), &blobs, t, seal_key.as_ref())
                    .await
                    .map_err(|e| eyre!("auditing task {t}: {e}"))?;
            if !args.json {
                println!("{rep}");
            }
            if rep.discrepancy.is_some() {
                failed.push(t);
            }
            reports.push(rep);
        }
        if args.json {
            println!("{}", serde_json::to_string(&reports)?);
        }
        if let Some((svc, tasks)) = services {
            svc.shutdown();
            for t in tasks {
                let _ = t.await;
            }
        }
        if !failed.is_empty() {
            bail!("audit failed for task(s) {failed:?}");
        }
        Ok(())
    })
}
