//! `chorus store serve`: the blob store on its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Blob store commands.
#[derive(Args, Debug)]
pub(crate) struct StoreArgs {
    #[command(subcommand)]
    cmd: StoreCmd,
}

#[derive(Subcommand, Debug)]
enum StoreCmd {
    /// Serve a standalone blob store.
    Serve {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// Data directory (default: in memory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Largest blob in bytes.
        #[arg(long, default_value_t = 512 * 1024 * 1024)]
        max_blob_size: u64,
    },
}

pub(crate) fn run(args: StoreArgs) -> eyre::Result<()> {
    match args.cmd {
        StoreCmd::Serve { listen, data_dir, max_blob_size } => {
            let config = chorus_store::StoreConfig {
                listen,
                data_dir,
                max_blob_size,
                ..chorus_store::StoreConfig::default()
            };
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(chorus_store::serve(config))?;
            Ok(())
        }
    }
}
