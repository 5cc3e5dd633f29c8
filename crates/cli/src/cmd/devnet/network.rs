//! The devnet's validators. One validator runs in this process (`chorus_node::service`); several
//! run as `chorus node --worker` child processes, one per node home, each with its own validator
//! worker and its API on `--port` + 10·i. Starting them waits until every node has produced a
//! block and returns a client per node and one replicated blob store over all of them; stopping
//! them interrupts the processes so each closes its database cleanly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_sdk::NodeClient;
use chorus_sdk::blobs::Replicated;
use eyre::{WrapErr, bail};

use super::supervise::stop_child;
use super::{Console, SCORE_HOLDOUT, Settings};
use crate::home::Home;

/// The running validator(s): in process, or child processes.
pub(super) enum Network {
    InProcess(Box<chorus_node::service::RunningNode>),
    Processes(Vec<tokio::process::Child>),
}

impl Network {
    pub(super) async fn stop(self) {
        match self {
            Network::InProcess(n) => n.stop().await,
            Network::Processes(children) => {
                for mut c in children {
                    stop_child(&mut c).await;
                }
            }
        }
    }
}

/// The started validators and how to reach them.
pub(super) struct Validators {
    pub(super) network: Network,
    /// The nodes' API URLs, validator `i` at index `i`.
    pub(super) urls: Vec<String>,
    /// A client per node, in the same order.
    pub(super) clients: Vec<Arc<NodeClient>>,
    /// The blob store replicated over every node.
    pub(super) blobs: Arc<Replicated>,
}

/// Starts the validators of `homes` and waits until each has produced a block.
pub(super) async fn start_validators(
    homes: &[Home],
    s: &Settings,
    ui: &Console,
) -> eyre::Result<Validators> {
    let (network, urls) = start_network(homes, s).await?;
    let clients: Vec<Arc<NodeClient>> = urls.iter().map(|u| Arc::new(NodeClient::new(u))).collect();
    for c in &clients {
        wait_ready(c, Duration::from_secs(60)).await?;
    }
    let store_endpoints: Vec<String> = clients.iter().map(|c| c.store_endpoint()).collect();
    let blobs = Arc::new(Replicated::new(store_endpoints)?);
    ui.say(format!(
        "{} validator(s) up: {} (block time {} ms)",
        s.validators,
        urls.join(", "),
        s.block_time_ms
    ));
    Ok(Validators { network, urls, clients, blobs })
}

async fn start_network(
    homes: &[Home],
    settings: &Settings,
) -> eyre::Result<(Network, Vec<String>)> {
    if homes.len() == 1 {
        let home = &homes[0];
        let config = home.load_config()?;
        let genesis = home.load_genesis()?;
        let key = home.load_consensus_key()?;
        let node = chorus_node::service::start_node(
            &config,
            &genesis,
            &home.data(),
            key.to_bytes(),
            key.public_key(),
        )
        .await
        .wrap_err("starting the validator")?;
        let url = node.services.api_url();
        return Ok((Network::InProcess(Box::new(node)), vec![url]));
    }
    let exe = std::env::current_exe().wrap_err("locating the chorus binary")?;
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for (i, home) in homes.iter().enumerate() {
        let log = std::fs::File::create(home.0.join("node.log"))?;
        let mut cmd = tokio::process::Command::new(&exe);
        // Each validator process runs its own worker (`chorus node --worker`).
        cmd.arg("node")
            .arg("--home")
            .arg(&home.0)
            .arg("--worker")
            .args(["--worker-dataset", &settings.dataset])
            .args(["--worker-holdout", &SCORE_HOLDOUT.to_string()])
            .env("CHORUS_PASSWORD", "")
            .env_remove("CHORUS_PASSWORD_FILE");
        if let Some(d) = &settings.data_dir {
            cmd.arg("--worker-data-dir").arg(d);
        }
        let child = cmd
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .wrap_err("spawning a validator process")?;
        children.push(child);
        urls.push(format!("http://127.0.0.1:{}", settings.port + 10 * i as u16));
    }
    Ok((Network::Processes(children), urls))
}

async fn wait_ready(client: &NodeClient, deadline: Duration) -> eyre::Result<()> {
    let end = Instant::now() + deadline;
    loop {
        match client.status().await {
            Ok(s) if s.height >= 1 => return Ok(()),
            _ if Instant::now() > end => bail!("the node at {client:?} did not produce a block"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
