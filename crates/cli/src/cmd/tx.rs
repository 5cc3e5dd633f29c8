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

/// The signing key (decrypted from `HOME/keys/<from>.json`) and the node's chain id.
pub(crate) async fn signing_key(signer: &SignerArgs) -> eyre::Result<(AccountKey, u64)> {
    let key = Home(signer.home.clone()).read_account(&signer.from, &signer.password)?;
    let status = http::get(&format!("{}/v1/status", signer.node)).await?;
    let chain_id =
        status["chain_id"].as_u64().ok_or_else(|| eyre!("node status has no chain_id"))?;
    Ok((key, chain_id))
}

/// Signs `msgs` with the configured key, submits, and (unless `--no-wait`) waits for the receipt.
pub(crate) async fn send(signer: &SignerArgs, msgs: Vec<Msg>) -> eyre::Result<serde_json::Value> {
    let (key, chain_id) = signing_key(signer).await?;
    send_signed(signer, &key, chain_id, msgs).await
}

/// [`send`] with a key and chain id already read by [`signing_key`].
pub(crate) async fn send_signed(
    signer: &SignerArgs,
    key: &AccountKey,
    chain_id: u64,
    msgs: Vec<Msg>,
) -> eyre::Result<serde_json::Value> {
    let acct = http::get(&format!("{}/v1/accounts/{}", signer.node, key.address())).await?;
    let nonce = acct["pending_nonce"].as_u64().ok_or_else(|| eyre!("account has no nonce"))?;
    let signed = chorus_crypto::sign_tx(key, Tx { chain_id, nonce, fee: signer.fee, msgs });
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
                let (key, chain_id) = signing_key(&args.signer).await?;
                let msgs = stake_msgs(&args.signer, cmd, key.address(), chain_id).await?;
                return send_signed(&args.signer, &key, chain_id, msgs).await;
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
