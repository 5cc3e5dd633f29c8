//! `chorus node`: run a validator node from its home directory.

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
    let key = home.load_consensus_key()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let node = chorus_node::service::start_node(
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
        tokio::signal::ctrl_c().await?;
        eprintln!("stopping…");
        node.stop().await;
        Ok(())
    })
}
