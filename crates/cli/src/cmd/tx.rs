//! `chorus tx`: sign a transaction with a keystore key and submit it.

use std::path::PathBuf;
use std::time::Duration;

use chorus_types::{Address, BankMsg, Msg, Tx};
use clap::{Args, Subcommand};
use eyre::{bail, eyre};

use crate::home::Home;
use crate::http;

/// Where the node is and who signs.
#[derive(Args, Debug, Clone)]
pub(crate) struct SignerArgs {
    /// Node home (for keys and, by default, the node address).
    #[arg(long, env = "CHORUS_HOME", default_value = ".chorus")]
    pub(crate) home: PathBuf,
    /// Node API URL.
    #[arg(long, env = "CHORUS_NODE", default_value = "http://127.0.0.1:26657")]
    pub(crate) node: String,
    /// Name of the signing key in HOME/keys.
    #[arg(long, default_value = "faucet")]
    pub(crate) from: String,
    /// Keystore password.
    #[arg(long, env = "CHORUS_PASSWORD", default_value = "")]
    pub(crate) password: String,
    /// Fee in base units.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) fee: u128,
    /// Do not wait for the transaction to be committed.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

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
}

/// Signs `msgs` with the configured key, submits, and (unless `--no-wait`) waits for the receipt.
pub(crate) async fn send(signer: &SignerArgs, msgs: Vec<Msg>) -> eyre::Result<serde_json::Value> {
    let key = Home(signer.home.clone()).read_account(&signer.from, &signer.password)?;
    let status = http::get(&format!("{}/v1/status", signer.node)).await?;
    let chain_id =
        status["chain_id"].as_u64().ok_or_else(|| eyre!("node status has no chain_id"))?;
    let acct = http::get(&format!("{}/v1/accounts/{}", signer.node, key.address())).await?;
    let nonce = acct["pending_nonce"].as_u64().ok_or_else(|| eyre!("account has no nonce"))?;
    let signed = chorus_crypto::sign_tx(&key, Tx { chain_id, nonce, fee: signer.fee, msgs });
    let (code, body) = http::request(
        "POST",
        &format!("{}/v1/txs", signer.node),
        Some((signed.encode(), "application/octet-stream")),
    )
    .await?;
    if code != 200 {
        bail!("rejected ({code}): {}", body["error"].as_str().unwrap_or("?"));
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
    let msgs = match args.cmd {
        TxCmd::Transfer { to, amount } => vec![Msg::Bank(BankMsg::Transfer { to, amount })],
    };
    let out = rt.block_on(send(&args.signer, msgs))?;
    if let Some(err) = out["receipt"]["result"].get("Err") {
        println!("{}", serde_json::to_string_pretty(&out)?);
        bail!("transaction failed: {}", err["message"].as_str().unwrap_or("?"));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
