//! Clap argument groups shared by several commands, so that no command module has to import
//! another's flags: [`SignerArgs`] (node, key, chain, fee; flattened into `chorus tx` and
//! `chorus task`, and read by the staking message builders of `chorus tx stake`) and
//! [`PasswordArgs`] (where a keystore password comes from).

use std::path::{Path, PathBuf};

use clap::Args;
use eyre::{WrapErr, bail};

/// Environment variable holding a keystore password (when no `--password-file` is given).
pub(crate) const PASSWORD_ENV: &str = "CHORUS_PASSWORD";

/// Where a keystore password comes from: the first line of `--password-file`, else the
/// `CHORUS_PASSWORD` environment variable, else empty. Never the command line, where every user
/// of the machine reads it in `ps` (security review L1).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct PasswordArgs {
    /// File whose first line is the keystore password [default: $CHORUS_PASSWORD, else empty].
    #[arg(long, env = "CHORUS_PASSWORD_FILE", global = true)]
    pub(crate) password_file: Option<PathBuf>,
}

impl PasswordArgs {
    /// The password, to decrypt an existing keystore (empty is allowed: devnet keystores).
    pub(crate) fn read(&self) -> eyre::Result<String> {
        match &self.password_file {
            Some(path) => password_from_file(path),
            None => Ok(std::env::var(PASSWORD_ENV).unwrap_or_default()),
        }
    }

    /// The password to encrypt a new keystore with: refused when empty unless
    /// `allow_empty` (`--insecure-empty-password`), because anyone with a copy of a keystore
    /// under an empty password holds the key.
    pub(crate) fn for_new_keystore(&self, allow_empty: bool) -> eyre::Result<String> {
        let password = self.read()?;
        if password.is_empty() && !allow_empty {
            bail!(
                "refusing to write a keystore with an empty password: give --password-file FILE \
                 or set {PASSWORD_ENV} (or pass --insecure-empty-password for a throwaway local \
                 network)"
            );
        }
        Ok(password)
    }
}

/// The first line of `path`, without its line ending.
fn password_from_file(path: &Path) -> eyre::Result<String> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("reading the password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default();
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

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
    #[command(flatten)]
    pub(crate) password: PasswordArgs,
    /// The chain id to sign for [default: the one in HOME/genesis.json]. The node's reported
    /// chain id must match it (security review L3: a node cannot make you sign for another
    /// chain).
    #[arg(long, env = "CHORUS_CHAIN_ID", global = true)]
    pub(crate) chain_id: Option<u64>,
    /// Fee in base units [default: the node's minimum fee, `min_fee` of `/v1/status`].
    #[arg(long, global = true)]
    pub(crate) fee: Option<u128>,
    /// Do not wait for the transaction to be committed.
    #[arg(long, global = true)]
    pub(crate) no_wait: bool,
}

impl SignerArgs {
    /// The chain id this signer is pinned to: `--chain-id`, else HOME's genesis.
    pub(crate) fn pinned_chain_id(&self) -> eyre::Result<u64> {
        if let Some(id) = self.chain_id {
            return Ok(id);
        }
        let home = crate::home::Home(self.home.clone());
        if home.genesis().is_file() {
            return Ok(home.load_genesis()?.chain_id);
        }
        bail!(
            "no chain id to sign for: pass --chain-id (or set CHORUS_CHAIN_ID), or use a --home \
             whose genesis.json names the chain"
        )
    }
}

/// Refuses a node whose chain id is not the one the caller pinned.
pub(crate) fn check_chain_id(pinned: u64, reported: u64, node: &str) -> eyre::Result<()> {
    if pinned != reported {
        bail!(
            "the node at {node} serves chain {reported}, but this command signs for chain \
             {pinned}: refusing to sign (check --node and --chain-id)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_gives_its_first_line_without_the_line_ending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret pass\r\nsecond line\n").unwrap();
        let args = PasswordArgs { password_file: Some(path) };
        assert_eq!(args.read().unwrap(), "s3cret pass");
        assert_eq!(args.for_new_keystore(false).unwrap(), "s3cret pass");
    }

    #[test]
    fn an_empty_password_is_refused_for_a_new_keystore_unless_explicitly_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").unwrap();
        let args = PasswordArgs { password_file: Some(path) };
        assert_eq!(args.read().unwrap(), "");
        let err = args.for_new_keystore(false).unwrap_err().to_string();
        assert!(err.contains("empty password"), "{err}");
        assert_eq!(args.for_new_keystore(true).unwrap(), "");
    }

    #[test]
    fn a_missing_password_file_is_an_error_naming_it() {
        let args = PasswordArgs { password_file: Some("/nonexistent/pw".into()) };
        assert!(args.read().unwrap_err().to_string().contains("/nonexistent/pw"));
    }

    #[test]
    fn a_node_on_another_chain_is_refused() {
        assert!(check_chain_id(7, 7, "n").is_ok());
        let err = check_chain_id(7, 8, "http://n").unwrap_err().to_string();
        assert!(err.contains("serves chain 8") && err.contains("chain 7"), "{err}");
    }
}
