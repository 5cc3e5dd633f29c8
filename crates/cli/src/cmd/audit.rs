//! `chorus audit TASK`: replay a training task from the ledger and the blob store alone
//! (`chorus_sdk::audit`): every commitment against its reveal, every update blob against its
//! id, every accepted set, every aggregate recomputed in fixed point, every reward split.
//!
//! Against a running node (`--rpc URL`), or offline from a node home (`--home DIR`): the node's
//! database and blob store are opened read-only behind a private API on a loopback port, so the
//! audit reads through exactly the same verified client paths either way.
//!
//! Either way the node is not trusted: a light client (`chorus_sdk::light`) starting from the
//! genesis (`--genesis FILE`, or the home's `genesis.json`) verifies every header up to the
//! audited height against its commit certificate and the validator set proven from state, and
//! every learning record is read with a state proof against the verified state root. A forged
//! header or record fails the audit naming it.

use std::path::{Path, PathBuf};

use chorus_sdk::{LedgerSource, LightClient, NodeClient, VerifiedLedger};
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
    /// The genesis file of the chain (required with `--rpc`; with `--home`, the home's
    /// `genesis.json`): the only thing the audit trusts.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Audit the state at this height (default: the node's latest; it is verified either way).
    #[arg(long)]
    height: Option<u64>,
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

fn load_genesis(path: &Path) -> eyre::Result<chorus_types::Genesis> {
    let text =
        std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).wrap_err_with(|| format!("parsing {}", path.display()))
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
        let mut genesis = match &args.genesis {
            Some(p) => Some(load_genesis(p)?),
            None => None,
        };
        let url = match &args.rpc {
            Some(u) => u.clone(),
            None => {
                let home = node_home(&args.home)?;
                if genesis.is_none() {
                    genesis = Some(home.load_genesis()?);
                }
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
        let genesis = genesis.ok_or_else(|| {
            eyre!("--rpc needs --genesis FILE: the audit trusts the genesis and nothing the node says")
        })?;
        let client = NodeClient::new(url.clone());
        let blobs = chorus_sdk::blobs::Replicated::new(vec![client.store_endpoint()])?;
        let light = LightClient::new(client, &genesis)?;
        let ledger = VerifiedLedger::open(light, args.height)
            .await
            .map_err(|e| eyre!("verifying the chain at {url}: {e}"))?;
        let stats = ledger.light().stats();
        if !args.json {
            println!(
                "verified {} headers from genesis {} (validator-set changes at {:?}); reading state at height {} (root {})",
                stats.height,
                ledger.light().genesis_hash(),
                stats.set_changes,
                ledger.verified_height(),
                ledger.state_root()
            );
        }
        let tasks: Vec<TaskId> = match args.task {
            Some(t) => vec![t],
            None => LedgerSource::tasks(&ledger)
                .await
                .map_err(|e| eyre!("reading the tasks: {e}"))?
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
                chorus_sdk::audit::run_with_key(&ledger, &blobs, t, seal_key.as_ref())
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
