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
    /// A state proof for an account's balance (or any raw key), verified against the state root
    /// of a block header that a light client verified from the genesis (every header from 1 up,
    /// each against its commit certificate and the validator set proven from state).
    Proof {
        /// The chain's genesis file: the only thing trusted.
        #[arg(long, env = "CHORUS_GENESIS")]
        genesis: std::path::PathBuf,
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
        QueryCmd::Proof { genesis, balance_of, key, height } => {
            let key = match (balance_of, key) {
                (Some(a), _) => chorus_chain::state_key::balance(&a),
                (None, Some(k)) => hex::decode(k.trim_start_matches("0x"))?,
                (None, None) => bail!("give --balance-of ADDRESS or --key HEX"),
            };
            let genesis: chorus_types::Genesis = serde_json::from_str(
                &std::fs::read_to_string(&genesis)
                    .map_err(|e| eyre!("reading {}: {e}", genesis.display()))?,
            )?;
            // The root to trust comes from a header verified from the genesis, not from the
            // proof nor from the node's word.
            let mut light =
                chorus_sdk::LightClient::new(chorus_sdk::NodeClient::new(n.clone()), &genesis)?;
            let height = match height {
                Some(h) => {
                    light.sync_to(h).await?;
                    h
                }
                None => light.sync_latest().await?,
            };
            let value = light.prove(&key, height).await?;
            let root = light.header(height).map(|h| h.state_root).unwrap_or_default();
            let decoded = value.as_deref().and_then(|v| {
                balance_of.and(borsh::from_slice::<u128>(v).ok()).map(|b| b.to_string())
            });
            let stats = light.stats();
            serde_json::json!({
                "height": height,
                "state_root": root,
                "block_hash": light.header(height).map(|h| h.hash()),
                "key": format!("0x{}", hex::encode(&key)),
                "value": match &value {
                    Some(v) => format!("0x{}", hex::encode(v)),
                    None => "absent".into(),
                },
                "balance": decoded,
                "verified": true,
                "verified_headers": stats.height,
                "validator_set_changes": stats.set_changes,
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
