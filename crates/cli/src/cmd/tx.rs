//! `chorus tx`: sign a transaction with a keystore key and submit it (transfers here, staking
//! and governance messages built in [`crate::cmd::staking`]).

use std::time::Duration;

use chorus_crypto::AccountKey;
use chorus_types::{Address, BankMsg, Msg, Tx};
use clap::{Args, Subcommand};
use eyre::{bail, eyre};

use crate::args::SignerArgs;
use crate::cmd::staking::{GovCmd, StakeCmd, gov_msgs, stake_msgs};
use crate::home::Home;
use crate::http;

/// Submit transactions.
#[derive(Args, Debug)]
pub(crate) struct TxArgs {
    #[command(flatten)]
    signer: SignerArgs,
    #[command(subcommand)]
    cmd: TxCmd,
}

#[derive(Subcommand, Debug)]
enum TxCmd {
    /// Transfer tokens.
    Transfer {
        /// Recipient address.
        #[arg(long)]
        to: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: u128,
    },
    /// Staking: create or edit a validator, delegate, undelegate, redelegate, withdraw rewards
    /// or commission, unjail, submit double-sign evidence.
    #[command(subcommand)]
    Stake(StakeCmd),
    /// Governance: propose parameter changes, deposit, vote.
    #[command(subcommand)]
    Gov(GovCmd),
}

/// What the node reports about the chain (`GET /v1/status`): what to sign for and the least fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainInfo {
    /// Chain id (signed into every transaction).
    pub(crate) chain_id: u64,
    /// `bank.min_fee` now.
    pub(crate) min_fee: u128,
}

impl ChainInfo {
    /// Reads the fields from a `/v1/status` reply. A node that does not report `min_fee` is
    /// assumed to use the default ([`chorus_types::DEFAULT_MIN_FEE`]).
    pub(crate) fn from_status(status: &serde_json::Value) -> eyre::Result<ChainInfo> {
        let chain_id =
            status["chain_id"].as_u64().ok_or_else(|| eyre!("node status has no chain_id"))?;
        let min_fee = match status.get("min_fee") {
            None | Some(serde_json::Value::Null) => chorus_types::DEFAULT_MIN_FEE,
            Some(v) => v
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| eyre!("node status has a malformed min_fee: {v}"))?,
        };
        Ok(ChainInfo { chain_id, min_fee })
    }

    /// The fee to sign with: `--fee` if given (the node refuses it below `min_fee`), else the
    /// chain's minimum.
    pub(crate) fn fee(&self, signer: &SignerArgs) -> u128 {
        signer.fee.unwrap_or(self.min_fee)
    }
}

/// The signing key (decrypted from `HOME/keys/<from>.json`) and what the node reports about the
/// chain (id, minimum fee); fails when that chain is not the one the signer is pinned to
/// ([`SignerArgs::pinned_chain_id`]).
pub(crate) async fn signing_key(signer: &SignerArgs) -> eyre::Result<(AccountKey, ChainInfo)> {
    let pinned = signer.pinned_chain_id()?;
    let key = Home(signer.home.clone()).read_account(&signer.from, &signer.password.read()?)?;
    let status = http::get(&format!("{}/v1/status", signer.node)).await?;
    let chain = ChainInfo::from_status(&status)?;
    crate::args::check_chain_id(pinned, chain.chain_id, &signer.node)?;
    Ok((key, chain))
}

/// Signs `msgs` with the configured key, submits, and (unless `--no-wait`) waits for the receipt.
pub(crate) async fn send(signer: &SignerArgs, msgs: Vec<Msg>) -> eyre::Result<serde_json::Value> {
    let (key, chain) = signing_key(signer).await?;
    send_signed(signer, &key, chain, msgs).await
}

/// [`send`] with a key and chain info already read by [`signing_key`].
pub(crate) async fn send_signed(
    signer: &SignerArgs,
    key: &AccountKey,
    chain: ChainInfo,
    msgs: Vec<Msg>,
) -> eyre::Result<serde_json::Value> {
    let acct = http::get(&format!("{}/v1/accounts/{}", signer.node, key.address())).await?;
    let nonce = acct["pending_nonce"].as_u64().ok_or_else(|| eyre!("account has no nonce"))?;
    let tx = Tx { chain_id: chain.chain_id, nonce, fee: chain.fee(signer), msgs };
    let signed = chorus_crypto::sign_tx(key, tx);
    let (code, body) = http::request(
        "POST",
        &format!("{}/v1/txs", signer.node),
        Some((signed.encode(), "application/octet-stream")),
    )
    .await?;
    if code != 200 {
        bail!(
            "rejected by the node (HTTP {code}, code {}): {}",
            body["code"],
            body["error"].as_str().unwrap_or("?")
        );
    }
    let hash = body["hash"].as_str().unwrap_or_default().to_string();
    if signer.no_wait {
        return Ok(body);
    }
    for _ in 0..600 {
        let (code, st) =
            http::request("GET", &format!("{}/v1/txs/{hash}", signer.node), None).await?;
        if code == 200 && st["status"] == "committed" {
            return Ok(st);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("transaction {hash} not committed after 60 s")
}

pub(crate) fn run(args: TxArgs) -> eyre::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let out = rt.block_on(async {
        let msgs = match args.cmd {
            TxCmd::Transfer { to, amount } => vec![Msg::Bank(BankMsg::Transfer { to, amount })],
            TxCmd::Gov(cmd) => gov_msgs(cmd)?,
            TxCmd::Stake(cmd) => {
                // Staking messages may need the signer's address and the chain id (proof of
                // possession), so the key is read first.
                let (key, chain) = signing_key(&args.signer).await?;
                let msgs = stake_msgs(&args.signer, cmd, key.address(), chain.chain_id).await?;
                return send_signed(&args.signer, &key, chain, msgs).await;
            }
        };
        send(&args.signer, msgs).await
    })?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    if let Some(err) = out["receipt"]["result"].get("Err") {
        bail!(
            "transaction failed (code {}): {}",
            err["code"],
            err["message"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(fee: Option<u128>) -> SignerArgs {
        SignerArgs {
            home: ".chorus".into(),
            node: "http://127.0.0.1:1".into(),
            from: "faucet".into(),
            password: crate::args::PasswordArgs::default(),
            chain_id: Some(7),
            fee,
            no_wait: true,
        }
    }

    #[test]
    fn the_fee_defaults_to_the_minimum_the_node_reports_and_fee_overrides_it() {
        let st = serde_json::json!({"chain_id": 7, "height": 3, "min_fee": "2500"});
        let c = ChainInfo::from_status(&st).unwrap();
        assert_eq!(c, ChainInfo { chain_id: 7, min_fee: 2_500 });
        assert_eq!(c.fee(&signer(None)), 2_500);
        assert_eq!(c.fee(&signer(Some(9_000))), 9_000);
        // A node that predates `min_fee`: the default minimum.
        let old = ChainInfo::from_status(&serde_json::json!({"chain_id": 7})).unwrap();
        assert_eq!(old.min_fee, chorus_types::DEFAULT_MIN_FEE);
        assert!(ChainInfo::from_status(&serde_json::json!({"chain_id": 7, "min_fee": 5})).is_err());
        assert!(ChainInfo::from_status(&serde_json::json!({"min_fee": "5"})).is_err());
    }
}
