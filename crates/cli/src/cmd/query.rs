//! `chorus query`: read accounts, blocks, transactions, verified state proofs, staking
//! (validators, delegations, rewards, governance proposals) and the learning records (tasks,
//! rounds, model versions, registrations).

use chorus_types::Address;
use clap::{Args, Subcommand};
use eyre::{bail, eyre};

use crate::http;

/// Query a node.
#[derive(Args, Debug)]
pub(crate) struct QueryArgs {
    /// Node API URL.
    #[arg(long, env = "CHORUS_NODE", default_value = "http://127.0.0.1:26657", global = true)]
    node: String,
    #[command(subcommand)]
    cmd: QueryCmd,
}

#[derive(Subcommand, Debug)]
enum QueryCmd {
    /// Balance and nonce of an account.
    Account {
        /// Address.
        address: Address,
    },
    /// A block by height (default: latest).
    Block {
        /// Height.
        height: Option<u64>,
    },
    /// A transaction's status and receipt.
    Tx {
        /// Transaction hash.
        hash: String,
    },
    /// A state proof for an account's balance (or any raw key), verified against the block
    /// header's state root.
    Proof {
        /// Account whose balance key to prove.
        #[arg(long, conflicts_with = "key")]
        balance_of: Option<Address>,
        /// Raw state key, hex.
        #[arg(long)]
        key: Option<String>,
        /// Height (default: latest).
        #[arg(long)]
        height: Option<u64>,
    },
    /// Node status.
    Status,
    /// Every staking validator: status, jail, tokens, shares, commission, description and
    /// consensus power (0 outside the active set); `--active`: only the consensus set.
    Validators {
        /// Only the active consensus set (operator, consensus key, power) used for the next
        /// height.
        #[arg(long)]
        active: bool,
    },
    /// One staking validator with its liveness record, outstanding rewards and commission.
    Validator {
        /// Operator address.
        address: Address,
    },
    /// An account's delegations, unbonding entries and redelegations.
    Delegations {
        /// Delegator address.
        address: Address,
    },
    /// An account's pending delegation rewards, per validator and in total.
    Rewards {
        /// Delegator address.
        address: Address,
    },
    /// Every governance proposal, or one (with the running tally while voting).
    Proposals {
        /// Proposal id (default: all).
        id: Option<u64>,
    },
    /// Every training task, or one (spec, status, escrow, current model).
    Task {
        /// Task id (default: all).
        id: Option<u64>,
    },
    /// One round of a task: selection, commits, reveals, scores, outcome.
    Round {
        /// Task id.
        task: u64,
        /// Round number.
        round: u32,
    },
    /// A task's model versions (version → model id, round, accepted set, scores).
    Model {
        /// Task id.
        task: u64,
    },
    /// Registered participants and workers.
    Participants,
}

pub(crate) fn run(args: QueryArgs) -> eyre::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(query(args))
}

async fn query(args: QueryArgs) -> eyre::Result<()> {
    let n = &args.node;
    let out = match args.cmd {
        QueryCmd::Account { address } => http::get(&format!("{n}/v1/accounts/{address}")).await?,
        QueryCmd::Block { height } => match height {
            Some(h) => http::get(&format!("{n}/v1/blocks/{h}")).await?,
            None => http::get(&format!("{n}/v1/blocks/latest")).await?,
        },
        QueryCmd::Tx { hash } => http::get(&format!("{n}/v1/txs/{hash}")).await?,
        QueryCmd::Status => http::get(&format!("{n}/v1/status")).await?,
        QueryCmd::Validators { active: true } => http::get(&format!("{n}/v1/validators")).await?,
        QueryCmd::Validators { active: false } => {
            http::get(&format!("{n}/v1/staking/validators")).await?
        }
        QueryCmd::Validator { address } => {
            http::get(&format!("{n}/v1/staking/validators/{address}")).await?
        }
        QueryCmd::Delegations { address } => {
            http::get(&format!("{n}/v1/delegator/{address}/delegations")).await?
        }
        QueryCmd::Rewards { address } => {
            http::get(&format!("{n}/v1/delegator/{address}/rewards")).await?
        }
        QueryCmd::Proposals { id: Some(id) } => {
            http::get(&format!("{n}/v1/gov/proposals/{id}")).await?
        }
        QueryCmd::Proposals { id: None } => http::get(&format!("{n}/v1/gov/proposals")).await?,
        QueryCmd::Task { id: Some(id) } => {
            http::get(&format!("{n}/v1/learning/tasks/{id}")).await?
        }
        QueryCmd::Task { id: None } => http::get(&format!("{n}/v1/learning/tasks")).await?,
        QueryCmd::Round { task, round } => {
            http::get(&format!("{n}/v1/learning/tasks/{task}/rounds/{round}")).await?
        }
        QueryCmd::Model { task } => {
            http::get(&format!("{n}/v1/learning/tasks/{task}/versions")).await?
        }
        QueryCmd::Participants => http::get(&format!("{n}/v1/registry/participants")).await?,
        QueryCmd::Proof { balance_of, key, height } => {
            let key = match (balance_of, key) {
                (Some(a), _) => chorus_chain::state_key::balance(&a),
                (None, Some(k)) => hex::decode(k.trim_start_matches("0x"))?,
                (None, None) => bail!("give --balance-of ADDRESS or --key HEX"),
            };
            let height = match height {
                Some(h) => h,
                None => http::get(&format!("{n}/v1/status")).await?["height"]
                    .as_u64()
                    .ok_or_else(|| eyre!("status has no height"))?,
            };
            let proof = http::get(&format!(
                "{n}/v1/state/proof?key=0x{}&height={height}",
                hex::encode(&key)
            ))
            .await?;
            let proof: chorus_db::StateProof = serde_json::from_value(proof)?;
            // The root to trust comes from the block header, not from the proof.
            let block = http::get(&format!("{n}/v1/blocks/{height}")).await?;
            let root: chorus_types::Hash =
                serde_json::from_value(block["header"]["state_root"].clone())?;
            chorus_db::verify_proof(&proof, &root.0)
                .map_err(|e| eyre!("proof does NOT verify: {e}"))?;
            let value = match &proof.value {
                Some(v) => format!("0x{}", hex::encode(v)),
                None => "absent".into(),
            };
            let decoded = proof.value.as_deref().and_then(|v| {
                balance_of.and(borsh::from_slice::<u128>(v).ok()).map(|b| b.to_string())
            });
            serde_json::json!({
                "height": height,
                "state_root": root,
                "key": format!("0x{}", hex::encode(&key)),
                "value": value,
                "balance": decoded,
                "verified": true,
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
