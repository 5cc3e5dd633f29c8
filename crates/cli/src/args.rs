//! Clap argument groups shared by several commands, so that no command module has to import
//! another's flags: [`SignerArgs`] (node, key, fee; flattened into `chorus tx` and `chorus task`,
//! and read by the staking message builders of `chorus tx stake`).

use std::path::PathBuf;

use clap::Args;

/// Where the node is and who signs (accepted before or after the subcommand).
#[derive(Args, Debug, Clone)]
pub(crate) struct SignerArgs {
    /// Node home (for keys and, by default, the node address).
    #[arg(long, env = "CHORUS_HOME", default_value = ".chorus", global = true)]
    pub(crate) home: PathBuf,
    /// Node API URL.
    #[arg(long, env = "CHORUS_NODE", default_value = "http://127.0.0.1:26657", global = true)]
    pub(crate) node: String,
    /// Name of the signing key in HOME/keys.
    #[arg(long, default_value = "faucet", global = true)]
    pub(crate) from: String,
    /// Keystore password.
    #[arg(long, env = "CHORUS_PASSWORD", default_value = "", global = true)]
    pub(crate) password: String,
    /// Fee in base units [default: the node's minimum fee, `min_fee` of `/v1/status`].
    #[arg(long, global = true)]
    pub(crate) fee: Option<u128>,
    /// Do not wait for the transaction to be committed.
    #[arg(long, global = true)]
    pub(crate) no_wait: bool,
}
